"""`vllm-accel` without a server: argument parsing, error reporting, REPL and table logic."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from vllm_accel import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ContextLengthError,
    InternalServerError,
    InvalidRequestError,
    ModelStatistics,
    NotFoundError,
    StreamError,
    VLLMError,
)
from vllm_accel.cli import app
from vllm_accel.cli._chat import ChatSession, parse_command
from vllm_accel.cli._common import describe, mask_url
from vllm_accel.cli._serve import parse_lora
from vllm_accel.cli._stats import fmt_duration, fmt_seconds, rates, server_rows

runner = CliRunner()
URL = "http://127.0.0.1:8000"
COMMANDS = ("serve", "chat", "complete", "models", "info", "health", "stats", "lora", "batch")


def test_importing_the_package_does_not_import_the_cli_dependencies() -> None:
    # httpx itself imports rich (for its own CLI) when rich is installed, so compare with it.
    code = ("import sys, httpx; before = set(sys.modules); import vllm_accel; "
            "print(sorted(m for m in set(sys.modules) - before "
            "if m.split('.')[0] in ('typer', 'rich', 'click') or m.startswith('vllm_accel.cli')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


def test_help_lists_every_command_and_the_exit_codes() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command in result.output
    assert "3 server unreachable" in result.output


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("vllm-accel ")


@pytest.mark.parametrize("command", [
    ["models"], ["info"], ["health"], ["stats"], ["chat"], ["complete"], ["batch"],
    ["lora", "list"], ["lora", "load"], ["lora", "unload"],
])
def test_every_client_command_takes_the_connection_options(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for option in ("--base-url", "--api-key", "--json", "VLLM_BASE_URL", "VLLM_API_KEY"):
        assert option in result.output, (command, option)


def test_help_never_shows_the_api_key_from_the_environment() -> None:
    env = {"VLLM_API_KEY": "sk-super-secret-42", "COLUMNS": "200"}
    for command in (["chat"], ["serve"], ["lora", "load"]):
        result = runner.invoke(app, [*command, "--help"], env=env)
        assert result.exit_code == 0
        assert "sk-super-secret-42" not in result.output


def test_unknown_command_and_bad_option_are_usage_errors() -> None:
    assert runner.invoke(app, ["chatt"]).exit_code == 2
    assert runner.invoke(app, ["stats", "--interval", "0"]).exit_code == 2
    assert runner.invoke(app, ["chat", "--temperature", "9"]).exit_code == 2


def test_batch_of_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["batch", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_batch_refuses_to_overwrite_its_input(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('"a"\n')
    result = runner.invoke(app, ["batch", str(src), "-o", str(src)])
    assert result.exit_code == 2
    assert "would overwrite the input" in result.output


def test_serve_rejects_a_malformed_lora_flag_before_starting_anything(tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve", "--lora", "no-equals-sign"])
    assert result.exit_code == 2
    assert "NAME=PATH" in result.output
    assert parse_lora(f"mine={tmp_path}") == ("mine", tmp_path.resolve())
    with pytest.raises(typer.BadParameter, match="does not exist"):
        parse_lora(f"mine={tmp_path / 'missing'}")


def test_serve_rejects_a_folder_that_is_not_a_model(tmp_path: Path) -> None:
    result = runner.invoke(app, ["serve", "--model", str(tmp_path)])
    assert result.exit_code == 2
    assert "no config.json" in result.output


# -- error reporting --------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("error", "code", "message", "hint"),
    [
        (APIConnectionError("ConnectError: [Errno 111] Connection refused"), 3,
         f"cannot reach vLLM at {URL}: [Errno 111] Connection refused", "vllm-accel serve"),
        (APITimeoutError("ReadTimeout: timed out"), 3, "did not answer in time (timed out)",
         "--timeout"),
        (AuthenticationError("Unauthorized", status_code=401), 1, "requires an API key",
         "--api-key"),
        (NotFoundError("The model `x` does not exist.", status_code=404), 1,
         "The model `x` does not exist. (HTTP 404)", "vllm-accel models"),
        (ContextLengthError("too long", status_code=400), 1, "too long (HTTP 400)",
         "--max-tokens"),
        (BadRequestError("bad", status_code=400), 1, "bad (HTTP 400)", "--help"),
        (InternalServerError("boom", status_code=500), 1, "boom", "log"),
        (StreamError("server error during streaming: x"), 1, "during streaming", "log"),
        (InvalidRequestError("max_tokens must be > 0"), 2, "max_tokens must be > 0", "--help"),
        (VLLMError("odd"), 1, "odd", "vllm-accel health"),
    ],
)
def test_describe(error: VLLMError, code: int, message: str, hint: str) -> None:
    failure = describe(error, URL)
    assert failure.code == code
    assert message in failure.message
    assert hint in failure.hint
    assert "\n" not in failure.message + failure.hint


def test_a_rejected_key_is_told_apart_from_a_missing_one() -> None:
    error = AuthenticationError("Unauthorized", status_code=401)
    assert "rejected the API key" in describe(error, URL, api_key_given=True).message


def test_printed_urls_never_carry_a_password() -> None:
    assert mask_url("http://bob:hunter2@host:8000/v1") == "http://bob:***@host:8000/v1"
    assert mask_url(URL) == URL


# -- chat REPL logic --------------------------------------------------------------------------

@pytest.mark.parametrize(("line", "parsed"), [
    ("/adapter pirate", ("adapter", "pirate")),
    ("  /SYSTEM  Be brief. ", ("system", "Be brief.")),
    ("/exit", ("exit", "")),
    ("What is 2+2?", None),
    ("//not a command", None),
])
def test_parse_command(line: str, parsed: tuple[str, str] | None) -> None:
    assert parse_command(line) == parsed


def test_chat_session_builds_messages_with_system_and_history() -> None:
    session = ChatSession(model="smollm2", system="Be brief.")
    assert session.target == "smollm2"
    session.remember("Hi", "Hello!")
    session.adapter = "pirate"
    assert session.target == "pirate"
    assert session.messages("Bye") == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Bye"},
    ]


# -- statistics table -------------------------------------------------------------------------

def _stats(requests: int, tokens: int) -> ModelStatistics:
    return ModelStatistics(model="pirate", metrics_model="smollm2", requests_processed=requests,
                           requests_by_finish_reason={"stop": requests, "abort": 0},
                           tokens_generated=tokens, avg_generation_time=0.25, uptime=3725.0,
                           kv_cache_usage=0.125)


def test_server_rows() -> None:
    rows = dict(server_rows(_stats(4, 40), {"requests_per_second": 2.0,
                                            "tokens_per_second": 10.0}))
    assert rows["model"] == "pirate (counted as smollm2)"
    assert rows["requests finished"] == "4  (stop 4)"
    assert rows["latency (avg)"] == "250.0 ms"
    assert rows["KV cache usage"] == "12.5%"
    assert rows["uptime"] == "1h 02m 05s"
    assert rows["generated tokens/s (last interval)"] == "10.0"


def test_rates_between_two_scrapes() -> None:
    assert rates(_stats(4, 40), _stats(6, 100), 2.0) == {
        "requests_per_second": 1.0, "tokens_per_second": 30.0}


@pytest.mark.parametrize(("seconds", "shown"), [
    (None, "-"), (0.0123, "12.3 ms"), (2.5, "2.50 s")])
def test_fmt_seconds(seconds: float | None, shown: str) -> None:
    assert fmt_seconds(seconds) == shown


def test_fmt_duration() -> None:
    assert [fmt_duration(s) for s in (None, 5, 65, 3600)] == ["-", "5s", "1m 05s", "1h 00m 00s"]


def test_serve_refuses_a_network_host_without_a_key_unless_allowed(
        capsys: pytest.CaptureFixture[str]) -> None:
    from vllm_accel.cli._common import CLIError
    from vllm_accel.cli._serve import check_exposure

    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.5"):
        check_exposure(host, None, False)  # loopback: fine, silent
    assert capsys.readouterr().err == ""
    with pytest.raises(CLIError) as info:
        check_exposure("0.0.0.0", None, False)
    assert "--api-key" in info.value.hint
    assert "--allow-insecure" in info.value.hint
    check_exposure("0.0.0.0", None, True)
    assert "WITHOUT an API key" in capsys.readouterr().err
    check_exposure("10.1.2.3", "sk-x", False)
    warned = capsys.readouterr().err
    assert "/invocations" in warned
    assert "sk-x" not in warned
