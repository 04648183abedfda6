"""The training sets of the "tools" adapter, one recipe per ``TOOLS_LORA_VERSION``.

Pure Python (no torch), imported by ``train_tools_lora.py`` and by the unit tests.

* 1: adapter v1's 8 hermes groups (``tools_data.py``, default :class:`~tools_data.Mix`).
* 2: 9 hermes groups with ``copy_data.py``'s mix (copy-only arguments, ToolStrategy-like report
  tools) and 3 ReAct groups (``react_data.py``).
* 3: recipe 1's hermes groups unchanged (so v1's hermes behaviour is kept) and 3 ReAct groups.
  Measured 2026-12-01 (not shipped): under LlamaIndex's ``ReActAgent`` it keeps the format
  but opens with ``Thought: I can answer without using any more tools`` and answers "Rome is
  Rome." (0/5 round trips): its ReAct data has 11 Action steps and 13 Answer steps, so the
  first step after ``Thought:`` leans to the answer. A next recipe should make the first step
  mostly an Action (no prose in the ReAct groups, or more groups).
* 4: recipe 1's hermes groups unchanged and 8 ReAct groups in ``react_data.STYLE_V4``: both
  thoughts open with "The current language of the user is: English. I" and diverge at
  "need" / "can", after the model has read whether an Observation came back; no direct prose
  answers (32 Action steps, 32 Answer steps). 17 steps, 1735 s on a shared machine (load
  average 6-13 throughout; recipe 3's 11 steps took 643 s on a quieter one). Measured
  2026-12-01 on its own server (not shipped): the first step is now right, ``Thought: The
  current language of the user is: English. I need to use a tool ...`` / ``Action:
  get_weather``, but its Action Input is ``{"city": "Rome", "type": "string"}`` (the schema's
  ``"type"`` copied from the header's ``Tool Args``), so the Python tool raises on the
  unexpected argument, and after that error Observation the model repeats its thought as the
  Answer (ReActAgent round trip 0/5, the same greedy text each run). Given a correct
  Observation (LlamaIndex's formatter, the same step re-rendered) its Answer step is right:
  "The weather in Rome is sunny and 23 degrees.". It is also worse than v1 on the held-out
  hermes measures (``test_tools_adapter_live.py``, the same server, v1 then v4 loaded as
  ``tools``): fitting tool called 8/16 (v1 11/16), exact arguments 4/16 (v1 4/16), prose when
  no tool fits 9/12 (v1 10/12), a short answer from the tool's result 1/4 (v1 4/4: v4 mostly
  returns empty content there), so the 8 ReAct steps pull the hermes behaviour away even with
  the hermes groups unchanged. A next recipe should teach the Action Input to close after the
  tool's own arguments (more one-argument ReAct tools, a second epoch over the ReAct groups)
  without outweighing the hermes steps (fewer, larger ReAct groups; or a separate ``react``
  adapter, so the hermes one stays v1).
* 5: the separate "react" adapter (``REACT_LORA_VERSION``): 12 ReAct groups in
  ``STYLE_V4`` and the one prose group without tools, no hermes tool groups. 13 steps, 116 s on
  a quiet machine. Measured 2026-12-01 under LlamaIndex's ``ReActAgent`` (greedy, its own
  server): 5 of 6 round trips right, with the exact Action Input (weather in Rome, Paris and
  Tokyo; a stock price by ticker; a population with a weather tool also offered); the sixth,
  ``multiply(a, b)`` for "12 times 7", answered "multiply" without an Action. On one-argument
  tools it never saw (``test_llamaindex_live_agents.py``, batched) 4 of 6: made-up codes
  (``LH123``, ``XY778``) were not copied. Its limit: offered two tools, it calls the first one
  listed (a stock price question went to ``get_population`` three times out of three). The
  hermes adapter stays v1, so its measures are unchanged.
* 6: recipe 2's hermes groups (``MIX_V2``) without its ReAct groups. 10 steps, 86 s on a quiet
  machine. Measured 2026-12-01 (not shipped): under ``create_agent(...,
  response_format=ToolStrategy(WeatherReport))`` it calls ``get_weather`` and then the schema
  tool with the tool's sentence as the summary (v1 calls the schema tool first and invents the
  summary); but on the held-out hermes measures it calls the fitting tool 5/16 (v1 11/16) and
  answers from a tool's result 0/4 (v1 4/4).
* 7: recipe 1's groups unchanged and 4 ``MIX_V2`` groups after them (seed 2, no prose group):
  v1's behaviour plus ToolStrategy-like endings. 13 steps, 527 s on a shared machine. Measured
  2026-12-01 (not shipped): under ``ToolStrategy`` it calls tools again and again until the
  prompt passes the 2,048-token context; held-out: fitting tool 10/16 (v1 11/16), prose when no
  tool fits 9/12 (v1 10/12, the rest empty), an answer from a tool's result 1/4 (v1 4/4). So
  ToolStrategy endings, as tried in recipes 2, 6 and 7, cost adapter v1 its round trips.

``TOOLS_LORA_GROUPS`` / ``TOOLS_LORA_REACT_GROUPS`` override a recipe's group counts (one
optimizer step per group).
"""

from __future__ import annotations

import os
from typing import Any

from copy_data import MIX_V2
from react_data import STYLE_V4, Style, react_groups
from tools_data import Mix, groups

RECIPES: dict[int, tuple[int, int, Mix, Style]] = {  # hermes, ReAct groups, mix, ReAct style
    1: (8, 0, Mix(), Style()),
    2: (9, 3, MIX_V2, Style()),
    3: (8, 3, Mix(), Style()),
    4: (8, 8, Mix(), STYLE_V4),
    5: (0, 12, Mix(), STYLE_V4),
    6: (9, 0, MIX_V2, Style()),
    7: (8, 0, Mix(), Style()),
}
EXTRA: dict[int, tuple[int, Mix]] = {7: (4, MIX_V2)}
"""Hermes groups of a second mix added after a recipe's own (count, mix; seed 2, no prose)."""


def training_set(recipe: int) -> list[dict[str, Any]]:
    """The conversation groups of one recipe (env overrides applied)."""
    count, react, mix, style = RECIPES[recipe]
    count = int(os.environ.get("TOOLS_LORA_GROUPS", count))
    react = int(os.environ.get("TOOLS_LORA_REACT_GROUPS", react))
    extra, extra_mix = EXTRA.get(recipe, (0, mix))
    return (groups(seed=0, count=count, mix=mix)
            + react_groups(seed=1, count=react, domains=mix.domains, style=style)
            + (groups(seed=2, count=extra, plain=0, mix=extra_mix) if extra else []))
