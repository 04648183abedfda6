"""``python -m vllm_accel.server prepare|serve``: set up or run the embedded default servers."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading

from . import EmbeddedServers, Progress, ServerSetupError, ServerStartError, prepare
from ._venv import _say


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m vllm_accel.server")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("prepare", help="create the server environment and the default models")
    serve = sub.add_parser("serve", help="run the default chat and embedding servers until Ctrl-C")
    serve.add_argument("--no-embeddings", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "prepare":
            with _steps() as progress:
                models = prepare(progress)
            print(f"chat model:      {models.chat_model}\nembedding model: {models.embedding_model}"
                  f"\nLoRA adapter:    {models.lora_adapter}"
                  f"\ntools adapter:   {models.tools_adapter}"
                  f"\nreact adapter:   {models.react_adapter}"
                  f"\nserver python:   {models.python}")
            return 0
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with _steps() as progress:
            servers = EmbeddedServers(embeddings=not args.no_embeddings,
                                      progress=progress).start()
        with servers:
            print(f"chat:       {servers.chat.base_url}/v1  (model smollm2)", flush=True)
            if servers.embeddings:
                print(f"embeddings: {servers.embeddings.base_url}/v1  (model minilm)", flush=True)
            print(f"LoRA:       load {servers.models.lora_adapter} as 'pirate', "
                  f"{servers.models.tools_adapter} as 'tools', {servers.models.react_adapter} "
                  "as 'react'. Ctrl-C stops.", flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait()
        return 0
    except (ServerSetupError, ServerStartError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _steps() -> contextlib.AbstractContextManager[Progress]:
    """Step bars on a terminal when rich (the ``cli`` extra) is installed, plain lines otherwise."""
    try:
        from rich.console import Console

        from ..cli._progress import Steps
    except ImportError:
        return contextlib.nullcontext(_say)
    return Steps(Console(stderr=True))


if __name__ == "__main__":
    sys.exit(main())
