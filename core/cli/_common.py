"""What every command shares: connection options, the client, output, and error reporting.

Errors reach the user as one ``error:`` line and one ``hint:`` line on stderr, with an exit code
from :data:`EXIT_CODES`; :func:`describe` is the one place that turns a client error into them.
"""

from __future__ import annotations

import contextvars
import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from .. import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    ContextLengthError,
    InternalServerError,
    InvalidAPIKeyError,
    InvalidRequestError,
    NotFoundError,
    ServiceUnavailableError,
    StreamError,
    TLSError,
    VLLMClient,
    VLLMError,
)
from .._config import ENV_API_KEY, ENV_BASE_URL, ENV_MODEL, normalize_base_url
from .._urls import redact_text, redact_url

__all__ = [
    "EXIT_CODES",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "ApiKey",
    "AsJson",
    "BaseUrl",
    "CLIError",
    "Conn",
    "MaxTokens",
    "Model",
    "Seed",
    "Temperature",
    "Timeout",
    "connect",
    "current_url",
    "describe",
    "err",
    "mask_url",
    "out",
    "print_json",
]

EXIT_FAILED = 1
"""The server answered with an error, a batch had failed lines, or the server is unhealthy."""
EXIT_USAGE = 2
"""Bad arguments or input (typer uses 2 for usage errors too)."""
EXIT_UNREACHABLE = 3
"""No answer from the server: connection refused, DNS failure, timeout."""
EXIT_INTERRUPTED = 130
EXIT_CODES = {0: "success", EXIT_FAILED: "failed", EXIT_USAGE: "usage",
              EXIT_UNREACHABLE: "unreachable", EXIT_INTERRUPTED: "interrupted"}

out = Console(highlight=False, soft_wrap=True)
"""Tables and results (stdout)."""
err = Console(stderr=True, highlight=False, soft_wrap=True)
"""Errors, hints, progress and status (stderr), so stdout stays clean for pipes."""

current_url: contextvars.ContextVar[str | None] = contextvars.ContextVar("current_url",
                                                                         default=None)
"""The (masked) server URL of the running command, for error messages."""

_CONN = "Connection"
_GEN = "Generation"

BaseUrl = Annotated[str | None, typer.Option(
    "--base-url", "-u", envvar=ENV_BASE_URL, show_default=False, rich_help_panel=_CONN,
    help="vLLM server root (a /v1 suffix is fine). [default: http://localhost:8000]")]
ApiKey = Annotated[str | None, typer.Option(
    "--api-key", envvar=ENV_API_KEY, show_default=False, rich_help_panel=_CONN,
    help="API key of the server (sent as a bearer token; never printed).")]
Timeout = Annotated[float | None, typer.Option(
    "--timeout", min=0.1, show_default=False, rich_help_panel=_CONN,
    help="Seconds to wait for an answer. [default: 600, connect 5]")]
Model = Annotated[str | None, typer.Option(
    "--model", "-m", envvar=ENV_MODEL, show_default=False,
    help="Served model or LoRA adapter name. [default: the server's first model]")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")]
MaxTokens = Annotated[int, typer.Option("--max-tokens", min=1, rich_help_panel=_GEN,
                                        help="Most tokens to generate.")]
Temperature = Annotated[float | None, typer.Option(
    "--temperature", "-t", min=0.0, max=2.0, show_default=False, rich_help_panel=_GEN,
    help="Sampling temperature (0 = greedy). [default: the model's]")]
Seed = Annotated[int | None, typer.Option("--seed", show_default=False, rich_help_panel=_GEN,
                                          help="Random seed, for repeatable sampling.")]


class CLIError(Exception):
    """A failure to report as one ``error:`` line plus a ``hint:`` line, then exit ``code``."""

    def __init__(self, message: str, hint: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code

    def show(self) -> None:
        """Print the two lines on stderr."""
        err.print(f"[bold red]error:[/] {escape(self.message)}")
        err.print(f"[yellow]hint:[/] {escape(self.hint)}")


class Conn:
    """The connection options of one command."""

    def __init__(self, base_url: str | None, api_key: str | None, *, model: str | None = None,
                 timeout: float | None = None) -> None:
        self.base_url = normalize_base_url(base_url)
        self.api_key = api_key or None
        self.model = model or None
        self.timeout = timeout

    @property
    def shown_url(self) -> str:
        """The base URL as it may be printed (no password)."""
        return mask_url(self.base_url)

    def client(self) -> VLLMClient:
        """A new client for these options."""
        return VLLMClient(self.base_url, api_key=self.api_key, model=self.model,
                          timeout=self.timeout)


@contextmanager
def connect(conn: Conn) -> Iterator[VLLMClient]:
    """A client for ``conn``, closed on exit; client errors become :class:`CLIError`."""
    current_url.set(conn.shown_url)
    try:
        client = conn.client()  # a key that cannot be a header is refused here
    except VLLMError as exc:
        raise describe(exc, conn.shown_url, api_key_given=True) from None
    try:
        yield client
    except VLLMError as exc:
        raise describe(exc, conn.shown_url, api_key_given=conn.api_key is not None) from exc
    finally:
        client.close()


_HTTPX_PREFIX = re.compile(r"^[A-Z]\w*(Error|Timeout|Exception): ")


def describe(exc: VLLMError, url: str, *, api_key_given: bool = False) -> CLIError:
    """The one-line message, the hint and the exit code for a client error."""
    detail = redact_text(_HTTPX_PREFIX.sub("", exc.message))
    if exc.status_code is not None and not isinstance(exc, StreamError):
        detail = f"{detail} (HTTP {exc.status_code})"
    if isinstance(exc, InvalidAPIKeyError):
        return CLIError(detail, f"check --api-key / {ENV_API_KEY} (a key file with stray "
                        "characters?)", EXIT_USAGE)
    if isinstance(exc, InvalidRequestError):
        return CLIError(detail, "check the arguments (see --help)", EXIT_USAGE)
    if isinstance(exc, APIConnectionError):
        return _unreachable(exc, url, detail)
    if isinstance(exc, AuthenticationError):
        if api_key_given:
            return CLIError(f"vLLM at {url} rejected the API key",
                            f"check --api-key / {ENV_API_KEY}")
        return CLIError(f"vLLM at {url} requires an API key",
                        f"pass --api-key or set {ENV_API_KEY}")
    return CLIError(detail, _hint(exc))


def _unreachable(exc: APIConnectionError, url: str, detail: str) -> CLIError:
    if isinstance(exc, TLSError):
        return CLIError(f"TLS with vLLM at {url} failed: {detail}",
                        "check the server's certificate and the CA bundle (SSL_CERT_FILE)",
                        EXIT_UNREACHABLE)
    if isinstance(exc, APITimeoutError):
        return CLIError(f"vLLM at {url} did not answer in time ({detail})",
                        "the server may be busy or still starting: try `vllm-accel health`, "
                        "or raise --timeout", EXIT_UNREACHABLE)
    return CLIError(f"cannot reach vLLM at {url}: {detail}",
                    "start one with `vllm-accel serve`, or point --base-url / "
                    f"{ENV_BASE_URL} at a running server", EXIT_UNREACHABLE)


_HINTS: tuple[tuple[type[VLLMError], str], ...] = (
    (ContextLengthError, "shorten the prompt (in chat: /reset the history) or lower --max-tokens"),
    (NotFoundError, "see what the server serves with `vllm-accel models`"),
    (ServiceUnavailableError, "the server is overloaded or restarting; try again shortly"),
    (InternalServerError, "the server failed; check its log"),
    (StreamError, "the server failed; check its log"),
    (APIStatusError, "the server rejected the request; check the options (see --help)"),
)


def _hint(exc: VLLMError) -> str:
    for cls, hint in _HINTS:
        if isinstance(exc, cls):
            return hint
    return "see the message above; `vllm-accel health` checks the server"


mask_url = redact_url
"""``url`` with its credentials masked (``vllm_accel.redact_url``)."""


def print_json(data: Any, *, indent: int | None = 2) -> None:
    """Write ``data`` as JSON to stdout (``indent=None``: one line, for JSON Lines)."""
    sys.stdout.write(json.dumps(data, indent=indent, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()
