"""The one-line messages of a missing extra (the wheel test installs the real cases)."""

from __future__ import annotations

import pytest

from vllm_accel._extras import cli_main, missing, require


def test_missing_finds_absent_modules_and_parents() -> None:
    assert missing("json", "httpx") is None
    assert missing("json", "no_such_module_xyz") == "no_such_module_xyz"
    assert missing("no_such_parent_xyz.core") == "no_such_parent_xyz.core"


def test_require_names_the_extra_in_one_line() -> None:
    with pytest.raises(ImportError) as info:
        require("langchain_vllm_accel", "langchain", "no_such_module_xyz")
    message = str(info.value)
    assert "\n" not in message
    assert "pip install 'vllm-accel[langchain]'" in message
    assert info.value.name == "no_such_module_xyz"


def test_cli_main_without_typer_says_which_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("vllm_accel._extras.missing", lambda *m: "typer")
    with pytest.raises(SystemExit) as info:
        cli_main()
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "pip install 'vllm-accel[cli]'" in err
