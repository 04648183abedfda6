"""Bytes and time of 1,000 embedding vectors as JSON floats vs ``encoding_format="base64"``.

Run against a real embedding server (not part of ``make bench``; the figures are in the README)::

    .venv/bin/python bench/base64_embeddings.py http://127.0.0.1:8101 [--repeats 5]

Each repetition embeds the same 1,000 short texts (10 requests of 100) both ways through
``VLLMClient.embed`` (base64 vectors are decoded to floats by the client, so both arms end with
the same ``list[list[float]]``), and counts the response bytes on the wire (uncompressed: vLLM
does not compress). Arms alternate within a repetition; the report is the median. The
end-to-end time mostly measures the server (and, on a shared machine, its neighbours), so the
client's own share is also timed alone: parsing the captured answers of 1,000 vectors (JSON
floats validated into ``EmbeddingResponse``, vs the same plus base64 decoding).
"""

from __future__ import annotations

import argparse
import statistics
import time

import httpx

from vllm_accel import VLLMClient

TEXTS = [f"document {i}: the quick brown fox jumps over the lazy dog" for i in range(1000)]
CHUNK = 100


def _arm(client: VLLMClient, counter: list[int], fmt: str | None) -> tuple[float, int]:
    counter.clear()
    params = {"encoding_format": fmt} if fmt else {}
    t0 = time.perf_counter()
    vectors = []
    for i in range(0, len(TEXTS), CHUNK):
        vectors += client.embed(TEXTS[i:i + CHUNK], **params).vectors()
    elapsed = time.perf_counter() - t0
    assert len(vectors) == len(TEXTS)
    assert all(isinstance(v[0], float) for v in vectors)
    return elapsed, sum(counter)


def _parse_time(bodies: list[bytes], fmt: str | None, repeats: int = 20) -> float:
    from vllm_accel._codec import decode_vector
    from vllm_accel._models import EmbeddingResponse

    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for body in bodies:
            response = EmbeddingResponse.model_validate_json(body)
            if fmt:
                for item in response.data:
                    item.embedding = decode_vector(str(item.embedding))
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    sizes: list[int] = []
    bodies: list[bytes] = []

    def count(response: httpx.Response) -> None:
        response.read()
        sizes.append(len(response.content))
        bodies.append(response.content)

    http = httpx.Client(timeout=300, event_hooks={"response": [count]})
    results: dict[str, list[tuple[float, int]]] = {"float": [], "base64": []}
    with VLLMClient(args.url, http_client=http) as client:
        _arm(client, sizes, None)  # warm-up
        for _ in range(args.repeats):
            results["float"].append(_arm(client, sizes, None))
            results["base64"].append(_arm(client, sizes, "base64"))
        bodies.clear()
        _arm(client, sizes, None)
        float_bodies = list(bodies)
        bodies.clear()
        _arm(client, sizes, "base64")
        parse = {"float": _parse_time(float_bodies, None), "base64": _parse_time(bodies, "b64")}
    for name, runs in results.items():
        secs = statistics.median(r[0] for r in runs)
        size = statistics.median(r[1] for r in runs)
        print(f"{name:>7}: {size / 1e6:.2f} MB, {secs:.2f} s end to end (median of "
              f"{len(runs)}), client parsing {1000 * parse[name]:.1f} ms")
    f_size, b_size = (statistics.median(r[1] for r in results[k]) for k in ("float", "base64"))
    f_secs, b_secs = (statistics.median(r[0] for r in results[k]) for k in ("float", "base64"))
    print(f"base64 saves {100 * (1 - b_size / f_size):.0f}% of the bytes and "
          f"{100 * (1 - b_secs / f_secs):.0f}% of the time")


if __name__ == "__main__":
    main()
