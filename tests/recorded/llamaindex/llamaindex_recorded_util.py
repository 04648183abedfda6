"""Helpers for the LlamaIndex recorded tier: what the cassette says was sent (event capture is
shared with the live tier: ``support.llamaindex_events``)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

RECORDED_API_KEY = "sk-recorded-li-7f3e"  # sent while recording; never in a cassette


def sent(cassette: Any, path: str) -> list[dict[str, Any]]:
    """JSON bodies of the requests to ``path``, in order.

    While replaying, requests match on method, path and *body*, and every recorded request to
    ``path`` must have been played: so these are exactly the bodies this run sent. (Other
    recorded traffic, such as the session fixtures' health checks or adapter loading while
    recording, is not this test's.)
    """
    indices = [i for i, (r, _) in enumerate(cassette.data) if urlsplit(r.uri).path == path]
    if cassette.write_protected:
        unplayed = [i for i in indices if not cassette.play_counts[i]]
        assert not unplayed, f"recorded requests to {path} were not sent this time: {unplayed}"
    return [json.loads(cassette.data[i][0].body) for i in indices if cassette.data[i][0].body]
