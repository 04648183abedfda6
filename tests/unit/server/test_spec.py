from __future__ import annotations

from pathlib import Path

from vllm_accel.server import ServerSpec


def test_argv_has_lora_tools_and_no_secret() -> None:
    spec = ServerSpec(model=Path("/m"), served_model_name="smollm2", enable_lora=True,
                      chat_template=Path("/t.jinja"), tool_call_parser="hermes", api_key="sk-x")
    argv = spec.argv(Path("/py"), 8000)
    assert argv[:3] == ["/py", "-m", "vllm.entrypoints.launchers.api_server.entry"]
    for flag in ("--enable-lora", "--enable-auto-tool-choice", "--chat-template"):
        assert flag in argv
    assert argv[argv.index("--tool-call-parser") + 1] == "hermes"
    assert "sk-x" not in " ".join(argv)
    assert "sk-x" not in repr(spec)
    assert spec.env()["VLLM_API_KEY"] == "sk-x"


def test_env_is_cpu_safe_and_drops_inherited_key(monkeypatch) -> None:
    monkeypatch.setenv("VLLM_API_KEY", "inherited")
    env = ServerSpec(model=Path("/m"), served_model_name="m").env()
    assert "VLLM_API_KEY" not in env
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "1"
    assert env["VLLM_CPU_OMP_THREADS_BIND"] == "nobind"
    assert env["HF_HUB_OFFLINE"] == "1"


def test_extra_env_and_the_default_chat_server_stores_responses() -> None:
    from vllm_accel.server import PreparedModels, chat_spec

    spec = ServerSpec(model=Path("/m"), served_model_name="m",
                      extra_env=(("VLLM_ENABLE_RESPONSES_API_STORE", "1"), ("X_TEST", "y")))
    assert spec.env()["VLLM_ENABLE_RESPONSES_API_STORE"] == "1"
    assert spec.env()["X_TEST"] == "y"
    assert "VLLM_ENABLE_RESPONSES_API_STORE" not in ServerSpec(
        model=Path("/m"), served_model_name="m").env()
    models = PreparedModels(**{f: Path("/x") for f in PreparedModels.__dataclass_fields__})
    assert chat_spec(models).env()["VLLM_ENABLE_RESPONSES_API_STORE"] == "1"


def test_every_static_adapter_goes_in_one_lora_modules_flag(tmp_path: Path) -> None:
    """vLLM keeps only the last ``--lora-modules`` flag: a second one dropped the first adapter."""
    spec = ServerSpec(model=tmp_path, served_model_name="m", enable_lora=True,
                      lora_modules=(("pirate", tmp_path / "p"), ("tools", tmp_path / "t")))
    argv = spec.argv(Path("/usr/bin/python3"), 8000)
    assert argv.count("--lora-modules") == 1
    at = argv.index("--lora-modules")
    assert argv[at + 1:at + 3] == [f"pirate={tmp_path / 'p'}", f"tools={tmp_path / 't'}"]
