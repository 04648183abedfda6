"""Synthetic ReAct conversations, rendered exactly as LlamaIndex's ``ReActAgent`` sends them.

Pure Python (no torch, no LlamaIndex: the server environment has neither), imported by
``train_tools_lora.py``. LlamaIndex's ReAct agent offers no ``tools`` to the server: its system
turn (:data:`REACT_HEADER`, LlamaIndex's default header) lists the tools as text, the model
answers ``Thought: ...\\nAction: name\\nAction Input: {json}``, the tool's output comes back as a
user turn ``Observation: ...`` (the earlier step re-rendered from its parsed form, so its
``Action Input`` is a Python dict there), and the model ends with
``Thought: I can answer without using any more tools. ...\\nAnswer: ...``.
``tests/unit/test_react_data.py`` checks the header against LlamaIndex's own formatter.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from tools_data import CONDITIONS, DOMAINS, PROSE, Domain, _schema

REACT_HEADER = """You are designed to help with a variety of tasks, from answering questions to providing summaries to other types of analyses.

## Tools

You have access to a wide variety of tools. You are responsible for using the tools in any sequence you deem appropriate to complete the task at hand.
This may require breaking the task into subtasks and using different tools to complete each subtask.

You have access to the following tools:
{tool_desc}


## Output Format

Please answer in the same language as the question and use the following format:

```
Thought: The current language of the user is: (user's language). I need to use a tool to help me answer the question.
Action: tool name (one of {tool_names}) if using a tool.
Action Input: the input to the tool, in a JSON format representing the kwargs (e.g. {{"input": "hello world", "num_beams": 5}})
```

Please ALWAYS start with a Thought.

NEVER surround your response with markdown code markers. You may use code markers within your response if you need to.

Please use a valid JSON format for the Action Input. Do NOT do this {{'input': 'hello world', 'num_beams': 5}}. If you include the "Action:" line, then you MUST include the "Action Input:" line too, even if the tool does not need kwargs, in that case you MUST use "Action Input: {{}}".

If this format is used, the tool will respond in the following format:

```
Observation: tool response
```

You should keep repeating the above format till you have enough information to answer the question without using any more tools. At that point, you MUST respond in one of the following two formats:

```
Thought: I can answer without using any more tools. I'll use the user's language to answer
Answer: [your answer here (In the same language as the user's question)]
```

```
Thought: I cannot answer the question with the provided tools.
Answer: [your answer here (In the same language as the user's question)]
```

## Current Conversation

Below is the current conversation consisting of interleaving human and assistant messages.
"""  # noqa: E501
FIRST_THOUGHT = ("The current language of the user is: English. I need to use a tool to help me "
                 "answer the question.")
LAST_THOUGHT = "I can answer without using any more tools. I'll use the user's language to answer"
LANGUAGE = "The current language of the user is: English. "


@dataclass(frozen=True)
class Style:
    """How the learned steps read; the defaults are recipes 2 and 3's."""

    first_thought: str = FIRST_THOUGHT  # before the Action step
    last_thought: str = LAST_THOUGHT  # before the Answer step
    prose_rate: float = 0.15  # the share of questions answered directly, without a tool


STYLE_V4 = Style(last_thought=LANGUAGE + LAST_THOUGHT, prose_rate=0.0)
"""Recipe 4: both thoughts open with the same words (LlamaIndex's own example thought), so the
step diverges only at ``I need`` / ``I can``, after the model has read whether an Observation
came back; every question is a tool round trip (one Action step, one Answer step)."""


def tool_desc(name: str, about: str, args: dict[str, str], quoted: bool = False) -> str:
    """One tool as LlamaIndex's ``FunctionTool`` describes a Python function (``args``: each
    argument's JSON type, ``string`` or ``integer``; ``quoted``: the function's module uses
    ``from __future__ import annotations``, so its signature shows ``'str'``)."""
    py = {"string": "'str'", "integer": "'int'"} if quoted else {"string": "str", "integer": "int"}
    signature = ", ".join(f"{arg}: {py[kind]}" for arg, kind in args.items())
    props = {arg: {"title": arg.replace("_", " ").title(), "type": kind}
             for arg, kind in args.items()}
    schema = {"properties": props, "required": list(args), "type": "object"}
    return (f"> Tool Name: {name}\nTool Description: {name}({signature}) -> {py['string']}\n"
            f"{about}\n"
            f"Tool Args: {json.dumps(schema)}\n")


def header(tools: list[tuple[str, str, dict[str, str]]], quoted: bool = False) -> str:
    """The system turn for these tools (name, description, argument types)."""
    return REACT_HEADER.format(tool_desc="\n".join(tool_desc(*t, quoted) for t in tools),
                               tool_names=", ".join(t[0] for t in tools))


def _round_trip(rng: random.Random, domain: Domain, name: str, arg_names: list[str],
                style: Style = Style()) -> list[list[dict[str, Any]]]:
    """Two conversations: the question and the Action step; and the whole round trip up to the
    Answer step (the Action step in it, re-rendered by LlamaIndex, is context only)."""
    values = [rng.choice(a.pool) for a in domain.args]
    question = rng.choice(domain.questions).format(*values)
    kwargs = dict(zip(arg_names, values, strict=True))
    step = f"Thought: {style.first_thought}\nAction: {name}\nAction Input: "
    result = domain.result.format(*values, n=rng.randrange(2, 40), c=rng.choice(CONDITIONS))
    user = {"role": "user", "content": question}
    return [[user, {"role": "assistant", "content": step + json.dumps(kwargs)}],
            [user, {"role": "assistant", "content": step + repr(kwargs), "learn": False},
             {"role": "user", "content": f"Observation: {result}"},
             {"role": "assistant", "content": f"Thought: {style.last_thought}\nAnswer: {result}"}]]


def react_group(rng: random.Random, size: int, domains: tuple[Domain, ...] = tuple(DOMAINS),
                style: Style = Style()) -> dict[str, Any]:
    """One or two tools in the ReAct header and ``size`` conversations under it (mostly tool
    round trips, a few questions answered directly)."""
    chosen = rng.sample(list(domains), rng.choice([1, 2]))
    specs, described = [], []
    for domain in chosen:
        tool, arg_names = _schema(rng, domain)
        fn = tool["function"]
        name = fn["name"]
        kinds = {a: fn["parameters"]["properties"][a]["type"] for a in arg_names}
        specs.append((domain, name, arg_names))
        described.append((name, fn["description"], kinds))
    system = {"role": "system", "content": header(described, quoted=rng.random() < 0.5)}
    convs: list[list[dict[str, Any]]] = []
    while len(convs) < size:
        if rng.random() < style.prose_rate:
            question, answer = rng.choice(PROSE)
            step = f"Thought: {style.last_thought}\nAnswer: {answer}"
            convs.append([{"role": "user", "content": question},
                          {"role": "assistant", "content": step}])
        else:
            convs.extend(_round_trip(rng, *rng.choice(specs), style))
    return {"tools": [], "convs": [[system, *c] for c in convs[:size]]}


def react_groups(seed: int = 0, count: int = 4, size: int = 8,
                 domains: tuple[Domain, ...] = tuple(DOMAINS),
                 style: Style = Style()) -> list[dict[str, Any]]:
    """The ReAct part of the training set."""
    rng = random.Random(seed)
    return [react_group(rng, size, domains, style) for _ in range(count)]
