"""LoRA adapter helpers (pure): local checks, request bodies, and the idempotency rules.

vLLM answers a second load of the same adapter name with a 400, and unloading an unknown one
with a 404. This client makes both idempotent: loading a name that is already loaded *from the
same path* returns the loaded adapter, and unloading a missing one is a no-op (unless asked).
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any
from urllib.parse import urlsplit

from ._errors import BadRequestError, InvalidRequestError, NotFoundError, VLLMError
from ._models import LoRAAdapter, ModelList

__all__ = [
    "adapters",
    "check_load",
    "existing",
    "is_dup",
    "is_missing",
    "is_served",
    "load_body",
    "loaded",
    "unload_body",
]


def adapters(models: ModelList) -> list[LoRAAdapter]:
    """The adapters among the served models."""
    return [
        LoRAAdapter(name=card.id, path=card.root, base_model=card.parent)
        for card in models.data if card.parent is not None
    ]


def is_served(models: ModelList, model: str) -> bool:
    """Whether ``model`` is a served name (base or adapter) or the path a base model came from."""
    return any(model in (card.id, card.root) for card in models.data)


def _is_local(base_url: str) -> bool:
    host = urlsplit(base_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_load(base_url: str, name: str, path: str) -> None:
    """Refuse, before any request, what cannot work.

    Raises:
        InvalidRequestError: empty name or path, or a filesystem path that does not exist on
            this machine while the server runs on this machine too.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequestError("adapter name must be a non-empty string")
    if not isinstance(path, str | os.PathLike) or not str(path).strip():
        raise InvalidRequestError("adapter path must be a non-empty string")
    text = os.fspath(path)
    looks_like_path = text.startswith(("/", ".", "~"))  # else maybe a Hugging Face repo id
    if _is_local(base_url) and looks_like_path and not os.path.isdir(os.path.expanduser(text)):
        raise InvalidRequestError(
            f"cannot load adapter {name!r}: the folder {text!r} does not exist"
        )


def load_body(name: str, path: str, load_inplace: bool) -> dict[str, Any]:
    """The body of ``POST /v1/load_lora_adapter``."""
    return {"lora_name": name, "lora_path": os.fspath(path), "load_inplace": load_inplace}


def unload_body(name: str) -> dict[str, Any]:
    """The body of ``POST /v1/unload_lora_adapter``."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidRequestError("adapter name must be a non-empty string")
    return {"lora_name": name}


def _same_path(a: str | None, b: str) -> bool:
    if a is None:
        return False
    return os.path.normpath(os.path.expanduser(a)) == os.path.normpath(os.path.expanduser(b))


def existing(models: ModelList, name: str, path: str) -> LoRAAdapter | None:
    """The already loaded adapter ``name`` if it came from ``path``; None if not loaded.

    Raises:
        InvalidRequestError: ``name`` is a base model, or an adapter loaded from another path.
    """
    card = models.get(name)
    if card is None:
        return None
    if card.parent is None:
        raise InvalidRequestError(f"{name!r} is a base model served by this server")
    if not _same_path(card.root, os.fspath(path)):
        raise InvalidRequestError(
            f"adapter {name!r} is already loaded from {card.root!r}, not {os.fspath(path)!r}; "
            "pass load_inplace=True to replace it"
        )
    return LoRAAdapter(name=card.id, path=card.root, base_model=card.parent)


def loaded(models: ModelList, name: str, path: str) -> LoRAAdapter:
    """The adapter just loaded, as ``/v1/models`` now lists it."""
    card = models.get(name)
    if card is not None:
        return LoRAAdapter(name=card.id, path=card.root, base_model=card.parent)
    bases = models.base_models()
    return LoRAAdapter(name=name, path=os.fspath(path), base_model=bases[0].id if bases else None)


def is_dup(error: BadRequestError) -> bool:
    """Whether vLLM refused a load because the name is already loaded."""
    return "already been loaded" in error.message


def is_missing(error: VLLMError) -> bool:
    """Whether vLLM refused an unload because the adapter is not loaded."""
    return isinstance(error, NotFoundError) and "cannot be found" in error.message
