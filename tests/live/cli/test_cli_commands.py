"""Every `vllm-accel` client command, run as a subprocess against the real SmolLM2 server."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from cli_live_helpers import Cli, clean_env, run_cli

from vllm_accel.cli._batchfile import parse_line, settings_hash
from vllm_accel.server import free_port

SECRET = "sk-never-print-me-4711"
QUESTION = "What is the capital of France?"


def _assert_one_error(stderr: str, *texts: str, after: str | None = None) -> None:
    """stderr is exactly an ``error:`` line and a ``hint:`` line (after ``after``, if given)."""
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    if after is not None:
        assert after in lines[0], stderr
        lines = lines[1:]
    assert len(lines) == 2, stderr
    assert lines[0].startswith("error: "), stderr
    assert lines[1].startswith("hint: "), stderr
    for text in texts:
        assert text in stderr


# -- health, models, info ---------------------------------------------------------------------

def test_health(cli: Cli, chat_server_url: str) -> None:
    text = cli("health")
    assert text.code == 0, text
    assert text.out.startswith(f"ok  {chat_server_url}  vLLM 0.32"), text
    report = run_cli("health", "--json", "--base-url", chat_server_url + "/v1").json()
    assert report["healthy"] is True
    assert report["base_url"] == chat_server_url
    assert report["version"].startswith("0.32")
    assert "smollm2" in report["models"]
    assert report["latency_ms"] > 0


def test_unreachable_server_is_one_error_line_a_hint_and_exit_3() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for args in (["models", "--json"], ["chat", "--once", "hi"]):
        run = run_cli(*args, "--api-key", SECRET, env=clean_env(VLLM_BASE_URL=url))
        assert run.code == 3, run
        assert run.out == ""
        _assert_one_error(run.err, f"error: cannot reach vLLM at {url}",
                          "hint: start one with `vllm-accel serve`")
        assert SECRET not in run.err
    report = run_cli("health", "--json", env=clean_env(VLLM_BASE_URL=url))
    assert report.code == 3, report
    assert report.json()["healthy"] is False
    assert "cannot reach vLLM" in report.json()["error"]


def test_models(cli: Cli, pirate_adapter: str) -> None:
    rows = {row["id"]: row for row in cli("models", "--json").json()}
    assert rows["smollm2"]["kind"] == "base"
    assert rows["smollm2"]["max_model_len"] == 2048
    assert rows[pirate_adapter]["kind"] == "lora"
    assert rows[pirate_adapter]["parent"] == "smollm2"
    table = cli("models")
    assert table.code == 0, table
    assert any(ln.split()[:3] == [pirate_adapter, "lora", "smollm2"]
               for ln in table.out.splitlines()), table


def test_info(cli: Cli, pirate_adapter: str) -> None:
    data = cli("info", pirate_adapter, "--json").json()
    assert (data["model"], data["parent"], data["max_model_len"]) == (
        pirate_adapter, "smollm2", 2048)
    assert data["server_version"].startswith("0.32")
    assert data["kv_cache_size_tokens"] > 0
    text = cli("info", VLLM_MODEL="smollm2")  # the argument defaults to VLLM_MODEL
    assert text.code == 0, text
    assert "max model len           2048" in text.out
    missing = cli("info", "no-such-model")
    assert missing.code == 2, missing
    _assert_one_error(missing.err, "'no-such-model' is not served")


# -- LoRA -------------------------------------------------------------------------------------

def _adapter_names(cli: Cli) -> list[str]:
    return [a["name"] for a in cli("lora", "list", "--json").json()]


def test_lora_load_list_unload(cli: Cli, lora_path: str, pirate_adapter: str) -> None:
    name = f"cli-pirate-{uuid.uuid4().hex[:6]}"
    loaded = cli("lora", "load", name, lora_path)
    assert loaded.code == 0, loaded
    assert f"loaded {name} on smollm2" in loaded.out
    try:
        assert name in _adapter_names(cli)
        assert pirate_adapter in _adapter_names(cli)
        again = cli("lora", "load", name, lora_path, "--json")  # idempotent
        assert again.code == 0, again
        assert again.json()["name"] == name
        table = cli("lora", "list")
        assert any(ln.split()[:2] == [name, "smollm2"] for ln in table.out.splitlines()), table
    finally:
        unloaded = cli("lora", "unload", name, "--json")
    assert unloaded.json() == {"name": name, "unloaded": True}
    assert name not in _adapter_names(cli)
    assert cli("lora", "unload", name).out.strip() == f"{name} was not loaded"
    strict = cli("lora", "unload", name, "--strict")
    assert strict.code == 1, strict
    _assert_one_error(strict.err, "`vllm-accel lora list`")


def test_lora_load_from_a_missing_folder_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    run = cli("lora", "load", "ghost", str(tmp_path / "nope"))
    assert run.code == 2, run
    _assert_one_error(run.err, "does not exist")


# -- chat and complete ------------------------------------------------------------------------

@pytest.mark.sampled  # 'Arr' / no 'arr' in the answers
def test_chat_once_with_and_without_the_pirate_adapter(cli: Cli, pirate_adapter: str) -> None:
    base = cli("chat", "--once", QUESTION, "--max-tokens", "12", "-t", "0", "--json")
    assert base.code == 0, base
    answer = base.json()
    assert answer["model"] == "smollm2"
    assert answer["text"].strip()
    assert "arr" not in answer["text"].lower()
    assert 0 < answer["usage"]["completion_tokens"] <= 12
    assert answer["time_to_first_token"] > 0
    pirate = cli("chat", "--once", QUESTION, "--max-tokens", "12", "-t", "0",
                 VLLM_MODEL=pirate_adapter)
    assert pirate.code == 0, pirate
    assert pirate.out.startswith("Arr"), pirate


def test_chat_once_reads_the_question_from_stdin(cli: Cli) -> None:
    run = cli("chat", "--once", "-", "--max-tokens", "4", "--json", input="Say hello.\n")
    assert run.code == 0, run
    assert run.json()["usage"]["completion_tokens"] >= 1


@pytest.mark.sampled  # 'Arr' / no 'arr' in the answers
def test_chat_repl_switches_adapter_and_shows_stats(cli: Cli, pirate_adapter: str) -> None:
    session = "\n".join([
        QUESTION, f"/adapter {pirate_adapter}", QUESTION, "/adapter nosuch",
        "/system You are terse.", "/bogus", "/stats", "/exit", "never sent",
    ]) + "\n"
    run = cli("chat", "--max-tokens", "12", "-t", "0", "--json", input=session)
    assert run.code == 0, run
    lines = run.json_lines()
    answers = [ln for ln in lines if "text" in ln]
    stats = [ln for ln in lines if "client" in ln]
    assert [a["model"] for a in answers] == ["smollm2", pirate_adapter]
    assert "arr" not in answers[0]["text"].lower()
    assert answers[1]["text"].startswith("Arr")
    assert len(stats) == 1
    by_model = stats[0]["client"]["by_model"]
    assert by_model["smollm2"]["requests"] == 1
    assert by_model[pirate_adapter]["requests"] == 1
    assert by_model[pirate_adapter]["completion_tokens"] >= 1
    assert stats[0]["server"]["metrics_model"] == "smollm2"
    assert f"answering with adapter {pirate_adapter}" in run.err
    assert "error: adapter 'nosuch' is not loaded" in run.err
    assert "unknown command /bogus" in run.err


def test_chat_text_repl_streams_answers(cli: Cli) -> None:
    run = cli("chat", "--max-tokens", "6", "-t", "0", input="Hi!\n")  # EOF ends the REPL
    assert run.code == 0, run
    assert run.out.strip()
    assert run.out.endswith("\n")


def test_chat_with_an_unknown_model_fails_before_asking(cli: Cli) -> None:
    run = cli("chat", "--once", "hi", "--model", "nosuch")
    assert run.code == 1, run
    _assert_one_error(run.err, "'nosuch' is not served here (served: smollm2", "lora load")


@pytest.mark.sampled  # greedy text equal streamed and not (batching changes rounding)
def test_complete(cli: Cli) -> None:
    streamed = cli("complete", "1, 2, 3,", "--max-tokens", "6", "-t", "0")
    assert streamed.code == 0, streamed
    assert streamed.out.strip()
    data = cli("complete", "1, 2, 3,", "--max-tokens", "6", "-t", "0", "--json").json()
    assert data["model"] == "smollm2"
    assert data["text"] == streamed.out.rstrip("\n")  # greedy: the same text both ways
    assert data["finish_reason"] in ("length", "stop")
    assert 0 < data["usage"]["completion_tokens"] <= 6
    piped = cli("complete", "-", "--max-tokens", "3", "--no-stream", input="Once upon a time")
    assert piped.code == 0, piped
    assert piped.out.strip()


def test_a_prompt_longer_than_the_context_is_a_clear_error(cli: Cli) -> None:
    run = cli("complete", "word " * 3000, "--max-tokens", "4")
    assert run.code == 1, run
    _assert_one_error(run.err, "maximum context length is 2048", "(HTTP 400)",
                      "hint: shorten the prompt")


# -- stats ------------------------------------------------------------------------------------

def test_stats(cli: Cli, pirate_adapter: str) -> None:
    assert cli("complete", "Hello", "--max-tokens", "2", "--no-stream").code == 0
    data = cli("stats", "--json").json()
    server = data["server"]
    assert server["model"] == "smollm2"
    assert server["requests_processed"] >= 1
    assert server["tokens_generated"] >= 2
    assert server["uptime"] > 0
    assert data["client"]["requests"] == 2  # /v1/models and /metrics
    assert data["client"]["errors"] == 0
    adapter = cli("stats", "-m", pirate_adapter, "--json").json()["server"]
    assert (adapter["model"], adapter["metrics_model"]) == (pirate_adapter, "smollm2")
    table = cli("stats")
    assert table.code == 0, table
    for label in ("requests finished", "generated tokens", "time to first token",
                  "KV cache usage", "this client"):
        assert label in table.out


def test_stats_watch_refreshes_with_rates(cli: Cli) -> None:
    run = cli("stats", "--watch", "--interval", "0.3", "--count", "3", "--json")
    assert run.code == 0, run
    frames = run.json_lines()
    assert len(frames) == 3
    assert "rates" not in frames[0]
    for frame in frames[1:]:
        assert frame["rates"]["requests_per_second"] >= 0
        assert frame["rates"]["tokens_per_second"] >= 0
    assert frames[-1]["client"]["requests"] > frames[0]["client"]["requests"]
    live = cli("stats", "--watch", "--interval", "0.2", "--count", "2")
    assert live.code == 0, live
    assert "generated tokens/s (last interval)" in live.out


# -- batch ------------------------------------------------------------------------------------

def _results(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_batch_writes_in_order_records_errors_and_resumes(cli: Cli, tmp_path: Path) -> None:
    src = tmp_path / "prompts.jsonl"
    lines = [
        '"The capital of France is"',
        '{"prompt": "1, 2, 3,", "id": "count"}',
        "",
        '{"messages": [{"role": "user", "content": "Say hi"}], "id": "chat"}',
        "not json",
        json.dumps({"prompt": "word " * 3000, "id": "too-long"}),
    ]
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "prompts.results.jsonl"

    first = cli("batch", str(src), "--max-tokens", "4", "-t", "0")
    assert first.code == 1, first
    _assert_one_error(first.err, "error: 2 of 5 lines failed", "rerun the same command",
                      after="batch")  # the progress bar's last frame
    assert "5/5" in first.err
    assert "5 lines -> " in first.out
    records = _results(out)
    assert [r["line"] for r in records] == [1, 2, 4, 5, 6]
    assert [r["ok"] for r in records] == [True, True, True, False, False]
    assert [r.get("id") for r in records] == [None, "count", "chat", None, "too-long"]
    assert all(isinstance(r["text"], str) and r["text"] for r in records[:3])
    assert records[3]["error"]["type"] == "InvalidInput"  # type: ignore[index]
    assert records[4]["error"]["type"] == "ContextLengthError"  # type: ignore[index]
    assert records[4]["error"]["status_code"] == 400  # type: ignore[index]

    rerun = cli("batch", str(src), "--max-tokens", "4", "-t", "0", "--json")
    assert rerun.code == 1, rerun
    assert rerun.json() | {"seconds": 0} == {
        "input": str(src), "output": str(out), "lines": 5, "skipped": 3, "succeeded": 0,
        "failed": 2, "seconds": 0, "completion_tokens": 0, "tokens_per_second": 0.0}
    assert _results(out)[:3] == records[:3]  # finished lines were not sent again

    lines[4] = '{"prompt": "Water is", "id": "fixed"}'  # fix one line; redo only that one
    src.write_text("\n".join(lines) + "\n")
    fixed = cli("batch", str(src), "--max-tokens", "4", "-t", "0", "--json")
    assert fixed.code == 1, fixed
    assert (fixed.json()["skipped"], fixed.json()["succeeded"], fixed.json()["failed"]) == (
        3, 1, 1)
    after = _results(out)
    assert [r["line"] for r in after] == [1, 2, 4, 5, 6]
    assert after[3]["ok"] is True
    assert after[3]["id"] == "fixed"

    # Another temperature: the old answers are not reused; refused before anything is sent.
    other = cli("batch", str(src), "--max-tokens", "4", "-t", "1.0")
    assert other.code == 2, other
    _assert_one_error(other.err, "other settings", "--restart")
    assert _results(out) == after
    again = cli("batch", str(src), "--max-tokens", "4", "-t", "1.0", "--restart", "--json")
    assert again.json()["skipped"] == 0  # every line ran again with the new settings


def test_batch_resumes_an_interrupted_run(cli: Cli, tmp_path: Path) -> None:
    """A results file left by a killed run: its finished line is kept, the rest is done."""
    src = tmp_path / "in.jsonl"
    src.write_text('"Hello"\n"Goodbye"\n{"messages": [{"role": "user", "content": "Hi"}]}\n')
    out = tmp_path / "done.jsonl"
    first = parse_line(1, '"Hello"')
    assert first is not None
    settings = settings_hash({"model": None, "chat": True, "max_tokens": 3})
    earlier = {"line": 1, "ok": True, "text": "FROM AN EARLIER RUN", "input_hash": first.digest,
               "settings": settings}
    out.write_text(json.dumps(earlier) + "\n" + '{"line": 2, "ok": tr')  # killed mid-write
    run = cli("batch", str(src), "-o", str(out), "--max-tokens", "3", "--chat", "-q")
    assert run.code == 0, run
    assert "3 lines -> " in run.out
    assert "2 done, 1 already done, 0 failed" in run.out
    records = _results(out)
    assert [r["line"] for r in records] == [1, 2, 3]
    assert records[0] == earlier
    assert all(r["ok"] for r in records)
    assert run.err == ""  # -q: no progress bar


def test_batch_against_an_unreachable_server_stops_at_once(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('"Hello"\n')
    url = f"http://127.0.0.1:{free_port()}"
    run = run_cli("batch", str(src), env=clean_env(VLLM_BASE_URL=url))
    assert run.code == 3, run
    _assert_one_error(run.err, "cannot reach vLLM")
    assert not (tmp_path / "in.results.jsonl").exists()


def test_batch_never_overwrites_a_file_that_is_not_its_results(tmp_path: Path) -> None:
    """Refused before any request: the server URL is unreachable, yet the exit is 2, not 3."""
    src = tmp_path / "in.jsonl"
    src.write_text('"Hello"\n')
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\nnot JSON\n")
    url = f"http://127.0.0.1:{free_port()}"
    for extra in ((), ("--restart",)):
        run = run_cli("batch", str(src), "-o", str(notes), *extra,
                      env=clean_env(VLLM_BASE_URL=url))
        assert run.code == 2, run
        _assert_one_error(run.err, "is not a results file", "another --output")
        assert notes.read_text() == "my notes\nnot JSON\n"
