"""``serve``: run the embedded default servers, or a model folder, until Ctrl-C or SIGTERM.

Servers are started through the public API of :mod:`vllm_accel.server` and always stopped on
the way out: Ctrl-C, SIGTERM, SIGHUP, a server that dies, or an error while starting.
"""

from __future__ import annotations

import ipaddress
import signal
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from ._common import EXIT_FAILED, EXIT_USAGE, AsJson, CLIError, err, mask_url, out, print_json
from ._progress import Steps

if TYPE_CHECKING:
    from ..server import VLLMServer

__all__ = ["check_exposure", "parse_lora", "serve"]

_SERVER = "Server"
_MODEL = "Model folder (--model)"


def parse_lora(value: str) -> tuple[str, Path]:
    """``NAME=PATH`` -> ``(NAME, absolute PATH)``."""
    name, sep, path = value.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise typer.BadParameter(f"expected NAME=PATH, got {value!r}")
    folder = Path(path.strip()).expanduser()
    if not folder.is_dir():
        raise typer.BadParameter(f"adapter folder {str(folder)!r} does not exist")
    return name.strip(), folder.resolve()


_Model = Annotated[Path | None, typer.Option(
    "--model", "-m", show_default=False, file_okay=False, rich_help_panel=_MODEL,
    help="Serve this model folder instead of the embedded defaults.")]
_Name = Annotated[str | None, typer.Option(
    "--name", show_default=False, rich_help_panel=_MODEL,
    help="Served model name. [default: the folder name]")]
_Runner = Annotated[str, typer.Option(
    "--runner", rich_help_panel=_MODEL,
    help="generate (chat, completions) or pooling (embeddings).")]
_Embeddings = Annotated[bool, typer.Option(
    "--embeddings/--no-embeddings", rich_help_panel=_SERVER,
    help="Also start the default embedding server (MiniLM).")]
_Host = Annotated[str, typer.Option("--host", rich_help_panel=_SERVER)]
_Port = Annotated[int | None, typer.Option(
    "--port", "-p", min=1, max=65535, show_default=False, rich_help_panel=_SERVER,
    help="Port of the chat (or --model) server. [default: a free one]")]
_EmbeddingsPort = Annotated[int | None, typer.Option(
    "--embeddings-port", min=1, max=65535, show_default=False, rich_help_panel=_SERVER,
    help="Port of the embedding server. [default: a free one]")]
_ApiKey = Annotated[str | None, typer.Option(
    "--api-key", envvar="VLLM_API_KEY", show_default=False, rich_help_panel=_SERVER,
    help="Require this API key from clients (never printed).")]
_Lora = Annotated[list[str] | None, typer.Option(
    "--lora", show_default=False, rich_help_panel="LoRA and tools",
    help="Serve the adapter in folder PATH as NAME (NAME=PATH, repeatable).")]
_EnableLora = Annotated[bool | None, typer.Option(
    "--enable-lora/--no-lora", show_default=False, rich_help_panel="LoRA and tools",
    help="Allow LoRA adapters (also loaded at runtime). [default: on for the embedded "
         "server and with --lora]")]
_MaxLoraRank = Annotated[int, typer.Option(
    "--max-lora-rank", min=1, rich_help_panel="LoRA and tools")]
_MaxLoras = Annotated[int, typer.Option(
    "--max-loras", min=1, rich_help_panel="LoRA and tools",
    help="Adapters usable in one batch.")]
_ToolCallParser = Annotated[str | None, typer.Option(
    "--tool-call-parser", show_default=False, rich_help_panel="LoRA and tools",
    help="Enable tool calling with this vLLM parser. [default: hermes for the embedded "
         "server]")]
_ChatTemplate = Annotated[Path | None, typer.Option(
    "--chat-template", exists=True, dir_okay=False, show_default=False,
    rich_help_panel="LoRA and tools", help="Jinja chat template file.")]
_MaxModelLen = Annotated[int | None, typer.Option(
    "--max-model-len", min=16, show_default=False, rich_help_panel=_MODEL,
    help="Context length. [default: 2048]")]
_Dtype = Annotated[str | None, typer.Option(
    "--dtype", show_default=False, rich_help_panel=_MODEL,
    help="Weights dtype. [default: bfloat16 on CPUs with native bf16 "
         "(AVX512-BF16, AMX), else float32]")]
_Quantization = Annotated[str | None, typer.Option(
    "--quantization", "-q", show_default=False, rich_help_panel=_MODEL)]
_KvCacheGib = Annotated[int, typer.Option(
    "--kv-cache-gib", min=1, rich_help_panel=_SERVER, help="KV cache size, GiB.")]
_VllmArgs = Annotated[list[str] | None, typer.Option(
    "--vllm-arg", show_default=False, rich_help_panel=_SERVER,
    help="Extra argument for vLLM (repeatable), e.g. --vllm-arg=--enforce-eager.")]
_StartTimeout = Annotated[float, typer.Option(
    "--start-timeout", min=1.0, rich_help_panel=_SERVER,
    help="Seconds to wait for a server to become healthy.")]
_AllowInsecure = Annotated[bool, typer.Option(
    "--allow-insecure", rich_help_panel=_SERVER,
    help="Serve on a non-loopback --host without --api-key (anyone who reaches the port can "
         "use the model and load LoRA adapters from any server path).")]


def serve(
    model: _Model = None,
    name: _Name = None,
    runner: _Runner = "generate",
    embeddings: _Embeddings = True,
    host: _Host = "127.0.0.1",
    port: _Port = None,
    embeddings_port: _EmbeddingsPort = None,
    api_key: _ApiKey = None,
    lora: _Lora = None,
    enable_lora: _EnableLora = None,
    max_lora_rank: _MaxLoraRank = 16,
    max_loras: _MaxLoras = 2,
    tool_call_parser: _ToolCallParser = None,
    chat_template: _ChatTemplate = None,
    max_model_len: _MaxModelLen = None,
    dtype: _Dtype = None,
    quantization: _Quantization = None,
    kv_cache_gib: _KvCacheGib = 1,
    vllm_args: _VllmArgs = None,
    start_timeout: _StartTimeout = 300.0,
    allow_insecure: _AllowInsecure = False,
    as_json: AsJson = False,
) -> None:
    """Run vLLM servers until Ctrl-C: the embedded defaults, or --model FOLDER.

    The defaults are SmolLM2-135M-Instruct as `smollm2` (LoRA on, the `pirate` and `tools`
    adapters loaded, hermes tool calling) and all-MiniLM-L6-v2 as `minilm` for embeddings. Once
    they are healthy their URLs are printed (with --json: one JSON line). Ctrl-C or SIGTERM stops
    every server process. A non-loopback --host needs --api-key (or --allow-insecure).
    """
    if runner not in ("generate", "pooling"):
        raise CLIError(f"unknown runner {runner!r}", "use --runner generate or pooling",
                       EXIT_USAGE)
    check_exposure(host, api_key, allow_insecure)
    adapters = tuple(parse_lora(v) for v in lora or ())
    overrides: dict[str, Any] = {
        "host": host, "port": port, "api_key": api_key, "kv_cache_gib": kv_cache_gib,
        "max_lora_rank": max_lora_rank, "max_loras": max_loras,
        "extra_args": tuple(vllm_args or ()), **_given(
            max_model_len=max_model_len, dtype=dtype, quantization=quantization,
            chat_template=chat_template, tool_call_parser=tool_call_parser)}
    if model is None:
        _run(lambda: _default_servers(overrides, adapters, enable_lora, embeddings,
                                      embeddings_port, start_timeout), as_json)
    else:
        _run(lambda: [_folder_server(model, name, runner, overrides, adapters, enable_lora,
                                     start_timeout)], as_json)


def _run(build: Callable[[], list[VLLMServer]], as_json: bool) -> None:
    """Build, start and announce the servers, then serve until Ctrl-C/SIGTERM; always stop."""
    from ..server import ServerSetupError, ServerStartError

    stop_signals = _raise_on_signals()
    servers: list[VLLMServer] = []
    try:
        servers += build()
        _start(servers)
        _announce(servers, as_json)
        try:
            _supervise(servers)
        except KeyboardInterrupt:
            return  # Ctrl-C / SIGTERM is how serving ends: exit 0 (after `finally`)
    except (ServerSetupError, ServerStartError) as exc:
        log = getattr(exc, "log_path", None)
        raise CLIError(str(exc).splitlines()[0],
                       f"read the server log: {log}" if log else
                       "fix the cause above, then run `vllm-accel serve` again") from exc
    finally:
        _stop(servers, stop_signals)


def _given(**values: Any) -> dict[str, Any]:
    """The options that were given (None: the spec's default)."""
    return {k: v for k, v in values.items() if v is not None}


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, api_key: str | None, allow_insecure: bool) -> None:
    """Refuse a non-loopback ``host`` without an API key unless ``allow_insecure``.

    Either way, warn about what stays open on a host reachable from the network.

    Raises:
        CLIError: ``host`` is reachable from the network, there is no key, and
            ``--allow-insecure`` was not given.
    """
    if _is_loopback(host):
        return
    if api_key is None and not allow_insecure:
        raise CLIError(
            f"--host {host} without --api-key would let anyone who reaches the port use the "
            "model and load LoRA adapters from any path on this machine",
            "pass --api-key KEY (or set VLLM_API_KEY), serve on 127.0.0.1, or pass "
            "--allow-insecure if the network is trusted", EXIT_USAGE)
    if api_key is None:
        err.print(f"[bold red]warning:[/] serving on {escape(host)} WITHOUT an API key: "
                  "anyone who reaches the port can generate and load LoRA adapters from any "
                  "server path (--allow-insecure)")
    err.print(f"[yellow]note:[/] on {escape(host)}, vLLM leaves /metrics, /tokenize, "
              "/detokenize, /pooling, /score, /rerank, /classify and /invocations (full "
              "inference) open even with --api-key: see docs/security.md")


def _default_servers(overrides: dict[str, Any], adapters: tuple[tuple[str, Path], ...],
                     enable_lora: bool | None, embeddings: bool, embeddings_port: int | None,
                     start_timeout: float) -> list[VLLMServer]:
    from ..server import (
        LORA_NAME,
        REACT_LORA_NAME,
        TOOLS_LORA_NAME,
        VLLMServer,
        chat_spec,
        embedding_spec,
        prepare,
        share_cores,
    )

    with Steps(err) as steps:
        models = prepare(steps)
    overrides["lora_modules"] = ((LORA_NAME, models.lora_adapter),
                                 (TOOLS_LORA_NAME, models.tools_adapter),
                                 (REACT_LORA_NAME, models.react_adapter), *adapters)
    overrides["enable_lora"] = enable_lora is not False
    specs = [chat_spec(models, **overrides)]
    if embeddings:
        specs.append(embedding_spec(
            models, host=overrides["host"], port=embeddings_port,
            api_key=overrides["api_key"], kv_cache_gib=overrides["kv_cache_gib"]))
    return [VLLMServer(spec, start_timeout=start_timeout) for spec in share_cores(specs)]


def _folder_server(model: Path, name: str | None, runner: str, overrides: dict[str, Any],
                   adapters: tuple[tuple[str, Path], ...], enable_lora: bool | None,
                   start_timeout: float) -> VLLMServer:
    from ..server import ServerSpec, VLLMServer

    if not (model / "config.json").exists():
        raise CLIError(f"{model} is not a model folder (no config.json)",
                       "pass a Hugging Face model folder to --model", EXIT_USAGE)
    overrides["lora_modules"] = adapters
    overrides["enable_lora"] = enable_lora if enable_lora is not None else bool(adapters)
    spec = ServerSpec(model=model.resolve(), served_model_name=name or model.name,
                      runner=runner, **overrides)  # type: ignore[arg-type]
    return VLLMServer(spec, start_timeout=start_timeout)


class _Stop(KeyboardInterrupt):
    """SIGTERM/SIGHUP, raised like Ctrl-C so every wait unwinds the same way."""


def _raise_on_signals() -> dict[int, Any]:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise _Stop(signal.Signals(signum).name)

    previous: dict[int, Any] = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        previous[sig] = signal.signal(sig, handler)
    return previous


def _start(servers: list[VLLMServer]) -> None:
    """Launch every server at once (they load in parallel), then wait for each."""
    for server in servers:
        server.launch()
        err.print(f"starting {escape(server.spec.served_model_name)} on {server.base_url} "
                  f"[dim](log: {server.log_path})[/]")
    started = time.monotonic()
    with Steps(err) as steps:
        for server in servers:
            steps(f"loading {server.spec.served_model_name} into vLLM")
            server.wait_ready()
    err.print(f"ready in {time.monotonic() - started:.0f} s")


def _describe(server: VLLMServer) -> dict[str, Any]:
    spec = server.spec
    return {
        "model": spec.served_model_name, "base_url": server.base_url,
        "openai_base_url": f"{server.base_url}/v1", "runner": spec.runner, "pid": server.pid,
        "lora": [n for n, _ in spec.lora_modules] if spec.enable_lora else None,
        "tool_call_parser": spec.tool_call_parser, "log": str(server.log_path),
    }


def _announce(servers: list[VLLMServer], as_json: bool) -> None:
    info = [_describe(s) for s in servers]
    if as_json:
        print_json({"servers": info}, indent=None)
        return
    for item in info:
        role = "embeddings" if item["runner"] == "pooling" else "chat"
        extras = []
        if item["lora"] is not None:
            extras.append(f"LoRA: {', '.join(item['lora']) or 'on'}")
        if item["tool_call_parser"]:
            extras.append(f"tools: {item['tool_call_parser']}")
        more = f"  ({'; '.join(extras)})" if extras else ""
        out.print(f"{role:<11} {mask_url(item['openai_base_url'])}  model [bold]"
                  f"{escape(item['model'])}[/]{escape(more)}")
    out.print(f"export VLLM_BASE_URL={servers[0].base_url}")
    out.print("press Ctrl-C to stop")


def _supervise(servers: list[VLLMServer]) -> None:
    """Wait for Ctrl-C/SIGTERM; a server that exits on its own is an error."""
    while True:
        for server in servers:
            if not server.running:
                tail = server.log_tail(1)
                raise CLIError(f"vLLM server {server.spec.served_model_name!r} exited on its own"
                               + (f": {tail}" if tail else ""),
                               f"read the server log: {server.log_path}", EXIT_FAILED)
        time.sleep(0.5)


def _stop(servers: list[VLLMServer], previous: dict[int, Any]) -> None:
    """Stop every server; further Ctrl-C/SIGTERM are ignored until they are gone."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: err.print("still stopping the servers..."))
    try:
        live = [s for s in servers if s.running]
        if live:
            err.print(f"stopping {', '.join(s.spec.served_model_name for s in live)}...")
        for server in servers:
            server.stop()
        if live:
            err.print("stopped")
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
