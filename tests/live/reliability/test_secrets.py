"""Secrets: the API key never leaks, and the transport guards it.

``test_the_key_appears_nowhere`` drives every surface that could show a key (clients given the key
as an argument, by ``VLLM_API_KEY`` and per request; the LangChain and LlamaIndex integrations;
DEBUG logs of every logger; errors; a vcrpy recording made with the project's cassette config;
the server's own log)
against the private server started with ``--api-key``, collects everything they print, log,
serialize or record, and scans it. The key is random per session, and the requests succeed, so
the key really was in use while the outputs were produced.
"""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
import re
import socket
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import vcr
from reliability_helpers import close_client
from support.faultproxy import Fault, FaultProxy

from vllm_accel import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    NotFoundError,
    RetryPolicy,
    Secret,
    VLLMClient,
)
from vllm_accel.server import paths

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[3]
FAST = RetryPolicy(max_retries=2, initial_delay=0.05, max_delay=0.1, jitter=0.0)
MESSAGES = [{"role": "user", "content": "Hi"}]


def _scan(texts: dict[str, str], *keys: str) -> None:
    leaks = [name for name, text in texts.items() for key in keys if key in text]
    assert not leaks, f"the API key leaked in: {leaks}"


def _llamaindex_outputs(url: str, key: str) -> dict[str, str]:
    from llama_index.core.llms import ChatMessage
    from support.llamaindex_events import collect_events

    from llamaindex_vllm_accel import VLLM

    with collect_events() as collected:
        llm = VLLM(base_url=url, api_key=key, max_tokens=4)
        answer = llm.chat([ChatMessage(role="user", content="Hi")])
        assert answer.message.content is not None
    events = collected.events
    assert events, "no instrumentation events were seen"
    return {
        "llamaindex repr": repr(llm), "llamaindex str": str(llm),
        "llamaindex to_payload": json.dumps(llm.to_payload(), default=str),
        "llamaindex to_json": llm.to_json(), "llamaindex metadata": repr(llm.metadata),
        "llamaindex events": "\n".join(e.model_dump_json() for e in events),
        "llamaindex answer": answer.model_dump_json(),
    }


def _langchain_outputs(url: str, key: str) -> dict[str, str]:
    from langchain_core.load import dumpd, dumps

    from langchain_vllm_accel import ChatVLLM

    llm = ChatVLLM(base_url=url, api_key=key, max_tokens=4)
    message = llm.invoke("Hi")
    return {
        "langchain dumps": dumps(llm), "langchain dumpd": json.dumps(dumpd(llm)),
        "langchain repr": repr(llm), "langchain str": str(llm),
        "langchain message": dumps(message),
    }


def test_the_key_appears_nowhere(keyed_server_url: str, api_key: str, tmp_path: Path,
                                 caplog: pytest.LogCaptureFixture,
                                 monkeypatch: pytest.MonkeyPatch,
                                 vcr_config: dict[str, Any]) -> None:
    texts: dict[str, str] = {}
    wrong = "sk-wrong-" + api_key[-8:][::-1]
    caplog.set_level(logging.DEBUG)  # every logger: ours, httpx, httpcore, the integrations
    with VLLMClient(keyed_server_url, api_key=api_key, retry=FAST) as client:
        assert client.chat(MESSAGES, max_tokens=2).text is not None
        with client.stream_chat(MESSAGES, max_tokens=2) as stream:
            texts["stream final"] = stream.final().model_dump_json()
        with pytest.raises(NotFoundError) as not_found:
            client.chat(MESSAGES, model="nope", max_tokens=2)
        texts |= {"client repr": repr(client), "client str": str(client),
                  "stats": repr(client.stats()), "secret": repr(Secret(api_key)) + str(
                      Secret(api_key)), "404 str": str(not_found.value),
                  "404 repr": repr(not_found.value), "404 body": repr(not_found.value.body),
                  "404 pickle": repr(pickle.loads(pickle.dumps(not_found.value)).__dict__)}
        # A per-request ("endpoint") key, wrong on purpose: its error must not show it either.
        handler = client.create_chat_endpoint_handler(api_key=wrong)
        with pytest.raises(AuthenticationError) as denied:
            handler({"messages": MESSAGES, "max_tokens": 2})
        texts |= {"401 str": str(denied.value), "401 repr": repr(denied.value),
                  "401 traceback": "".join(denied.traceback.format() if hasattr(
                      denied.traceback, "format") else str(denied.getrepr()))}
    # Retries log at INFO: drive one through the proxy so the retry line is in the log.
    with FaultProxy(keyed_server_url) as proxy, VLLMClient(proxy.url, api_key=api_key,
                                                           retry=FAST) as client:
        proxy.script(Fault.status(503))
        client.complete("Hi", max_tokens=2)
        assert proxy.attempts()[0].headers["authorization"] == f"Bearer {api_key}"
    # The key from the environment.
    monkeypatch.setenv("VLLM_API_KEY", api_key)
    with VLLMClient(keyed_server_url, retry=FAST) as env_client:
        assert env_client.has_api_key
        env_client.complete("Hi", max_tokens=2)
        texts["env client repr"] = repr(env_client) + str(env_client)
    monkeypatch.delenv("VLLM_API_KEY")
    # A cassette recorded with the project's vcrpy config.
    cassette = tmp_path / "keyed.yaml"
    with vcr.VCR(**vcr_config).use_cassette(str(cassette)), VLLMClient(
            keyed_server_url, api_key=api_key) as client:
        client.chat(MESSAGES, max_tokens=2)
    texts["new cassette"] = cassette.read_text()
    assert "/v1/chat/completions" in texts["new cassette"]
    texts |= _langchain_outputs(keyed_server_url, api_key)
    texts |= _llamaindex_outputs(keyed_server_url, api_key)
    assert any("retry 1 of POST /v1/completions" in r.getMessage() for r in caplog.records)
    texts["logs"] = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)
    # The server's own log (the embedded launcher passes the key by environment, not argv).
    server_log = paths().logs / f"smollm2-{urlsplit(keyed_server_url).port}.log"
    assert server_log.exists(), server_log
    texts["server log"] = server_log.read_text(errors="replace")
    _scan(texts, api_key, wrong)


_BEARER = re.compile(r"bearer\s+\S", re.IGNORECASE)


def test_committed_cassettes_and_benchmark_output_hold_no_credentials() -> None:
    files = [p for p in (ROOT / "tests").rglob("*") if "cassettes" in p.parts and p.is_file()]
    files += [p for p in (ROOT / "bench" / "results").rglob("*") if p.is_file()]
    assert any("cassettes" in p.parts for p in files), "no cassettes found: wrong root?"
    assert any("results" in p.parts for p in files), "no benchmark output found"
    for path in files:
        text = path.read_text(errors="replace")
        assert not _BEARER.search(text), path
        assert "authorization:" not in text.lower().replace('"', ""), path
        assert "sk-reliability-" not in text, path


class _Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []
    location = ""

    def do_POST(self) -> None:
        type(self).seen.append({k.lower(): v for k, v in self.headers.items()})
        self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.location:
            self.send_response(307)
            self.send_header("location", self.location)
            self.send_header("content-length", "0")
            self.end_headers()
        else:
            body = b'{"error": {"message": "should not be reached", "code": 500}}'
            self.send_response(500)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _http_server(location: str) -> tuple[ThreadingHTTPServer, type[_Recorder]]:
    handler = type("Handler", (_Recorder,), {"seen": [], "location": location})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, handler


def test_a_redirect_to_another_origin_never_carries_the_key(api_key: str) -> None:
    other, other_seen = _http_server("")
    origin, origin_seen = _http_server(
        f"http://localhost:{other.server_address[1]}/v1/chat/completions")
    try:
        with VLLMClient(f"http://127.0.0.1:{origin.server_address[1]}", api_key=api_key,
                        retry=FAST) as client, pytest.raises(APIStatusError) as info:
            client.chat(MESSAGES, max_tokens=2)
        assert info.value.status_code == 307  # not followed: reported
        assert origin_seen.seen[0]["authorization"] == f"Bearer {api_key}"
        assert len(origin_seen.seen) == 1  # a redirect is not retried either
        assert all("authorization" not in h for h in other_seen.seen)
        assert other_seen.seen == []
    finally:
        for server in (origin, other):
            server.shutdown()
            server.server_close()


def test_tls_verification_is_on_by_default(self_signed_tls: int, api_key: str) -> None:
    url = f"https://127.0.0.1:{self_signed_tls}"
    with VLLMClient(url, api_key=api_key, retry=RetryPolicy(max_retries=0)) as client, \
            pytest.raises(APIConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        client.chat(MESSAGES, max_tokens=2)
    # The same server is reachable when verification is explicitly turned off: the failure
    # above was the certificate check, nothing else.
    with VLLMClient(url, retry=RetryPolicy(max_retries=0),
                    http_client=httpx.Client(verify=False)) as client:
        with pytest.raises(APIStatusError) as info:
            client.chat(MESSAGES, max_tokens=2)
        assert info.value.status_code == 500


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_wrong_key_is_rejected_once_without_retry(keyed_server_url: str, kind: str,
                                                          api_key: str) -> None:
    from vllm_accel import AsyncVLLMClient

    retry = RetryPolicy(max_retries=3, initial_delay=0.05, jitter=0.0)
    with FaultProxy(keyed_server_url) as proxy:
        if kind == "sync":
            with VLLMClient(proxy.url, api_key="sk-wrong", retry=retry) as client:
                with pytest.raises(AuthenticationError) as info:
                    client.chat(MESSAGES, max_tokens=2)
                stats = client.stats()
        else:
            async with AsyncVLLMClient(proxy.url, api_key="sk-wrong", retry=retry) as aclient:
                with pytest.raises(AuthenticationError) as info:
                    await aclient.chat(MESSAGES, max_tokens=2)
                stats = aclient.stats()
        assert [a.status for a in proxy.attempts()] == [401]  # the real server said so, once
        assert stats.total_retries == 0
        assert info.value.status_code == 401
        assert "sk-wrong" not in str(info.value) + repr(info.value)
        # And the right key works through the same path.
        with VLLMClient(proxy.url, api_key=api_key) as client:
            assert client.chat(MESSAGES, max_tokens=2).text is not None


# -- the three probes of issue 15 ------------------------------------------------------------

async def _maybe_await(fn: Any) -> Any:
    result = fn()
    return await result if asyncio.iscoroutine(result) else result


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_key_read_from_a_file_works_and_a_broken_key_never_shows(
        keyed_server_url: str, api_key: str, tmp_path: Path, kind: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from vllm_accel import AsyncVLLMClient, InvalidAPIKeyError

    key_file = tmp_path / "key"
    key_file.write_text(api_key + "\n")  # as `echo $KEY > key` writes it
    read = key_file.read_text()
    if kind == "sync":
        with VLLMClient(keyed_server_url, api_key=read, retry=FAST) as client:
            assert client.chat(MESSAGES, max_tokens=2).text is not None
    else:
        async with AsyncVLLMClient(keyed_server_url, api_key=read, retry=FAST) as aclient:
            assert (await aclient.chat(MESSAGES, max_tokens=2)).text is not None
    broken = api_key[:10] + "\n" + api_key[10:]  # a newline inside: no header can carry it
    cls = VLLMClient if kind == "sync" else AsyncVLLMClient
    shown: list[str] = []
    for attempt in (lambda: cls(keyed_server_url, api_key=broken),
                    lambda: cls(keyed_server_url).set_api_key(broken),
                    lambda: cls(keyed_server_url).make_post_request(
                        "/v1/completions", {"prompt": "Hi", "max_tokens": 1}, api_key=broken)):
        with pytest.raises(InvalidAPIKeyError) as info:
            await _maybe_await(attempt)
        shown.append("".join(traceback.format_exception(info.value)) + repr(info.value))
    monkeypatch.setenv("VLLM_API_KEY", broken)
    with pytest.raises(InvalidAPIKeyError) as env_info:
        cls(keyed_server_url)
    shown.append("".join(traceback.format_exception(env_info.value)))
    _scan(dict(enumerate(map(str, shown))), api_key, api_key[:10], api_key[10:])  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_the_key_goes_to_another_origin_only_when_asked(
        keyed_server_url: str, api_key: str, kind: str) -> None:
    from vllm_accel import AsyncVLLMClient

    other, seen = _http_server("")  # a plain local listener on another port: another origin
    url = f"http://127.0.0.1:{other.server_address[1]}/v1/completions"
    body = {"prompt": "Hi", "max_tokens": 1}
    no_retry = RetryPolicy(max_retries=0)
    try:
        cls = VLLMClient if kind == "sync" else AsyncVLLMClient
        client = cls(keyed_server_url, api_key=api_key, retry=no_retry)

        async def run(fn: Any, *args: Any, **kwargs: Any) -> Any:
            result = fn(*args, **kwargs)
            return await result if asyncio.iscoroutine(result) else result

        for call in (lambda: run(client.make_post_request, url, body),
                     lambda: run(client.create_endpoint_handler(url), body),
                     lambda: run(client.create_chat_endpoint_handler(url), body)):
            with pytest.raises(APIStatusError):  # the listener answers 500
                await call()
        assert await run(client.test_endpoint, url) is False
        assert len(seen.seen) == 4
        assert all("authorization" not in h for h in seen.seen), seen.seen
        # An explicit opt-in sends it; the configured server gets it as always.
        with pytest.raises(APIStatusError):
            await run(client.make_post_request, url, body, send_api_key=True)
        assert seen.seen[-1]["authorization"] == f"Bearer {api_key}"
        own = await run(client.make_post_request, f"{keyed_server_url}/v1/completions", body)
        assert own["choices"]  # the real keyed server accepted the key: it was sent there
        await close_client(client)
    finally:
        other.shutdown()
        other.server_close()


def test_a_password_in_a_url_shows_nowhere(chat_server_url: str,
                                           caplog: pytest.LogCaptureFixture) -> None:
    from langchain_core.load import dumps

    from langchain_vllm_accel import ChatVLLM
    from vllm_accel import AllEndpointsFailedError, Endpoint, EndpointPool

    caplog.set_level(logging.DEBUG)
    real = urlsplit(chat_server_url)
    dead = f"http://ops:pw-dead-1@127.0.0.1:{_free_port()}"  # nothing listens: refused
    live = f"http://ops:pw-live-2@{real.hostname}:{real.port}"
    texts: dict[str, str] = {}
    pool = EndpointPool([Endpoint(dead), Endpoint(live)], failure_threshold=1)
    with VLLMClient(endpoints=pool, retry=FAST) as client:
        answer = client.complete("Hi", max_tokens=2)  # a is refused, fails over to b
        assert answer.text is not None
        texts |= {"repr": repr(client), "pool": repr(pool), "stats": repr(pool.stats()),
                  "endpoints": repr([s.endpoint for s in pool.endpoints]),
                  "health": repr(client.check_health())}
    assert any("failover 1 of POST /v1/completions" in r.getMessage() for r in caplog.records)
    pool2 = EndpointPool([Endpoint(dead), Endpoint(f"http://ops:pw-dead-3@127.0.0.1:"
                                                   f"{_free_port()}")])
    with VLLMClient(endpoints=pool2, retry=FAST) as client, \
            pytest.raises(AllEndpointsFailedError) as info:
        client.complete("Hi", max_tokens=2)
    texts |= {"all failed": str(info.value) + repr(info.value.causes),
              "traceback": "".join(traceback.format_exception(info.value))}
    with VLLMClient(f"http://ops:pw-single-4@127.0.0.1:{_free_port()}",
                    retry=RetryPolicy(max_retries=0)) as single, \
            pytest.raises(APIConnectionError) as refused:
        single.complete("Hi", max_tokens=1)
    texts |= {"single": repr(single) + str(refused.value)}
    llm = ChatVLLM(base_url=live, max_tokens=2)
    assert llm.invoke("Hi").content is not None
    texts |= {"langchain dumps": dumps(llm), "langchain repr": repr(llm),
              "langchain params": repr(llm._identifying_params)}
    texts["logs"] = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records
                              if r.name.startswith("vllm_accel"))
    assert "ops:***@" in texts["repr"] + texts["stats"]
    _scan(texts, "pw-dead-1", "pw-live-2", "pw-dead-3", "pw-single-4")
