"""Pure accumulators that fold streamed chunks into the non-streamed result.

Streaming and non-streaming therefore end in the same types (``ChatCompletion``, ``Completion``).
Text is kept in ``io.StringIO`` buffers, never as a list of chunks, so memory grows only with the
answer's text. With ``continuous_usage_stats`` every chunk carries the cumulative usage: the last
one seen replaces the previous one.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the pydantic models are imported on the first result (import cost)
    from ._models import (
        ChatCompletion,
        ChatCompletionChunk,
        Completion,
        CompletionChunk,
        FunctionCall,
        Usage,
    )

__all__ = ["ChatAccumulator", "CompletionAccumulator", "RawAccumulator", "merge_logprobs"]


def merge_logprobs(previous: Any, new: Any) -> Any:
    """Concatenate streamed logprobs (chat ``{"content": [...]}`` or the legacy list-of-columns)."""
    if previous is None:
        return new
    if new is None:
        return previous
    prev = previous if isinstance(previous, dict) else previous.model_dump()
    cur = new if isinstance(new, dict) else new.model_dump()
    out = dict(prev)
    for key, value in cur.items():
        if isinstance(value, list) and isinstance(out.get(key), list):
            out[key] = out[key] + value
        elif value is not None:
            out[key] = value
    return out


class _Header:
    """The response-level fields every chunk repeats."""

    def __init__(self) -> None:
        self.id = ""
        self.model = ""
        self.created = 0
        self.system_fingerprint: str | None = None
        self.usage: Usage | None = None
        self.chunks = 0

    def take(self, chunk: ChatCompletionChunk | CompletionChunk) -> None:
        self.chunks += 1
        self.id = chunk.id or self.id
        self.model = chunk.model or self.model
        self.created = chunk.created or self.created
        self.system_fingerprint = chunk.system_fingerprint or self.system_fingerprint
        if chunk.usage is not None:
            self.usage = chunk.usage


class _ChatChoiceState:
    __slots__ = ("content", "finish_reason", "logprobs", "reasoning", "role", "saw_content",
                 "stop_reason", "tools")

    def __init__(self) -> None:
        self.role = "assistant"
        self.content = io.StringIO()
        self.saw_content = False
        self.reasoning: io.StringIO | None = None
        self.tools: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.stop_reason: int | str | None = None
        self.logprobs: Any = None


class ChatAccumulator(_Header):
    """Folds ``ChatCompletionChunk``s into a ``ChatCompletion``.

    Example:
        >>> from vllm_accel import ChatCompletionChunk
        >>> acc = ChatAccumulator()
        >>> for text in ("Hel", "lo"):
        ...     acc.add(ChatCompletionChunk.model_validate(
        ...         {"choices": [{"index": 0, "delta": {"content": text}}]}))
        >>> acc.result().choices[0].message.content
        'Hello'
    """

    def __init__(self) -> None:
        super().__init__()
        self._choices: dict[int, _ChatChoiceState] = {}

    def add(self, chunk: ChatCompletionChunk) -> None:
        """Fold one chunk in."""
        self.take(chunk)
        for choice in chunk.choices:
            state = self._choices.get(choice.index)
            if state is None:
                state = self._choices[choice.index] = _ChatChoiceState()
            delta = choice.delta
            if delta.role:
                state.role = delta.role
            if delta.content is not None:
                state.saw_content = True
                state.content.write(delta.content)
            if delta.reasoning:
                state.reasoning = state.reasoning or io.StringIO()
                state.reasoning.write(delta.reasoning)
            for call in delta.tool_calls or ():
                self._add_tool_call(state, call.index, call.id, call.type, call.function)
            if choice.finish_reason is not None:
                state.finish_reason = choice.finish_reason
                state.stop_reason = choice.stop_reason
            if choice.logprobs is not None:
                state.logprobs = merge_logprobs(state.logprobs, choice.logprobs)

    @staticmethod
    def _add_tool_call(
        state: _ChatChoiceState, index: int, id: str | None, type: str | None,
        function: FunctionCall | None,
    ) -> None:
        entry = state.tools.setdefault(
            index, {"id": None, "type": "function", "name": None, "arguments": io.StringIO()}
        )
        if id:
            entry["id"] = id
        if type:
            entry["type"] = type
        if function is not None:
            if function.name and not entry["name"]:
                entry["name"] = function.name
            if function.arguments:
                entry["arguments"].write(function.arguments)

    def result(self) -> ChatCompletion:
        """The ``ChatCompletion`` built from every chunk so far."""
        from ._models import ChatChoice, ChatCompletion, ChatMessage, FunctionCall, ToolCall

        choices = []
        for index in sorted(self._choices):
            state = self._choices[index]
            tool_calls = [
                ToolCall(
                    id=t["id"], type=t["type"],
                    function=FunctionCall(name=t["name"], arguments=t["arguments"].getvalue()),
                )
                for _, t in sorted(state.tools.items())
            ]
            message = ChatMessage(
                role=state.role,
                content=state.content.getvalue() if state.saw_content else None,
                reasoning=state.reasoning.getvalue() if state.reasoning else None,
                tool_calls=tool_calls or None,
            )
            choices.append(ChatChoice(
                index=index, message=message, finish_reason=state.finish_reason,
                stop_reason=state.stop_reason, logprobs=state.logprobs,
            ))
        return ChatCompletion(
            id=self.id, model=self.model, created=self.created, choices=choices,
            usage=self.usage, system_fingerprint=self.system_fingerprint,
        )


class CompletionAccumulator(_Header):
    """Folds ``CompletionChunk``s into a ``Completion`` (choices keyed by their ``index``)."""

    def __init__(self) -> None:
        super().__init__()
        self._text: dict[int, io.StringIO] = {}
        self._meta: dict[int, dict[str, Any]] = {}

    def add(self, chunk: CompletionChunk) -> None:
        """Fold one chunk in."""
        self.take(chunk)
        for choice in chunk.choices:
            buf = self._text.get(choice.index)
            if buf is None:
                buf = self._text[choice.index] = io.StringIO()
                self._meta[choice.index] = {"finish_reason": None, "stop_reason": None,
                                            "logprobs": None}
            buf.write(choice.text)
            meta = self._meta[choice.index]
            if choice.finish_reason is not None:
                meta["finish_reason"] = choice.finish_reason
                meta["stop_reason"] = choice.stop_reason
            if choice.logprobs is not None:
                meta["logprobs"] = merge_logprobs(meta["logprobs"], choice.logprobs)

    def result(self) -> Completion:
        """The ``Completion`` built from every chunk so far."""
        from ._models import Completion, CompletionChoice

        choices = [
            CompletionChoice(index=i, text=self._text[i].getvalue(), **self._meta[i])
            for i in sorted(self._text)
        ]
        return Completion(
            id=self.id, model=self.model, created=self.created, choices=choices,
            usage=self.usage, system_fingerprint=self.system_fingerprint,
        )


class RawAccumulator:
    """For raw dict streams: keeps only the usage and model (for statistics)."""

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self.model = ""
        self.chunks = 0

    def add(self, chunk: dict[str, Any]) -> None:
        """Note the model and usage of one raw event."""
        self.chunks += 1
        if isinstance(chunk, dict):
            self.model = chunk.get("model") or self.model
            if isinstance(chunk.get("usage"), dict):
                from ._models import Usage

                self.usage = Usage.model_validate(chunk["usage"])

    def result(self) -> None:
        """Raw streams have no folded result."""
        return None
