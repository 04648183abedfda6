"""The public surface: exports, twin parity, secrets, config, cheap import."""

from __future__ import annotations

import inspect
import json
import pickle
import subprocess
import sys

import httpx
import pytest

import vllm_accel
from vllm_accel import AsyncVLLMClient, InvalidRequestError, RetryPolicy, Secret, VLLMClient

pytestmark = pytest.mark.unit

# Methods whose async twin returns an awaitable stream or handler instead of being a coroutine.
NOT_COROUTINES = {"stream_chat", "stream_generation", "make_stream_request", "stream_response",
                  "create_endpoint_handler", "create_chat_endpoint_handler", "set_api_key",
                  "stats", "reset_stats"}


def _public(cls: type) -> dict[str, object]:
    return {name: member for name, member in inspect.getmembers(cls)
            if not name.startswith("_") and callable(member)}


def test_all_is_sorted_and_complete() -> None:
    names = [n for n in vllm_accel.__all__ if n != "__version__"]
    assert names == sorted(names)
    for name in vllm_accel.__all__:
        assert hasattr(vllm_accel, name)
    public = {n for n in dir(vllm_accel) if not n.startswith("_")}
    # Subpackages appear as attributes once imported (by other tests): server, cli.
    helpers = {"annotations", "TYPE_CHECKING", "Any", "importlib", "server", "cli"}
    assert public - set(vllm_accel.__all__) <= helpers


def test_twins_have_the_same_methods_and_signatures() -> None:
    sync, asyn = _public(VLLMClient), _public(AsyncVLLMClient)
    assert set(sync) - {"close"} == set(asyn) - {"aclose"}
    for name in set(sync) - {"close"}:
        params = inspect.signature(sync[name]).parameters
        assert params == inspect.signature(asyn[name]).parameters, name
        is_coro = inspect.iscoroutinefunction(asyn[name])
        assert is_coro == (name not in NOT_COROUTINES), name
        assert not inspect.iscoroutinefunction(sync[name]), name
        assert (sync[name].__doc__ or "").strip(), f"{name} has no docstring"


def test_secret_never_shows() -> None:
    key = Secret("sk-live-123")
    for text in (repr(key), str(key), f"{key}", f"{key!r}", json.dumps({"k": str(key)})):
        assert "sk-live" not in text
    assert key.get_secret_value() == "sk-live-123"
    assert key == Secret("sk-live-123")
    assert key != Secret("other")
    with pytest.raises(TypeError):
        pickle.dumps(key)
    with pytest.raises(TypeError):
        Secret(123)  # type: ignore[arg-type]


def test_client_config_from_env_never_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLLM_BASE_URL", "http://gpu-box:8000/v1/")
    monkeypatch.setenv("VLLM_MODEL", "smollm2")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    client = VLLMClient()
    assert client.base_url == "http://gpu-box:8000"
    assert client.model == "smollm2"
    assert not client.has_api_key
    monkeypatch.setenv("VLLM_API_KEY", "sk-vllm")
    assert VLLMClient().has_api_key
    assert "sk-vllm" not in repr(VLLMClient())
    client.close()


def test_timeout_and_retry_config() -> None:
    client = VLLMClient("localhost:9", timeout=30, max_retries=5)
    assert client.base_url == "http://localhost:9"
    assert client.timeout == httpx.Timeout(30.0, connect=5.0)
    assert client.retry.max_retries == 5
    assert VLLMClient(retry=RetryPolicy(max_retries=0)).retry.max_retries == 0
    with pytest.raises(InvalidRequestError):
        VLLMClient(max_retries=1, retry=RetryPolicy())


def test_bad_input_fails_before_any_network_call() -> None:
    # Sockets are blocked in unit tests: reaching the network would raise SocketBlockedError.
    client = VLLMClient("http://127.0.0.1:9")
    with pytest.raises(InvalidRequestError, match="temperature"):
        client.chat("hi", temperature=3)
    with pytest.raises(InvalidRequestError, match="at most 4"):
        client.stream_chat("hi", stop=list("abcde"))
    with pytest.raises(InvalidRequestError, match="does not exist"):
        client.load_lora_adapter("x", "/nonexistent/adapter")
    with pytest.raises(InvalidRequestError, match="non-empty"):
        client.load_lora_adapter("", "/tmp")
    with pytest.raises(InvalidRequestError, match="exactly one of prompt or messages"):
        client.tokenize()
    with pytest.raises(InvalidRequestError, match="list of ints"):
        client.detokenize(["a"])  # type: ignore[list-item]
    assert client.stats().total_requests == 0


@pytest.mark.parametrize("statement", ["import vllm_accel",
                                       "from vllm_accel import VLLMClient, AsyncVLLMClient"])
def test_import_is_cheap_and_lazy(statement: str) -> None:
    # pydantic's model machinery and the wire models load on the first request (import cost).
    heavy = ("prometheus_client", "vllm", "torch", "openai", "vllm_accel.server",
             "vllm_accel._params", "vllm_accel._models", "pydantic.main", "vllm_accel._stream",
             "vllm_accel._batch", "vllm_accel._metrics", "vllm_accel._lora")
    code = f"import sys; {statement}; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    bare = "import sys, vllm_accel; print('vllm_accel._models' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", bare], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
