"""The ``vllm-accel`` application: the command list and the error boundary."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from .. import VLLMError, __version__
from . import _batch, _chat, _inspect, _serve, _stats
from ._common import EXIT_INTERRUPTED, CLIError, current_url, describe, err

__all__ = ["app", "main"]


class _Group(TyperGroup):
    """Reports every expected failure as ``error:`` + ``hint:`` and a non-zero exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CLIError as exc:
            exc.show()
            raise typer.Exit(exc.code) from None
        except VLLMError as exc:  # raised outside `connect()`
            failure = describe(exc, current_url.get() or "the server")
            failure.show()
            raise typer.Exit(failure.code) from None
        except KeyboardInterrupt:
            err.print()
            raise typer.Exit(EXIT_INTERRUPTED) from None


app = typer.Typer(
    cls=_Group,
    name="vllm-accel",
    help="Talk to a vLLM server: chat, complete, batch, LoRA adapters, statistics; or serve one.",
    epilog="Connection options also come from VLLM_BASE_URL, VLLM_API_KEY and VLLM_MODEL. "
           "Exit codes: 0 ok, 1 failed, 2 bad usage, 3 server unreachable, 130 interrupted.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vllm-accel {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", "-V", is_eager=True, callback=_version,
                                          help="Show the version and exit.")] = False,
) -> None:
    """Talk to a vLLM server: chat, complete, batch, LoRA adapters, statistics; or serve one."""


app.command("serve")(_serve.serve)
app.command("chat")(_chat.chat)
app.command("complete")(_chat.complete)
app.command("models")(_inspect.models)
app.command("info")(_inspect.info)
app.command("health")(_inspect.health)
app.command("stats")(_stats.stats)
app.add_typer(_inspect.lora_app, name="lora")
app.command("batch")(_batch.batch)


def main() -> None:
    """Console-script entry point (``vllm-accel``)."""
    app(prog_name="vllm-accel")
