"""Key hygiene, origins, URL masking, the breaker's verdicts and the request limits (pure logic).

The live proofs (a real server with ``--api-key``, a plain local listener that records headers)
are in ``tests/live/reliability/test_secrets.py``; these pin the decision tables.
"""

from __future__ import annotations

import gzip
import traceback

import httpx
import pytest

from vllm_accel import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    BadRequestError,
    DeadlineExceededError,
    Endpoint,
    EndpointPool,
    IncompleteStreamError,
    InternalServerError,
    InvalidAPIKeyError,
    InvalidRequestError,
    NotFoundError,
    RateLimitError,
    ResponseTooLargeError,
    RetryPolicy,
    Secret,
    ServiceUnavailableError,
    StreamError,
    TLSError,
    VLLMClient,
    redact_url,
)
from vllm_accel._batch import as_error
from vllm_accel._health import outcome_of
from vllm_accel._limits import Limits, check_headers
from vllm_accel._secret import to_secret
from vllm_accel._translate import error_from_httpx
from vllm_accel._urls import same_origin

pytestmark = pytest.mark.unit

KEY = "sk-unit-0123456789abcdef"


# -- keys ------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [KEY + "\n", f"  {KEY}\r\n", f"\t{KEY} "])
def test_a_key_is_stripped_like_a_key_file_needs(raw: str) -> None:
    secret = to_secret(raw)
    assert secret is not None
    assert secret.get_secret_value() == KEY
    client = VLLMClient("http://127.0.0.1:9", api_key=raw)
    request = client._request(client._http, client._call("POST", "/v1/completions", json={}))
    assert request.headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize("bad", [KEY[:5] + "\n" + KEY[5:], KEY + "\x00x", KEY + "é",
                                 KEY + "\u2028x", "sk-\x7f-" + KEY])
def test_a_key_that_cannot_be_a_header_is_a_typed_error_that_never_shows_it(
        bad: str, monkeypatch: pytest.MonkeyPatch) -> None:
    client = VLLMClient("http://127.0.0.1:9")
    attempts = [
        lambda: VLLMClient("http://127.0.0.1:9", api_key=bad),
        lambda: client.set_api_key(bad),
        lambda: client._call("POST", "/v1/completions", api_key=bad),
        lambda: Endpoint("http://127.0.0.1:9", api_key=bad),
        lambda: EndpointPool(["http://127.0.0.1:9"]).set_api_key("http://127.0.0.1:9", bad),
        lambda: to_secret(Secret(bad)),
    ]
    if "\x00" not in bad:  # the OS refuses a NUL in the environment
        monkeypatch.setenv("VLLM_API_KEY", bad)
        attempts.append(lambda: VLLMClient("http://127.0.0.1:9"))
    for attempt in attempts:
        with pytest.raises(InvalidAPIKeyError) as info:
            attempt()
        assert isinstance(info.value, InvalidRequestError)
        shown = "".join(traceback.format_exception(info.value)) + repr(info.value)
        assert KEY not in shown
        assert KEY[:8] not in shown.replace("sk-unit-", "", 0)
        assert bad not in shown
        assert info.value.__cause__ is None
        assert info.value.__context__ is None


def test_empty_and_blank_keys_mean_no_key() -> None:
    assert to_secret("  \n") is None
    assert not VLLMClient("http://127.0.0.1:9", api_key="\n").has_api_key


def test_extra_headers_are_checked_before_anything_is_sent() -> None:
    assert check_headers({"X-A": " v "}) == {"X-A": "v"}
    for headers in ({"X-A": "é"}, {"X-A": "a\nb"}, {"X A": "v"}, {"": "v"}, {"X:A": "v"}):
        with pytest.raises(InvalidRequestError) as info:
            VLLMClient("http://127.0.0.1:9", headers=headers)
        assert "é" not in str(info.value)
        assert "a\nb" not in str(info.value)


# -- origins ---------------------------------------------------------------------------------

def _auth(client: VLLMClient, url: str, **kwargs: object) -> str | None:
    call = client._call("POST", url, json={}, **kwargs)  # type: ignore[arg-type]
    return client._request(client._http, call).headers.get("authorization")


def test_the_key_goes_only_to_the_configured_origin() -> None:
    client = VLLMClient("http://127.0.0.1:8000", api_key=KEY)
    assert _auth(client, "/v1/completions") == f"Bearer {KEY}"
    assert _auth(client, "http://127.0.0.1:8000/v1/completions") == f"Bearer {KEY}"
    for elsewhere in ("http://127.0.0.1:8001/v1/completions", "https://127.0.0.1:8000/x",
                      "http://localhost:8000/v1/completions",
                      "http://127.0.0.1.evil.example:8000/v1", "http://evil@127.0.0.2:8000/"):
        assert _auth(client, elsewhere) is None, elsewhere
    # Opting in: the flag, or a key passed for this very request.
    assert _auth(client, "http://127.0.0.1:8001/x", send_api_key=True) == f"Bearer {KEY}"
    assert _auth(client, "http://127.0.0.1:8001/x", api_key="sk-other") == "Bearer sk-other"


def test_a_pool_sends_an_absolute_url_only_the_key_of_the_endpoint_it_names() -> None:
    pool = EndpointPool([Endpoint("http://127.0.0.1:8000", api_key="sk-a"),
                         Endpoint("http://127.0.0.1:8001", api_key="sk-b")])
    client = VLLMClient(endpoints=pool, api_key=KEY)
    assert _auth(client, "http://127.0.0.1:8001/v1/x") == "Bearer sk-b"
    assert _auth(client, "http://127.0.0.1:8002/v1/x") is None
    assert _auth(client, "http://127.0.0.1:8002/v1/x", send_api_key=True) is None


def test_same_origin_uses_scheme_host_and_default_ports() -> None:
    assert same_origin("https://h/v1", "https://H:443")
    assert same_origin("http://h:80/v1", "http://h")
    assert not same_origin("http://h:8000", "http://h:8001")
    assert not same_origin("http://h", "https://h")


# -- masking ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "shown"), [
    ("http://user:pw@h:1/v1", "http://user:***@h:1/v1"),
    ("http://sk-token@h:1", "http://***@h:1"),
    ("http://h:1/?api_key=sk&x=1", "http://h:1/?api_key=***&x=1"),
    ("http://h:1", "http://h:1"),
])
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_credentials_in_urls_show_nowhere() -> None:
    pool = EndpointPool(["http://u:pw-a@127.0.0.1:1", "http://u:pw-b@127.0.0.1:2"],
                        failure_threshold=1)
    client = VLLMClient(endpoints=pool)
    texts = [repr(client), repr(pool), repr(pool.endpoints[0].endpoint), *pool.stats(),
             *(s.base_url for s in pool.stats().values()),
             repr(VLLMClient("http://u:pw-c@127.0.0.1:3"))]
    state = pool.endpoints[0]
    pool.release(state, "failure", APIConnectionError("refused"))
    error = pool.all_failed(pool.endpoints, {})
    texts += [str(error), *error.causes]
    assert not [t for t in texts if "pw-" in t], texts
    assert error_from_httpx(httpx.InvalidURL("bad url http://u:pw-d@h")).message.count("pw-") == 0


# -- the breaker's verdicts ------------------------------------------------------------------

def _status(cls: type[APIError], code: int) -> APIError:
    return cls("x", status_code=code)


@pytest.mark.parametrize(("error", "kwargs", "verdict"), [
    (None, {}, "success"),
    (_status(BadRequestError, 400), {}, "success"),
    (_status(InternalServerError, 500), {}, "failure"),
    (_status(InternalServerError, 502), {}, "failure"),
    (_status(InternalServerError, 504), {}, "failure"),
    (_status(ServiceUnavailableError, 503), {}, "neutral"),
    (_status(RateLimitError, 429), {}, "neutral"),
    (APIError("unexpected response", status_code=200), {}, "failure"),  # an HTML 200
    (_status(NotFoundError, 404), {"model": "smollm2", "base_models": {"smollm2"}}, "failure"),
    (_status(NotFoundError, 404), {"model": None, "route": "/v1/completions"}, "failure"),
    (_status(NotFoundError, 404), {"model": "pirate", "base_models": {"smollm2"}}, "success"),
    (APIConnectionError("refused"), {}, "failure"),
    (APITimeoutError("read timeout"), {}, "failure"),
    (IncompleteStreamError("cut"), {}, "failure"),
    (StreamError("in-band", status_code=500), {}, "failure"),
    (InvalidRequestError("illegal header"), {}, "neutral"),
    (APIConnectionError("local", is_retryable=False), {}, "neutral"),
    (TLSError("CERTIFICATE_VERIFY_FAILED"), {}, "neutral"),
    (ResponseTooLargeError("too large"), {}, "neutral"),
    (DeadlineExceededError("deadline"), {}, "neutral"),
    (KeyboardInterrupt(), {}, "neutral"),
])
def test_the_breaker_judges_what_the_replica_did(error: BaseException | None,
                                                 kwargs: dict[str, object], verdict: str) -> None:
    assert outcome_of(error, **kwargs) == verdict  # type: ignore[arg-type]


def test_a_tls_failure_is_typed_and_not_retried() -> None:
    import ssl

    cause = ssl.SSLCertVerificationError("certificate verify failed")
    exc = httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED]")
    exc.__cause__ = cause
    error = error_from_httpx(exc)
    assert type(error) is TLSError
    assert not error.is_retryable


# -- limits ----------------------------------------------------------------------------------

def test_limits_are_checked_and_clip_every_timeout() -> None:
    for bad in (0, -1.0):
        with pytest.raises(InvalidRequestError):
            Limits.make(deadline=bad)
        with pytest.raises(InvalidRequestError):
            VLLMClient("http://127.0.0.1:9", max_response_bytes=int(bad))
    limits = Limits.make(deadline=2.0)
    clipped = limits.clip(httpx.Timeout(600, connect=5))
    assert all(v is not None and v <= 2.0 for v in (clipped.connect, clipped.read,
                                                     clipped.write, clipped.pool))
    assert limits.allows(0.5) == 0.5
    assert limits.allows(5.0) is None  # a sleep past the deadline: give up now
    assert Limits.make(deadline=None).clip(httpx.Timeout(7)).read == 7


def test_a_passed_deadline_turns_the_last_error_into_deadline_exceeded() -> None:
    limits = Limits(deadline=0.001, started=0.0)
    error = limits.exceeded(APITimeoutError("read timeout", request_id="r"))
    assert type(error) is DeadlineExceededError
    assert error.request_id == "r"
    assert isinstance(error.__cause__, APITimeoutError)
    assert not error.is_retryable


def _mock_client(body: bytes, seen: list[httpx.Request], encoding: str = "identity",
                 **kwargs: object) -> VLLMClient:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=body, headers={"content-type": "application/json",
                                                          "content-encoding": encoding})

    return VLLMClient("http://127.0.0.1:9", http_client=httpx.Client(
        transport=httpx.MockTransport(answer)), retry=RetryPolicy(max_retries=3,
                                                                  initial_delay=0), **kwargs)  # type: ignore[arg-type]


def test_a_response_over_the_cap_is_a_typed_error_and_is_not_retried() -> None:
    seen: list[httpx.Request] = []
    big = b'{"x": "' + b"a" * 5000 + b'"}'
    with _mock_client(big, seen, max_response_bytes=1000) as client:
        with pytest.raises(ResponseTooLargeError):
            client.make_post_request("/v1/completions", {"prompt": "x"})
        assert len(seen) == 1
        assert client.stats().total_errors == 1
        # Per call: a larger cap for this request only.
        seen.clear()
        answer = client._body(*_send(client, max_response_bytes=10_000))
        assert answer == {"x": "a" * 5000}
        assert len(seen) == 1


def test_a_compressed_body_is_capped_on_its_decoded_bytes() -> None:
    """A gzip bomb (1 MB of JSON in ~1 KB on the wire) is refused once decoded past the cap;
    under the cap the decoded body is read as usual."""
    seen: list[httpx.Request] = []
    bomb = gzip.compress(b'{"x": "' + b"a" * (1 << 20) + b'"}')
    assert len(bomb) < 5000
    with _mock_client(bomb, seen, encoding="gzip", max_response_bytes=100_000) as client:
        with pytest.raises(ResponseTooLargeError):
            client.make_post_request("/v1/completions", {"prompt": "x"})
        assert len(seen) == 1
        answer = client._body(*_send(client, max_response_bytes=2 << 20))
        assert answer == {"x": "a" * (1 << 20)}


async def test_a_compressed_body_is_capped_on_its_decoded_bytes_async() -> None:
    from vllm_accel import AsyncVLLMClient

    bomb = gzip.compress(b'{"x": "' + b"a" * (1 << 20) + b'"}')
    transport = httpx.MockTransport(lambda request: httpx.Response(
        200, content=bomb, headers={"content-type": "application/json",
                                    "content-encoding": "gzip"}))
    for cap, fits in ((100_000, False), (2 << 20, True)):
        async with AsyncVLLMClient("http://127.0.0.1:9", max_retries=0, max_response_bytes=cap,
                                   http_client=httpx.AsyncClient(transport=transport)) as client:
            if not fits:
                with pytest.raises(ResponseTooLargeError):
                    await client.make_post_request("/v1/completions", {"prompt": "x"})
                continue
            answer = await client.make_post_request("/v1/completions", {"prompt": "x"})
            assert answer == {"x": "a" * (1 << 20)}


def _send(client: VLLMClient, **limits: object) -> tuple[object, httpx.Response]:
    call = client._call("POST", "/v1/completions", json={}, **limits)  # type: ignore[arg-type]
    return call, client._send(call)


def test_process_batch_never_raises_whatever_one_item_hits() -> None:
    error = as_error(UnicodeEncodeError("ascii", "é", 0, 1, "ordinal not in range"))
    assert isinstance(error, InvalidRequestError)
    assert "é" not in str(error)
    assert isinstance(as_error(RuntimeError("x")), APIError)
    typed = RateLimitError("slow", status_code=429)
    assert as_error(typed) is typed


def test_a_retry_after_date_is_read_against_the_server_clock() -> None:
    import email.utils
    import time

    from vllm_accel._translate import error_from_response

    ahead = time.time() + 3600  # the server's clock is an hour ahead of ours
    response = httpx.Response(503, content=b"{}", headers={
        "date": email.utils.formatdate(ahead, usegmt=True),
        "retry-after": email.utils.formatdate(ahead + 2, usegmt=True)})
    assert 1.0 <= (error_from_response(response).retry_after or 0) <= 2.0
    no_date = httpx.Response(503, content=b"{}", headers={"retry-after": "3"})
    assert error_from_response(no_date).retry_after == 3.0


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_batch_item_that_hits_a_foreign_exception_fails_alone(kind: str) -> None:
    from vllm_accel import AsyncVLLMClient

    def answer(request: httpx.Request) -> httpx.Response:  # no answer is faked: all fail
        if b"boom" in request.content:
            raise UnicodeEncodeError("ascii", "\u00e9", 0, 1, "not ascii")  # not an httpx error
        raise httpx.ConnectError("refused", request=request)

    prompts = ["fine", "boom", "fine too"]
    if kind == "sync":
        with VLLMClient("http://127.0.0.1:9", max_retries=0, http_client=httpx.Client(
                transport=httpx.MockTransport(answer))) as client:
            items = client.process_batch(prompts, mode="chat")
    else:
        async with AsyncVLLMClient("http://127.0.0.1:9", max_retries=0,
                                   http_client=httpx.AsyncClient(
                                       transport=httpx.MockTransport(answer))) as aclient:
            items = await aclient.process_batch(prompts, mode="chat")
    assert [i.index for i in items] == [0, 1, 2]
    assert [type(i.error) for i in items] == [APIConnectionError, InvalidRequestError,
                                              APIConnectionError]
    assert isinstance(items[1].error.__cause__, UnicodeEncodeError)
