"""Embeddings and rerank throughput on the real embedded MiniLM server.

Embeddings: 1,000 short documents per run. The ceiling is raw httpx posting them in chunks of
``CHUNK`` inputs, every chunk at once (``asyncio.gather``). Paths: ``VLLMEmbeddings`` vs
``OpenAIEmbeddings`` (LangChain), ``VLLMEmbedding`` vs ``OpenAILikeEmbedding`` (LlamaIndex),
each of ours with float and base64 vectors. The OpenAI-based anchors ask for base64 (the
openai SDK's default) and decode it themselves. A base64 path of ours runs only when the
installed client decodes base64 vectors; otherwise it is reported as skipped, with the reason.

Rerank: one query against ``RERANK_DOCS`` documents per run, core ``rerank`` against a raw
httpx ``POST /rerank``; skipped, with the reason, when the installed client has no ``rerank``
or the server does not rerank with this model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from .cells import Run, interleaved

MODEL = "minilm"
DOCS = 1000
CHUNK = 256
RERANK_DOCS = 100
DIM = 384


def documents(n: int = DOCS) -> list[str]:
    topics = ("rivers", "engines", "bread", "comets", "violins", "glaciers", "markets", "moss")
    return [f"Document {i}: a short note about {topics[i % len(topics)]} and the number {i}."
            for i in range(n)]


def _raw(base: str, docs: list[str]) -> int:
    import httpx

    async def go() -> int:
        async with httpx.AsyncClient(timeout=600.0) as client:
            async def one(chunk: list[str]) -> int:
                r = await client.post(base + "/v1/embeddings",
                                      json={"model": MODEL, "input": chunk})
                r.raise_for_status()
                return len(r.json()["data"])

            parts = [docs[i:i + CHUNK] for i in range(0, len(docs), CHUNK)]
            return sum(await asyncio.gather(*(one(c) for c in parts)))

    return asyncio.run(go())


def _count(vectors: list[list[float]]) -> int:
    if vectors and (len(vectors[0]) != DIM or not isinstance(vectors[0][0], float)):
        raise RuntimeError(f"vector of {len(vectors[0])} items, first {vectors[0][0]!r}")
    return len(vectors)


def base64_support(base: str) -> str | None:
    """None when the installed core client decodes base64 vectors, else why it does not."""
    from vllm_accel import VLLMClient, VLLMError

    try:
        with VLLMClient(base, model=MODEL) as client:
            got = client.embed(["probe"], encoding_format="base64").vectors()
    except (VLLMError, TypeError, ValueError) as exc:
        return (f"the installed client cannot ask for base64 vectors ({type(exc).__name__}:"
                f" {str(exc)[:120]}); base64 lands on branch surface")
    if not got or not isinstance(got[0], list) or not isinstance(got[0][0], float):
        return "the installed client does not decode base64 vectors (it lands on branch surface)"
    return None


def _paths(base: str, docs: list[str], b64: bool) -> dict[str, tuple[str, Run]]:
    from langchain_openai import OpenAIEmbeddings
    from llama_index.embeddings.openai_like import OpenAILikeEmbedding

    from langchain_vllm_accel import VLLMEmbeddings
    from llamaindex_vllm_accel import VLLMEmbedding

    def lc(fmt: str | None) -> Run:
        kw = {"model_kwargs": {"encoding_format": fmt}} if fmt else {}
        emb = VLLMEmbeddings(model=MODEL, base_url=base, chunk_size=CHUNK, **kw)
        return lambda: _count(emb.embed_documents(docs))

    def li(fmt: str | None) -> Run:
        kw = {"additional_kwargs": {"encoding_format": fmt}} if fmt else {}
        emb = VLLMEmbedding(model_name=MODEL, base_url=base, embed_batch_size=CHUNK, **kw)
        return lambda: _count(emb.get_text_embedding_batch(docs))

    oa = OpenAIEmbeddings(model=MODEL, base_url=base + "/v1", api_key="bench-key",  # type: ignore[arg-type]
                          chunk_size=CHUNK, check_embedding_ctx_length=False)
    ol = OpenAILikeEmbedding(model_name=MODEL, api_base=base + "/v1", api_key="bench-key",
                             embed_batch_size=CHUNK)
    paths: dict[str, tuple[str, Run]] = {
        "raw": ("raw httpx, chunks of 256 at once (ceiling)", lambda: _raw(base, docs)),
        "lc_vllm": ("VLLMEmbeddings.embed_documents (float)", lc(None)),
        "lc_openai": ("OpenAIEmbeddings.embed_documents (openai SDK, base64)",
                      lambda: _count(oa.embed_documents(docs))),
        "li_vllm": ("VLLMEmbedding.get_text_embedding_batch (float)", li(None)),
        "li_openailike": ("OpenAILikeEmbedding.get_text_embedding_batch (openai SDK, base64)",
                          lambda: _count(ol.get_text_embedding_batch(docs))),
    }
    if b64:
        paths["lc_vllm_b64"] = ("VLLMEmbeddings.embed_documents (base64)", lc("base64"))
        paths["li_vllm_b64"] = ("VLLMEmbedding.get_text_embedding_batch (base64)", li("base64"))
    return paths


def run_embeddings(base: str, reps: int, log: Callable[[str], None]) -> dict[str, Any]:
    docs = documents()
    why = base64_support(base)
    paths = _paths(base, docs, why is None)
    _raw(base, docs[:CHUNK])  # warm-up
    log(f"embeddings: {len(paths)} paths, {DOCS} documents, {reps} repetitions")
    out = {"documents": DOCS, "chunk": CHUNK, "reps": reps,
           "paths": interleaved(paths, "raw", DOCS, reps, log)}
    if why:
        out["skipped"] = {"lc_vllm_b64": why, "li_vllm_b64": why}
    return out


# -- rerank ---------------------------------------------------------------------------------------

QUERY = "Which note is about glaciers?"


def _raw_rerank(base: str, docs: list[str]) -> int:
    import httpx

    r = httpx.post(base + "/rerank", json={"model": MODEL, "query": QUERY, "documents": docs},
                   timeout=600.0)
    r.raise_for_status()
    return len(r.json()["results"])


def run_rerank(base: str, reps: int, log: Callable[[str], None]) -> dict[str, Any]:
    from vllm_accel import VLLMClient

    docs = documents(RERANK_DOCS)
    if not hasattr(VLLMClient, "rerank"):
        return {"skipped": "the installed client has no rerank (core rerank lands on branch "
                "surface)"}
    try:
        _raw_rerank(base, docs)
    except Exception as exc:  # the server decides whether this model reranks
        return {"skipped": f"the server does not rerank with {MODEL}: {exc}"[:300]}
    client = VLLMClient(base, model=MODEL)

    def ours() -> int:
        answer: Any = client.rerank(QUERY, docs)
        return len(answer.results)

    paths: dict[str, tuple[str, Run]] = {
        "raw": ("raw httpx POST /rerank (ceiling)", lambda: _raw_rerank(base, docs)),
        "core": ("VLLMClient.rerank", ours),
    }
    try:
        return {"documents": RERANK_DOCS, "reps": reps,
                "paths": interleaved(paths, "raw", RERANK_DOCS, reps, log)}
    finally:
        client.close()
