"""The client never makes a base-model request name a LoRA adapter (README, known limits).

A base request must carry the base model's name (or none: vLLM then uses the base model) however
many adapter loads, in-place reloads, unloads and reloads happened before it, through every
place the client picks the ``model`` field: the core client's default model and per-call
``model=``, the pool's LoRA-aware routing with ``auto_load_lora``, LangChain's ``adapter`` /
``adapter_path`` fields (and a per-call ``model=`` over them), LlamaIndex's ``with_adapter``,
and the adapter registry the two share. A FaultProxy in pass-through mode in front of the real
chat server logs what each request sent and the ``model`` the server answered with. Every
request is tagged ``[base]`` or ``[adapter]`` in its text, so each can be checked, and adapter
requests are checked too (they must name the adapter: the capture is not vacuous).
"""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path
from typing import Any

import pytest
from support.faultproxy import Exchange, FaultProxy

from vllm_accel import EndpointPool, NotFoundError, VLLMClient

pytestmark = pytest.mark.live

BASE = "smollm2"
ONE_TOKEN: dict[str, Any] = {"max_tokens": 1, "temperature": 0.0}


def _served(exchange: Exchange) -> str | None:
    payloads = ([json.loads(e) for e in exchange.events if e.startswith("{")]
                if exchange.events else [json.loads(exchange.content)])
    return next((p["model"] for p in payloads if p.get("model")), None)


def _tag(exchange: Exchange) -> str:
    body = exchange.body
    text = json.dumps(body.get("messages") or body.get("prompt"))
    return "base" if "[base]" in text else "adapter" if "[adapter]" in text else "?"


def _check(proxy: FaultProxy, adapter: str, expected_base: int) -> None:
    exchanges = [e for e in proxy.attempts() if e.status == 200]
    tags = [_tag(e) for e in exchanges]
    for e in exchanges:  # untagged ones too (a framework's own probes): served as sent
        assert _served(e) == (e.body.get("model") or BASE)
    bases = [e for e, t in zip(exchanges, tags, strict=True) if t == "base"]
    adapters = [e for e, t in zip(exchanges, tags, strict=True) if t == "adapter"]
    assert len(bases) == expected_base
    assert adapters, "no adapter request was captured"
    assert {(e.body.get("model"), _served(e)) for e in bases} <= {(BASE, BASE), (None, BASE)}
    assert {(e.body.get("model"), _served(e)) for e in adapters} == {(adapter, adapter)}


def _chat(client: VLLMClient, tag: str, **kw: Any) -> None:
    client.chat([{"role": "user", "content": f"[{tag}] Hi"}], **ONE_TOKEN, **kw)


def _base_round(clients: list[VLLMClient]) -> int:
    """One base request of every kind from every client; returns how many."""
    n = 0
    for client in clients:
        _chat(client, "base")
        client.complete("[base] Hi", **ONE_TOKEN)
        with client.stream_chat([{"role": "user", "content": "[base] Hi"}], **ONE_TOKEN) as s:
            s.final()
        n += 3
    return n


def test_core_and_pool_base_requests_name_the_base_model(
        chat_server_url: str, lora_path: str, tmp_path: Path) -> None:
    name = f"modelfield-{secrets.token_hex(3)}"
    copy = shutil.copytree(lora_path, tmp_path / "copy")
    with FaultProxy(chat_server_url) as proxy:
        pool = EndpointPool([proxy.url], lora_paths={name: lora_path}, auto_load_lora=True)
        with VLLMClient(proxy.url, model=BASE) as named, VLLMClient(proxy.url) as default, \
                VLLMClient(endpoints=pool) as pooled:
            clients = [named, default, pooled]
            expected = _base_round(clients)  # before any load
            try:
                _chat(pooled, "adapter", model=name)  # the pool loads it on demand
                expected += _base_round(clients)
                for cycle in range(2):
                    named.load_lora_adapter(name, str(copy if cycle % 2 else lora_path),
                                            load_inplace=True)
                    _chat(named, "adapter", model=name)
                    _chat(default, "adapter", model=name)
                    expected += _base_round(clients)
                    pooled.unload_lora_adapter(name)  # the pool forgets it and its path
                    expected += _base_round(clients)
                    pooled.load_lora_adapter(name, lora_path)  # loaded again: a new int id
                    _chat(pooled, "adapter", model=name)
                    expected += _base_round(clients)
            finally:
                named.unload_lora_adapter(name)
        _check(proxy, name, expected)


def test_framework_base_requests_name_the_base_model(
        chat_server_url: str, lora_path: str, tmp_path: Path) -> None:
    from langchain_vllm_accel import ChatVLLM
    from llamaindex_vllm_accel import VLLM as LlamaVLLM

    name = f"modelfield-{secrets.token_hex(3)}"
    copy = shutil.copytree(lora_path, tmp_path / "copy")
    with FaultProxy(chat_server_url) as proxy, VLLMClient(proxy.url) as admin:
        lc_base = ChatVLLM(base_url=proxy.url, model=BASE, **ONE_TOKEN)
        lc_default = ChatVLLM(base_url=proxy.url, **ONE_TOKEN)
        lc_adapter = ChatVLLM(base_url=proxy.url, adapter=name, adapter_path=lora_path,
                              **ONE_TOKEN)
        li_base = LlamaVLLM(base_url=proxy.url, **ONE_TOKEN)
        li_adapter = li_base.with_adapter(name, path=lora_path)
        li_back = li_adapter.with_adapter(None)

        def base_round() -> int:
            lc_base.invoke("[base] Hi")
            lc_default.invoke("[base] Hi")
            lc_adapter.invoke("[base] Hi", model=BASE)  # per-call model over own adapter
            "".join(str(c.content) for c in lc_base.stream("[base] Hi"))
            li_base.complete("[base] Hi")
            li_back.complete("[base] Hi")
            return 6

        try:
            expected = base_round()
            for cycle in range(2):
                lc_adapter.invoke("[adapter] Hi")  # loads it on first use (registry)
                li_adapter.complete("[adapter] Hi")
                expected += base_round()
                admin.load_lora_adapter(name, str(copy if cycle % 2 else lora_path),
                                        load_inplace=True)
                expected += base_round()
                admin.unload_lora_adapter(name)  # behind the registry's back
                expected += base_round()
                with pytest.raises(NotFoundError):
                    lc_adapter.invoke("[adapter] Hi")  # 404: the registry forgets it
                expected += base_round()
        finally:
            admin.unload_lora_adapter(name)
        _check(proxy, name, expected)
