"""``chat`` (a streaming REPL, or one question with ``--once``) and ``complete``."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from rich.markup import escape

from .. import ChatCompletion, Completion, VLLMClient, VLLMError
from ._common import (
    EXIT_USAGE,
    ApiKey,
    AsJson,
    BaseUrl,
    CLIError,
    Conn,
    MaxTokens,
    Model,
    Seed,
    Temperature,
    Timeout,
    connect,
    describe,
    err,
    out,
    print_json,
)
from ._stats import client_summary, client_table, server_table

__all__ = ["COMMANDS", "ChatSession", "chat", "complete", "parse_command"]

COMMANDS = {
    "/adapter NAME": "answer with LoRA adapter NAME (`/adapter off`: the base model)",
    "/system TEXT": "set the system prompt (`/system` alone clears it)",
    "/reset": "forget the conversation so far",
    "/stats": "this session's requests, and the server's statistics",
    "/help": "show these commands",
    "/exit": "leave (also /quit or Ctrl-D)",
}
_OFF = {"off", "none", "base", "-"}


def parse_command(line: str) -> tuple[str, str] | None:
    """``"/adapter pirate"`` -> ``("adapter", "pirate")``; None when ``line`` is a question."""
    text = line.strip()
    if not text.startswith("/") or text.startswith("//"):
        return None
    name, _, arg = text[1:].partition(" ")
    return name.lower(), arg.strip()


@dataclass
class ChatSession:
    """A conversation: the model, adapter, system prompt and history (no I/O)."""

    model: str | None = None
    adapter: str | None = None
    system: str | None = None
    history: list[dict[str, str]] = field(default_factory=list)

    @property
    def target(self) -> str | None:
        """The name requests go to: the adapter if one is set, else the model."""
        return self.adapter or self.model

    def messages(self, question: str) -> list[dict[str, str]]:
        """The messages to send for ``question``."""
        system = [{"role": "system", "content": self.system}] if self.system else []
        return [*system, *self.history, {"role": "user", "content": question}]

    def remember(self, question: str, answer: str) -> None:
        """Keep a finished exchange in the history."""
        self.history += [{"role": "user", "content": question},
                         {"role": "assistant", "content": answer}]


def _params(max_tokens: int, temperature: float | None, seed: int | None) -> dict[str, Any]:
    params: dict[str, Any] = {"max_tokens": max_tokens}
    if temperature is not None:
        params["temperature"] = temperature
    if seed is not None:
        params["seed"] = seed
    return params


def _answer_json(done: ChatCompletion | Completion) -> dict[str, Any]:
    choice = done.choices[0] if done.choices else None
    return {"model": done.model, "text": done.text,
            "finish_reason": choice.finish_reason if choice else None,
            "usage": done.usage.model_dump() if done.usage else None}


def _read_arg(value: str) -> str:
    """``-`` means: read the text from stdin."""
    return sys.stdin.read().strip() if value == "-" else value


def chat(
    once: Annotated[str | None, typer.Option(
        "--once", "-1", show_default=False,
        help="Ask one question (`-`: read it from stdin), print the answer and exit.")] = None,
    model: Model = None,
    adapter: Annotated[str | None, typer.Option(
        "--adapter", "-a", show_default=False, help="Start with this LoRA adapter.")] = None,
    system: Annotated[str | None, typer.Option(
        "--system", "-s", show_default=False, help="System prompt.")] = None,
    max_tokens: MaxTokens = 256,
    temperature: Temperature = None,
    seed: Seed = None,
    base_url: BaseUrl = None, api_key: ApiKey = None, timeout: Timeout = None,
    as_json: AsJson = False,
) -> None:
    """Chat with a model, streaming its answers.

    Interactive commands: /adapter NAME, /system TEXT, /reset, /stats, /help, /exit.
    Questions can also be piped in, one per line. With --json each answer is one JSON line.
    """
    session = ChatSession(model=model, adapter=adapter, system=system)
    params = _params(max_tokens, temperature, seed)
    conn = Conn(base_url, api_key, model=model, timeout=timeout)
    with connect(conn) as client:
        listing = client.models()
        served = listing.ids()
        for name in (model, adapter):
            if name and name not in served:
                raise CLIError(f"{name!r} is not served here (served: {', '.join(served)})",
                               "see `vllm-accel models`; load adapters with "
                               "`vllm-accel lora load NAME PATH`")
        bases = listing.base_models()
        if session.model is None and bases:
            session.model = bases[0].id  # what the server would pick; named in messages
        if once is not None:
            question = _read_arg(once)
            if not question:
                raise CLIError("the question is empty", "pass --once TEXT", EXIT_USAGE)
            _ask(client, session, question, params, as_json, conn, strict=True)
            return
        _repl(client, session, params, as_json, conn)


def _ask(client: VLLMClient, session: ChatSession, question: str, params: dict[str, Any],
         as_json: bool, conn: Conn, *, strict: bool = False) -> None:
    """Send ``question``, stream the answer to stdout, and remember the exchange.

    A failure is raised when ``strict`` (one-shot mode), else reported and the REPL goes on.
    """
    stream = client.stream_chat(session.messages(question), model=session.target, **params)
    try:
        with stream:
            for text in stream.text_deltas():
                if not as_json:
                    sys.stdout.write(text)
                    sys.stdout.flush()
            done = stream.final()
    except VLLMError as exc:
        if strict:
            raise
        describe(exc, conn.shown_url, api_key_given=conn.api_key is not None).show()
        return
    except KeyboardInterrupt:
        if strict:
            raise
        err.print("\n[dim](interrupted)[/]")
        return
    if as_json:
        print_json({**_answer_json(done), "time_to_first_token": stream.time_to_first_token},
                   indent=None)
    else:
        sys.stdout.write("\n")
        sys.stdout.flush()
    session.remember(question, done.text)


def _repl(client: VLLMClient, session: ChatSession, params: dict[str, Any], as_json: bool,
          conn: Conn) -> None:
    interactive = sys.stdin.isatty()
    if interactive:
        import readline  # noqa: F401  (line editing and history for input())

        err.print(f"chatting with [bold]{escape(session.target or 'the default model')}[/] at "
                  f"{escape(conn.shown_url)}; /help lists commands, /exit or Ctrl-D leaves")
    while True:
        try:
            line = input(">>> " if interactive else "")
        except (EOFError, KeyboardInterrupt):
            if interactive:
                err.print()
            return
        if not line.strip():
            continue
        command = parse_command(line)
        if command is None:
            _ask(client, session, line.strip(), params, as_json, conn)
        elif not _command(client, session, *command, conn=conn, as_json=as_json):
            return


def _command(client: VLLMClient, session: ChatSession, name: str, arg: str, *,
             conn: Conn, as_json: bool) -> bool:
    """Run one /command; False means leave the REPL."""
    if name in ("exit", "quit", "q"):
        return False
    try:
        if name == "adapter":
            _switch_adapter(client, session, arg)
        elif name == "system":
            session.system = arg or None
            err.print(f"system prompt {'set' if arg else 'cleared'}")
        elif name == "reset":
            session.history.clear()
            err.print("conversation cleared")
        elif name == "stats":
            server = client.get_model_statistics(session.target)
            if as_json:
                print_json({"client": client_summary(client.stats()),
                            "server": server.model_dump()}, indent=None)
            else:
                out.print(client_table(client.stats(), "this session"))
                out.print()
                out.print(server_table(server))
        elif name == "help":
            for usage, what in COMMANDS.items():
                err.print(f"  {usage:<15} {what}")
        else:
            err.print(f"unknown command /{escape(name)}; /help lists the commands")
    except VLLMError as exc:
        describe(exc, conn.shown_url, api_key_given=conn.api_key is not None).show()
    return True


def _switch_adapter(client: VLLMClient, session: ChatSession, name: str) -> None:
    adapters = [a.name for a in client.list_lora_adapters()]
    if not name:
        current = session.adapter or "none (base model)"
        err.print(f"adapter: {escape(current)}; loaded: {escape(', '.join(adapters) or 'none')}")
    elif name.lower() in _OFF:
        session.adapter = None
        err.print(f"answering with {escape(session.model or 'the base model')}")
    elif name not in adapters:
        CLIError(f"adapter {name!r} is not loaded (loaded: {', '.join(adapters) or 'none'})",
                 "load it with `vllm-accel lora load NAME PATH`").show()
    else:
        session.adapter = name
        err.print(f"answering with adapter [bold]{escape(name)}[/]")


def complete(
    prompt: Annotated[str, typer.Argument(help="The text to continue (`-`: read stdin).")],
    model: Model = None,
    max_tokens: MaxTokens = 64,
    temperature: Temperature = None,
    seed: Seed = None,
    stop: Annotated[list[str] | None, typer.Option(
        "--stop", show_default=False, help="Stop at this text (repeatable).")] = None,
    no_stream: Annotated[bool, typer.Option(
        "--no-stream", help="Print the text only when it is complete.")] = False,
    base_url: BaseUrl = None, api_key: ApiKey = None, timeout: Timeout = None,
    as_json: AsJson = False,
) -> None:
    """Continue a prompt with /v1/completions (raw text, no chat template)."""
    text = _read_arg(prompt)
    params = _params(max_tokens, temperature, seed)
    if stop:
        params["stop"] = stop
    with connect(Conn(base_url, api_key, model=model, timeout=timeout)) as client:
        if as_json or no_stream:
            done = client.complete(text, **params)
            if as_json:
                print_json(_answer_json(done))
            else:
                sys.stdout.write(done.text + "\n")
            return
        stream = client.stream_generation(text, **params)
        with stream:
            for delta in stream.text_deltas():
                sys.stdout.write(delta)
                sys.stdout.flush()
        sys.stdout.write("\n")
