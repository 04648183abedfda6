"""LoRA rules (pure): local checks and idempotency decisions on /v1/models listings."""

from __future__ import annotations

from pathlib import Path

import pytest

from vllm_accel import InvalidRequestError, ModelList, NotFoundError
from vllm_accel._lora import adapters, check_load, existing, is_dup, is_missing, is_served, loaded
from vllm_accel._translate import error_from_body

pytestmark = pytest.mark.unit

MODELS = ModelList.model_validate({"data": [
    {"id": "smollm2", "root": "/models/smollm2", "parent": None, "max_model_len": 2048},
    {"id": "pirate", "root": "/models/lora-pirate", "parent": "smollm2"},
]})


def test_adapters_are_the_entries_with_a_parent() -> None:
    assert [(a.name, a.path, a.base_model) for a in adapters(MODELS)] == [
        ("pirate", "/models/lora-pirate", "smollm2")]
    assert is_served(MODELS, "pirate")
    assert is_served(MODELS, "/models/smollm2")
    assert not is_served(MODELS, "llama")


def test_existing_same_path_is_reused_other_path_refused() -> None:
    assert existing(MODELS, "new", "/x") is None
    same = existing(MODELS, "pirate", "/models/./lora-pirate/")
    assert same is not None
    assert same.name == "pirate"
    with pytest.raises(InvalidRequestError, match="already loaded from '/models/lora-pirate'"):
        existing(MODELS, "pirate", "/elsewhere")
    with pytest.raises(InvalidRequestError, match="base model"):
        existing(MODELS, "smollm2", "/models/smollm2")


def test_loaded_falls_back_to_the_first_base_model() -> None:
    assert loaded(MODELS, "fresh", "/a").base_model == "smollm2"
    assert loaded(MODELS, "pirate", "/models/lora-pirate").path == "/models/lora-pirate"


def test_missing_folders_are_refused_only_for_a_local_server(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope")
    for url in ("http://localhost:8000", "http://127.0.0.1:1", "http://[::1]:2"):
        with pytest.raises(InvalidRequestError, match="does not exist"):
            check_load(url, "a", missing)
    check_load("http://gpu-box:8000", "a", missing)  # the path is on the server's disk
    check_load("http://localhost:8000", "a", str(tmp_path))
    check_load("http://localhost:8000", "a", "org/hub-adapter")  # a Hugging Face repo id
    with pytest.raises(InvalidRequestError):
        check_load("http://localhost:8000", " ", str(tmp_path))


def test_vllm_answers_are_recognised() -> None:
    dup = error_from_body(400, {"error": {"message": "The lora adapter 'x' has already been "
                                          "loaded. If you want to load the adapter in place, set "
                                          "'load_inplace' to True.", "code": 400}})
    gone = error_from_body(404, {"error": {"message": "The lora adapter 'x' cannot be found.",
                                           "type": "NotFoundError", "code": 404}})
    assert is_dup(dup)  # type: ignore[arg-type]
    assert isinstance(gone, NotFoundError)
    assert is_missing(gone)
    assert not is_missing(error_from_body(404, {"detail": "Not Found"}))
