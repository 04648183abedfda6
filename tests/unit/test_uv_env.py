"""pip's index settings handed to uv (tests/support/uv_env.py), as ``make venv`` and the wheel
tests' environments use them."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.uv_env import pip_settings, uv_environ


def test_each_pip_setting_becomes_its_uv_variable() -> None:
    env = uv_environ({"index-url": "https://mirror/simple",
                      "extra-index-url": "file:///a/simple  file:///b/simple",
                      "find-links": "/w1 /w2", "constraint": "/c.txt", "no-index": "true",
                      "cert": "/ca.pem", "default-timeout": "180",
                      "disable-pip-version-check": "1"}, base={})
    assert env == {"UV_INDEX_STRATEGY": "unsafe-best-match", "UV_COMPILE_BYTECODE": "1",
                   "UV_INDEX_URL": "https://mirror/simple",
                   "UV_EXTRA_INDEX_URL": "file:///a/simple file:///b/simple",
                   "UV_FIND_LINKS": "/w1,/w2", "UV_CONSTRAINT": "/c.txt", "UV_NO_INDEX": "1",
                   "SSL_CERT_FILE": "/ca.pem", "UV_HTTP_TIMEOUT": "180"}


def test_what_the_environment_already_says_wins() -> None:
    env = uv_environ({"find-links": "/w"}, base={"UV_FIND_LINKS": "/mine", "PATH": "/bin"})
    assert env["UV_FIND_LINKS"] == "/mine"
    assert env["PATH"] == "/bin"
    assert uv_environ({}, base={})["UV_INDEX_STRATEGY"] == "unsafe-best-match"


def test_pip_settings_follow_pips_precedence(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "pip.conf"
    config.write_text("[global]\nextra-index-url = file:///global/simple\ntimeout = 7\n"
                      "[install]\nextra-index-url = file:///install/simple\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(config))
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    settings = pip_settings()
    assert settings["extra-index-url"] == "file:///install/simple"  # install beats global
    assert settings["timeout"] == "7"
    assert settings["find-links"] == str(tmp_path)  # PIP_* beats every file
