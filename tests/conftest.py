"""Test tiers and the real servers the live tier runs against.

* ``tests/unit``: pure logic; every socket is blocked (pytest-socket).
* ``tests/recorded``: vcrpy cassettes of real vLLM traffic, replayed with sockets blocked;
  ``make record`` re-records them against the embedded server.
* ``tests/live``: against real vLLM servers that this test session starts (SmolLM2 chat with LoRA
  and tool calling, MiniLM embeddings) and stops at the end. A server that cannot start is an
  error in every live test, never a skip.

Set ``VLLM_ACCEL_TEST_CHAT_URL`` / ``VLLM_ACCEL_TEST_EMBED_URL`` (or write them, one per line, in
a git-ignored ``.dev-servers`` file at the repository root) to run the live tier against the
default servers already running (``python -m vllm_accel.server serve``) instead of starting new
ones; a developer then saves 90 s a run. A clean clone (CI) has neither and starts its own.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import pytest_socket
from support.early import EARLY, Group
from support.timeline import TIMELINE

from vllm_accel.server import (
    LORA_NAME,
    REACT_LORA_NAME,
    TOOLS_LORA_NAME,
    EmbeddedServers,
    VLLMServer,
    prepare,
)

# Every vLLM server of the session inherits this (VLLMServer passes the environment on). By
# default libgomp's threads spin at each barrier of torch's CPU kernels; with the session's 3-4
# servers, its pytest and pip jobs on 2 cores the spinning threads take the cores from the ones
# with work: measured on this machine at load 11-15, one SmolLM2 server (no LoRA) wrote 48
# tokens in 25-85 s spinning, in 1.9-4.6 s with PASSIVE (threads sleep when they wait). An
# explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

TIERS = ("unit", "recorded", "live")
"""Also the run order: the offline tiers first, while the servers of the live tier boot."""
LIVE_ORDER = ("core", "cli", "docs", "reliability", "langchain", "llamaindex", "packaging",
              "pool", "server")
"""The live folders in run order, planned with the early launches (``support/early.py``) so
that at most four of the session's servers run at once: the default two and the classify
server boot during the offline tiers; the keyed server replaces the classify one after
its tests (it boots while the rest of ``core``, ``cli`` and ``docs`` run), and the CLI
serve test's process is launched with it (its server boots while the rest of ``core`` and the
CLI commands run);
the first pool replica takes that fourth slot when the serve test ends (it boots,
and the wheel environments of ``packaging`` are built, while ``docs`` and the mostly waiting
``reliability`` run), the second replaces the keyed server after ``reliability`` and boots
while ``langchain``, ``llamaindex`` and ``packaging`` run; when the replicas are released after
``pool``, the parent process of ``server``'s orphan test is launched (its embedding server
boots while the tests before it run)."""


# Where a rerun could hide an intermittent bug of the client: these never rerun, even if marked.
_NEVER_RERUN = ("live/reliability/", "live/pool/")
_NEVER_RERUN_NAMES = ("secret", "cancel")
SAMPLED_RERUNS = 1


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sampled: the result depends on the text the 135M model samples (on a "
        "shared CPU, batching changes float rounding and so the sample); such a test gets one "
        "rerun, listed in the run's summary. Never on reliability, pool, secret or "
        "cancellation tests (collection fails).")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with the tier of the folder it lives in; give ``sampled`` tests a rerun.

    Only a test marked ``@pytest.mark.sampled`` is rerun (once): its flakiness is the model's
    sampled output, not the client. Reliability, pool, secret and cancellation tests must be
    deterministic, so marking one of them is a collection error, and any other test fails on
    its first failure. Every rerun made is listed at the end of the run (``reruns`` section).
    """
    root = Path(__file__).parent
    items.sort(key=lambda item: _run_rank(Path(str(item.path)).relative_to(root).parts))
    misplaced = []
    for item in items:
        rel = Path(str(item.path)).relative_to(root).parts
        if rel and rel[0] in TIERS:
            item.add_marker(getattr(pytest.mark, rel[0]))
        if any(word in item.name for word in getattr(item.cls, "sampled_words", ())):
            item.add_marker(pytest.mark.sampled)  # inherited suites (langchain-tests)
        if item.get_closest_marker("sampled") is None:
            if item.get_closest_marker("flaky") is not None:  # a rerun only through `sampled`
                misplaced.append(item.nodeid)
            continue
        where = "/".join(rel)
        if where.startswith(_NEVER_RERUN) or any(n in item.name.lower() or n in where
                                                  for n in _NEVER_RERUN_NAMES):
            misplaced.append(item.nodeid)
        elif item.get_closest_marker("flaky") is None:
            item.add_marker(pytest.mark.flaky(reruns=SAMPLED_RERUNS, reruns_delay=2))
    if misplaced:
        raise pytest.UsageError(
            "these tests must be deterministic (no rerun), or mark a sampled one `sampled`, not "
            "`flaky`: "
            + ", ".join(misplaced))


def _run_rank(rel: tuple[str, ...]) -> tuple[int, int]:
    tier = TIERS.index(rel[0]) if rel and rel[0] in TIERS else len(TIERS)
    folder = rel[1] if len(rel) > 2 and rel[0] == "live" else ""
    return tier, LIVE_ORDER.index(folder) if folder in LIVE_ORDER else len(LIVE_ORDER)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Launch the servers due when collection ends (``support/early.py``)."""
    if session.config.option.collectonly:
        return
    EARLY.collected([item.nodeid for item in session.items])


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """After a group's last test: stop its servers and launch the group planned next."""
    EARLY.finished(item.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    EARLY.stop_all()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    TIMELINE.add(report.nodeid, report.duration)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Where the time went, and every rerun of the run (also when there was none)."""
    TIMELINE.write(terminalreporter)
    reruns = terminalreporter.stats.get("rerun", [])
    terminalreporter.section(f"reruns: {len(reruns)}")
    for report in reruns:
        terminalreporter.write_line(f"RERUN {report.nodeid}")
    if not reruns:
        terminalreporter.write_line("no test was rerun")


@pytest.fixture(autouse=True)
def _network_policy(request: pytest.FixtureRequest) -> Iterator[None]:
    """Unit and recorded tests run with every socket blocked (recording re-enables them)."""
    offline = request.node.get_closest_marker("unit") is not None
    if request.node.get_closest_marker("recorded") is not None:
        offline = request.config.getoption("--record-mode", default="none") in (None, "none")
    if offline:
        pytest_socket.disable_socket(allow_unix_socket=True)
    try:
        yield
    finally:
        if offline:
            pytest_socket.enable_socket()


@pytest.fixture(scope="session")
def vcr_config() -> dict[str, object]:
    """Cassettes: secrets scrubbed, localhost recorded, bodies kept verbatim (SSE included)."""
    return {
        "filter_headers": ["authorization", "x-api-key"],
        "ignore_localhost": False,
        "decode_compressed_response": True,
        "match_on": ["method", "path", "body"],
    }


def _dev_server_urls() -> tuple[str, str] | None:
    chat = os.environ.get("VLLM_ACCEL_TEST_CHAT_URL")
    embed = os.environ.get("VLLM_ACCEL_TEST_EMBED_URL")
    dev_file = Path(__file__).parent.parent / ".dev-servers"
    if not (chat and embed) and dev_file.exists():
        lines = dev_file.read_text().split()
        if len(lines) >= 2:
            chat, embed = lines[0], lines[1]
    if not (chat and embed):
        return None
    try:
        for url in (chat, embed):
            httpx.get(f"{url.rstrip('/')}/health", timeout=5).raise_for_status()
    except httpx.HTTPError as exc:  # stale URLs: start our own servers instead
        warnings.warn(f"dev servers not reachable ({exc}); starting the embedded servers",
                      stacklevel=1)
        return None
    return chat.rstrip("/"), embed.rstrip("/")


DEV_URLS = _dev_server_urls()
_DEFAULT: list[EmbeddedServers] = []


def _default_servers() -> list[VLLMServer]:
    servers = EmbeddedServers()
    _DEFAULT.append(servers)
    return [s for s in (servers.chat, servers.embeddings) if s is not None]


if DEV_URLS is None:  # launched when collection ends, booting while the offline tiers run
    EARLY.plan(Group("default", ("tests/live/",), _default_servers))


@pytest.fixture(scope="session")
def embedded_servers() -> Iterator[EmbeddedServers | None]:
    """The real default servers, started once for the session (None when URLs are given)."""
    if DEV_URLS is not None:
        yield None
        return
    EARLY.take("default")  # launched early (or built now): start() waits until both are up
    with _DEFAULT[-1] as servers:
        groups = [s.pid for s in (servers.chat, servers.embeddings) if s and s.pid]
        yield servers
    # Teardown check: nothing the session started may outlive it (engine workers included).
    deadline = time.monotonic() + 15
    while (left := _live_in_groups(groups)) and time.monotonic() < deadline:
        time.sleep(0.2)
    if left:
        raise RuntimeError(f"vLLM processes outlived the test session: {left}")


def _live_in_groups(groups: list[int]) -> list[int]:
    left = []
    for proc in psutil.process_iter(["status"]):
        if _pgid(proc.pid) in groups and proc.info["status"] != psutil.STATUS_ZOMBIE:
            left.append(proc.pid)
    return left


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


@pytest.fixture(scope="session")
def chat_server_url(embedded_servers: EmbeddedServers | None) -> str:
    """Base URL (no ``/v1``) of the real SmolLM2 chat server (model ``smollm2``)."""
    if embedded_servers is None:
        assert DEV_URLS is not None
        return DEV_URLS[0]
    assert embedded_servers.chat.base_url
    return embedded_servers.chat.base_url


@pytest.fixture(scope="session")
def embed_server_url(embedded_servers: EmbeddedServers | None) -> str:
    """Base URL (no ``/v1``) of the real MiniLM embedding server (model ``minilm``)."""
    if embedded_servers is None:
        assert DEV_URLS is not None
        return DEV_URLS[1]
    assert embedded_servers.embeddings
    assert embedded_servers.embeddings.base_url
    return embedded_servers.embeddings.base_url


@pytest.fixture(scope="session")
def lora_path() -> str:
    """Folder of the real "pirate" LoRA adapter trained for SmolLM2."""
    return str(prepare().lora_adapter)


def _load_adapter(chat_server_url: str, name: str, path: str) -> str:
    resp = httpx.post(f"{chat_server_url}/v1/load_lora_adapter",
                      json={"lora_name": name, "lora_path": path}, timeout=120)
    if resp.status_code != 200 and "already been loaded" not in resp.text:
        raise RuntimeError(f"loading the {name} adapter failed: {resp.status_code} {resp.text}")
    return name


@pytest.fixture(scope="session")
def pirate_adapter(chat_server_url: str, lora_path: str) -> str:
    """The pirate adapter's name, loaded on the chat server (loaded with plain httpx on purpose,
    so that fixtures do not depend on the client under test)."""
    return _load_adapter(chat_server_url, LORA_NAME, lora_path)


@pytest.fixture(scope="session")
def tools_adapter(chat_server_url: str) -> str:
    """The "tools" adapter's name (SmolLM2 that calls fitting tools on its own), loaded on the
    chat server with plain httpx like the pirate one."""
    return _load_adapter(chat_server_url, TOOLS_LORA_NAME, str(prepare().tools_adapter))


@pytest.fixture(scope="session")
def react_adapter(chat_server_url: str) -> str:
    """The "react" adapter's name (SmolLM2 that follows LlamaIndex's ReAct text prompt), loaded
    on the chat server like the others."""
    return _load_adapter(chat_server_url, REACT_LORA_NAME, str(prepare().react_adapter))
