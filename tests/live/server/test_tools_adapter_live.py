"""The "tools" LoRA adapter on the real server, on tools it never saw in training.

The training conversations (``core/server/assets/tools_data.py``) use other tool names, argument
names and question wordings; these held-out ones measure whether SmolLM2 with the adapter calls
a fitting tool on its own (``tool_choice="auto"``) with the right arguments, answers in prose when
no tool fits, and answers from a tool's result afterwards. Each rate is over a dozen or more
greedy samples and must clear its bar; run this file directly (``python -m pytest ... -s``) to see
the rates.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.live, pytest.mark.sampled]  # sampled text (greedy, batched)


def _tool(name: str, about: str, **args: dict[str, Any]) -> dict[str, Any]:
    return {"type": "function", "function": {
        "name": name, "description": about,
        "parameters": {"type": "object", "properties": args, "required": list(args)}}}


STR = {"type": "string"}
INT = {"type": "integer"}
HELD_OUT = [
    (_tool("get_exchange_rate", "Get the exchange rate between two currencies.",
           base=STR, quote=STR),
     [("What is the exchange rate from CHF to SEK?", {"base": "CHF", "quote": "SEK"}),
      ("Exchange rate of NOK to DKK?", {"base": "NOK", "quote": "DKK"})]),
    (_tool("lookup_recipe", "Find a recipe for a dish.", dish=STR, servings=INT),
     [("Find me a recipe for lasagna for 4 people.", {"dish": "lasagna", "servings": 4}),
      ("I need a pancake recipe for 2 servings.", {"dish": "pancake", "servings": 2})]),
    (_tool("flight_status", "Get the status of a flight.", flight_number=STR),
     [("Is flight LH123 on time?", {"flight_number": "LH123"}),
      ("What is the status of flight BA456?", {"flight_number": "BA456"})]),
    (_tool("get_sunrise", "Get the sunrise time in a town.", town=STR),
     [("When does the sun rise in Bergen?", {"town": "Bergen"}),
      ("What time is sunrise in Porto?", {"town": "Porto"})]),
    (_tool("word_definition", "Define an English word.", term=STR),
     [("What does the word 'ephemeral' mean?", {"term": "ephemeral"}),
      ("Define 'serendipity'.", {"term": "serendipity"})]),
    (_tool("convert_length", "Convert a length between units.", meters=INT,
           unit={"type": "string", "enum": ["feet", "inches", "yards"]}),
     [("How many feet are 30 meters?", {"meters": 30, "unit": "feet"}),
      ("Convert 5 meters to inches.", {"meters": 5, "unit": "inches"})]),
    (_tool("check_parcel", "Track a parcel by its tracking code.", tracking_code=STR),
     [("Where is my parcel XY778?", {"tracking_code": "XY778"}),
      ("Track the package with code QP12.", {"tracking_code": "QP12"})]),
    (_tool("get_movie_rating", "Get the rating of a movie.", movie=STR),
     [("How good is the movie Inception?", {"movie": "Inception"}),
      ("What is the rating of Titanic?", {"movie": "Titanic"})]),
]
PROSE = ["What is the capital of Italy?", "Who wrote Romeo and Juliet?", "Say hello!",
         "How many days are in a week?", "What is the opposite of cold?",
         "Name a fruit that is yellow."]
RESULTS = [("flight_status", "Is flight LH123 on time?", {"flight_number": "LH123"},
            "Flight LH123 is delayed by 35 minutes.", "35"),
           ("get_sunrise", "When does the sun rise in Bergen?", {"town": "Bergen"},
            "The sun rises at 06:42 in Bergen.", "06:42"),
           ("get_movie_rating", "How good is the movie Inception?", {"movie": "Inception"},
            "Inception is rated 8.8 out of 10.", "8.8"),
           ("lookup_recipe", "Find me a recipe for lasagna for 4 people.",
            {"dish": "lasagna", "servings": 4}, "Lasagna: layer pasta, sauce and cheese, "
            "bake 45 minutes.", "45")]


def _ask(url: str, adapter: str, messages: list[dict[str, Any]],
         tools: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {"model": adapter, "messages": messages, "temperature": 0,
                            "max_tokens": 80}
    if tools:
        body |= {"tools": tools, "tool_choice": "auto"}
    resp = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=180)
    resp.raise_for_status()
    message: dict[str, Any] = resp.json()["choices"][0]["message"]
    return message


def _parallel(jobs: list[tuple[Any, ...]], url: str, adapter: str) -> list[dict[str, Any]]:
    with ThreadPoolExecutor(len(jobs)) as pool:  # all in flight: vLLM batches them
        return list(pool.map(lambda job: _ask(url, adapter, *job), jobs))


def _rate(hits: list[bool], what: str) -> float:
    rate = sum(hits) / len(hits)
    print(f"{what}: {sum(hits)}/{len(hits)} = {rate:.0%}")
    return rate


def test_calls_a_held_out_tool_with_the_right_arguments(chat_server_url: str,
                                                         tools_adapter: str) -> None:
    jobs, expected = [], []
    for i, (tool, questions) in enumerate(HELD_OUT):
        other = HELD_OUT[(i + 3) % len(HELD_OUT)][0]  # a second, unfitting tool on offer
        for j, (question, args) in enumerate(questions):
            offered = [tool, other] if j % 2 else [other, tool]
            jobs.append(([{"role": "user", "content": question}], offered))
            expected.append((tool["function"]["name"], args))
    answers = _parallel(jobs, chat_server_url, tools_adapter)
    called, right = [], []
    for message, (name, args) in zip(answers, expected, strict=True):
        calls = message.get("tool_calls") or []
        called.append(len(calls) == 1 and calls[0]["function"]["name"] == name)
        right.append(called[-1] and json.loads(calls[0]["function"]["arguments"]) == args)
    # Adapter v1 measured 11/16 calls here (shared server, 2026-12-01) and, in the clean-clone
    # make test of the same day, 4/16 calls with exactly the right arguments (twice: the test
    # is sampled); all 16 in flight at once, the same 11/16 and 4/16. The bars sit just below
    # what v1 does: recipes 4, 6 and 7 (core/server/assets/recipes.py) measured lower.
    assert _rate(called, "held-out: the fitting tool called") >= 0.6
    assert _rate(right, "held-out: called with exactly the right arguments") >= 0.2


def test_answers_in_prose_when_no_tool_fits(chat_server_url: str, tools_adapter: str) -> None:
    offered = [HELD_OUT[0][0], HELD_OUT[2][0]]
    jobs = [([{"role": "user", "content": q}], offered) for q in PROSE]
    jobs += [([{"role": "user", "content": q}], []) for q in PROSE]
    answers = _parallel(jobs, chat_server_url, tools_adapter)
    prose = [not m.get("tool_calls") and bool((m.get("content") or "").strip())
             and "<tool_call>" not in (m.get("content") or "") for m in answers]
    assert _rate(prose, "no fitting tool / no tools: answered in prose") >= 0.8


def test_answers_from_the_tool_result(chat_server_url: str, tools_adapter: str) -> None:
    by_name = {tool["function"]["name"]: tool for tool, _ in HELD_OUT}
    jobs = []
    for name, question, args, result, _ in RESULTS:
        call = {"id": "call_1", "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)}}
        jobs.append(([{"role": "user", "content": question},
                      {"role": "assistant", "content": "", "tool_calls": [call]},
                      {"role": "tool", "tool_call_id": "call_1", "content": result}],
                     [by_name[name]]))
    answers = _parallel(jobs, chat_server_url, tools_adapter)
    good = []
    for message, (*_, fact) in zip(answers, RESULTS, strict=True):
        text = message.get("content") or ""
        print(f"  answer: {text!r}")
        good.append(not message.get("tool_calls") and fact in text and "<tool_" not in text
                    and len(text) < 200)
    assert _rate(good, "after the tool result: a short answer using it") >= 0.75
