"""``models``, ``info``, ``health`` and ``lora list|load|unload``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .. import APIConnectionError, VLLMClient, VLLMError
from .._config import ENV_MODEL
from ._common import (
    EXIT_FAILED,
    ApiKey,
    AsJson,
    BaseUrl,
    CLIError,
    Conn,
    Timeout,
    connect,
    describe,
    err,
    out,
    print_json,
)

__all__ = ["health", "info", "lora_app", "models"]


def models(base_url: BaseUrl = None, api_key: ApiKey = None, timeout: Timeout = None,
           as_json: AsJson = False) -> None:
    """List the served models and LoRA adapters."""
    with connect(Conn(base_url, api_key, timeout=timeout)) as client:
        listing = client.models()
    if as_json:
        print_json([{"id": c.id, "kind": "lora" if c.parent else "base", "parent": c.parent,
                     "root": c.root, "max_model_len": c.max_model_len} for c in listing.data])
        return
    table = Table("model", "kind", "base model", "max len", "source", box=None)
    table.columns[-1].overflow = "fold"
    for c in listing.data:
        table.add_row(c.id, "lora" if c.parent else "base", c.parent or "",
                      str(c.max_model_len or ""), c.root or "")
    out.print(table)


def info(
    model: Annotated[str | None, typer.Argument(
        envvar=ENV_MODEL, show_default=False,
        help="Model or adapter name. [default: the server's first model]")] = None,
    base_url: BaseUrl = None, api_key: ApiKey = None, timeout: Timeout = None,
    as_json: AsJson = False,
) -> None:
    """Show what the server tells about a model: context length, KV cache, adapters, version."""
    with connect(Conn(base_url, api_key, timeout=timeout)) as client:
        details = client.get_model_info(model)
    data = details.model_dump()
    if as_json:
        print_json(data)
        return
    table = Table(show_header=False, box=None)
    for key, value in data.items():
        if value is None or value == []:
            continue
        shown = ", ".join(value) if isinstance(value, list) else str(value)
        table.add_row(key.replace("_", " "), shown)
    out.print(table)


def health(base_url: BaseUrl = None, api_key: ApiKey = None, timeout: Timeout = None,
           as_json: AsJson = False) -> None:
    """Check that the server is up; exit 0 if healthy, 1 if not, 3 if unreachable.

    With --json the report is printed in every case (``"healthy": false`` and the error too).
    """
    conn = Conn(base_url, api_key, timeout=timeout)
    report: dict[str, Any] = {"base_url": conn.shown_url, "healthy": False}
    try:
        with connect(conn) as client:
            started = time.perf_counter()
            report["healthy"] = client.health()
            report["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
            if not report["healthy"]:
                _why_unhealthy(client, conn)
            report["version"] = client.version()
            report["models"] = client.models().ids()
    except CLIError as exc:
        if as_json:
            print_json({**report, "healthy": False, "error": exc.message})
        raise
    if as_json:
        print_json(report)
        return
    out.print(f"[green]ok[/]  {conn.shown_url}  vLLM {report['version']}  "
              f"models: {', '.join(report['models']) or '-'}  ({report['latency_ms']} ms)")


def _why_unhealthy(client: VLLMClient, conn: Conn) -> None:
    """Raise: unreachable (exit 3) or "answers but is not healthy" (exit 1)."""
    try:
        client.version()
    except APIConnectionError:
        raise
    except VLLMError:
        pass
    raise CLIError(f"vLLM at {conn.shown_url} answers but is not healthy",
                   "the engine may have died or still be loading; check the server log")


# -- lora -------------------------------------------------------------------------------------

lora_app = typer.Typer(help="List, load and unload LoRA adapters at runtime.",
                       no_args_is_help=True)


@lora_app.command("list")
def lora_list(base_url: BaseUrl = None, api_key: ApiKey = None, timeout: Timeout = None,
              as_json: AsJson = False) -> None:
    """List the loaded LoRA adapters."""
    with connect(Conn(base_url, api_key, timeout=timeout)) as client:
        adapters = client.list_lora_adapters()
    if as_json:
        print_json([a.model_dump() for a in adapters])
        return
    if not adapters:
        err.print("no LoRA adapters loaded (load one with `vllm-accel lora load NAME PATH`)")
        return
    table = Table("adapter", "base model", "source", box=None)
    table.columns[-1].overflow = "fold"
    for adapter in adapters:
        table.add_row(adapter.name, adapter.base_model or "", adapter.path or "")
    out.print(table)


@lora_app.command("load")
def lora_load(
    name: Annotated[str, typer.Argument(help="Name to serve the adapter as.")],
    path: Annotated[str, typer.Argument(
        help="Adapter folder (as the server sees it) or Hugging Face repo id.")],
    replace: Annotated[bool, typer.Option(
        "--replace", help="Replace an adapter already loaded under NAME.")] = False,
    base_url: BaseUrl = None, api_key: ApiKey = None, timeout: Timeout = None,
    as_json: AsJson = False,
) -> None:
    """Load a LoRA adapter; loading the same adapter twice is a no-op."""
    local = Path(path).expanduser()
    if local.is_dir():  # the server resolves relative paths against its own directory
        path = str(local.resolve())
    with connect(Conn(base_url, api_key, timeout=timeout)) as client:
        adapter = client.load_lora_adapter(name, path, load_inplace=replace)
    if as_json:
        print_json(adapter.model_dump())
        return
    out.print(f"loaded [bold]{adapter.name}[/] on {adapter.base_model or '?'} from {adapter.path}")


@lora_app.command("unload")
def lora_unload(
    name: Annotated[str, typer.Argument(help="The adapter to unload.")],
    strict: Annotated[bool, typer.Option(
        "--strict", help="Fail if the adapter is not loaded.")] = False,
    base_url: BaseUrl = None, api_key: ApiKey = None, timeout: Timeout = None,
    as_json: AsJson = False,
) -> None:
    """Unload a LoRA adapter; unloading one that is not loaded is a no-op unless --strict."""
    conn = Conn(base_url, api_key, timeout=timeout)
    with connect(conn) as client:
        was_loaded = any(a.name == name for a in client.list_lora_adapters())
        try:
            client.unload_lora_adapter(name, missing_ok=not strict)
        except VLLMError as exc:
            failure = describe(exc, conn.shown_url)
            raise CLIError(failure.message, "see the loaded adapters with `vllm-accel lora list`",
                           EXIT_FAILED) from exc
    if as_json:
        print_json({"name": name, "unloaded": was_loaded})
        return
    out.print(f"unloaded [bold]{name}[/]" if was_loaded else f"{name} was not loaded")
