"""`VLLM`: a LangChain text-completion LLM on vLLM's ``/v1/completions``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Annotated, Any

from langchain_core.language_models import BaseLLM
from langchain_core.outputs import Generation, GenerationChunk, LLMResult
from pydantic import Field

from vllm_accel._integration import NOT_SENT

from ._base import VLLMSampling
from ._convert import completion_generation_info

if TYPE_CHECKING:
    from langchain_core.callbacks import (
        AsyncCallbackManagerForLLMRun,
        CallbackManagerForLLMRun,
    )

_USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")


class VLLM(VLLMSampling, BaseLLM):
    """Text-completion LLM on a vLLM server (``/v1/completions``).

    A list of prompts (``generate``/``batch``) is sent as list-prompt requests of
    ``batch_size`` prompts each, all sub-batches concurrently; vLLM batches them on the GPU.

    Example:
        ```python
        from langchain_vllm_accel import VLLM

        llm = VLLM(model="smollm2", base_url="http://localhost:8000", max_tokens=32, top_k=20)
        llm.invoke("The capital of France is")
        llm.batch(["1 + 1 =", "2 + 2 ="])
        ```
    """

    _ls_model_type = "llm"

    logprobs: int | None = None
    """Number of top log-probabilities to return per token (``generation_info["logprobs"]``)."""
    echo: bool | None = None
    batch_size: Annotated[int, NOT_SENT] = Field(default=32, ge=1)
    """Prompts per ``/v1/completions`` request (vLLM accepts up to 1024)."""
    max_concurrency: Annotated[int | None, NOT_SENT] = Field(default=None, ge=1)
    """Sub-batch requests in flight at once (``None`` = all)."""

    @property
    def _llm_type(self) -> str:
        return "vllm"

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        """The import path of the class, for ``load``."""
        return ["langchain_vllm_accel", "llms"]

    # ------------------------------------------------------------------ results

    def _sub_batches(self, prompts: list[str]) -> list[list[str]]:
        size = self.batch_size
        return [prompts[i : i + size] for i in range(0, len(prompts), size)]

    @staticmethod
    def _result(prompts: list[str], completions: list[Any], n: int) -> LLMResult:
        """One `LLMResult` from the completions of the sub-batches, in prompt order."""
        generations: list[list[Generation]] = []
        usage = dict.fromkeys(_USAGE_KEYS, 0)
        model_name = None
        for completion in completions:
            model_name = model_name or completion.model
            choices = sorted(completion.choices, key=lambda c: c.index)
            for start in range(0, len(choices), n):
                generations.append(
                    [
                        Generation(
                            text=choice.text,
                            generation_info=completion_generation_info(choice) or None,
                        )
                        for choice in choices[start : start + n]
                    ]
                )
            if completion.usage is not None:
                for key in _USAGE_KEYS:
                    usage[key] += getattr(completion.usage, key, 0) or 0
        if len(generations) != len(prompts):  # pragma: no cover - a server bug
            msg = f"expected {len(prompts)} prompts' results, got {len(generations)}"
            raise RuntimeError(msg)
        return LLMResult(
            generations=generations,
            llm_output={"token_usage": usage, "model_name": model_name},
        )

    # ------------------------------------------------------------------ requests

    def _generate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        from ._errors import map_errors

        if self.streaming and len(prompts) == 1:
            return self._generate_from_stream(prompts[0], stop, run_manager, kwargs)
        model, params = self._request(stop, kwargs)
        subs = self._sub_batches(prompts)
        with map_errors(), self._adapter_scope(model):
            self._ensure_adapter(model)
            client = self.client
            if len(subs) == 1:
                completions = [client.complete(subs[0], model=model, **params)]
            else:
                workers = min(len(subs), self.max_concurrency or len(subs))
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    completions = list(
                        pool.map(lambda sub: client.complete(sub, model=model, **params), subs)
                    )
        return self._result(prompts, completions, params.get("n") or 1)

    async def _agenerate(
        self,
        prompts: list[str],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> LLMResult:
        from ._errors import map_errors

        if self.streaming and len(prompts) == 1:
            return await self._agenerate_from_stream(prompts[0], stop, run_manager, kwargs)
        model, params = self._request(stop, kwargs)
        subs = self._sub_batches(prompts)
        semaphore = asyncio.Semaphore(self.max_concurrency or len(subs))
        with map_errors(), self._adapter_scope(model):
            await self._aensure_adapter(model)
            client = self.async_client

            async def one(sub: list[str]) -> Any:
                async with semaphore:
                    return await client.complete(sub, model=model, **params)

            completions = list(await asyncio.gather(*(one(sub) for sub in subs)))
        return self._result(prompts, completions, params.get("n") or 1)

    def _generate_from_stream(
        self,
        prompt: str,
        stop: list[str] | None,
        run_manager: CallbackManagerForLLMRun | None,
        kwargs: dict[str, Any],
    ) -> LLMResult:
        final: GenerationChunk | None = None
        for chunk in self._stream(prompt, stop, run_manager, **kwargs):
            final = chunk if final is None else final + chunk
        return LLMResult(generations=[[final or GenerationChunk(text="")]])

    async def _agenerate_from_stream(
        self,
        prompt: str,
        stop: list[str] | None,
        run_manager: AsyncCallbackManagerForLLMRun | None,
        kwargs: dict[str, Any],
    ) -> LLMResult:
        final: GenerationChunk | None = None
        async for chunk in self._astream(prompt, stop, run_manager, **kwargs):
            final = chunk if final is None else final + chunk
        return LLMResult(generations=[[final or GenerationChunk(text="")]])

    @staticmethod
    def _chunk(wire_chunk: Any) -> GenerationChunk | None:
        choices = wire_chunk.choices
        if not choices:
            if wire_chunk.usage is None:
                return None
            usage = {k: getattr(wire_chunk.usage, k, 0) for k in _USAGE_KEYS}
            return GenerationChunk(text="", generation_info={"token_usage": usage})
        choice = choices[0]
        if choice.index != 0:
            return None
        info = completion_generation_info(choice)
        if wire_chunk.model and info.get("finish_reason") is not None:
            info["model_name"] = wire_chunk.model
        return GenerationChunk(text=choice.text or "", generation_info=info or None)

    def _stream(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[GenerationChunk]:
        from ._errors import map_errors

        model, params = self._request(stop, kwargs)
        with map_errors(), self._adapter_scope(model):
            self._ensure_adapter(model)
            with self.client.stream_generation(prompt, model=model, **params) as stream:
                for wire_chunk in stream:
                    chunk = self._chunk(wire_chunk)
                    if chunk is None:
                        continue
                    # BaseLLM never emits tokens itself: this is the one place they are sent.
                    if run_manager is not None:
                        run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                    yield chunk

    async def _astream(
        self,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[GenerationChunk]:
        from ._errors import map_errors

        model, params = self._request(stop, kwargs)
        with map_errors(), self._adapter_scope(model):
            await self._aensure_adapter(model)
            async with self.async_client.stream_generation(prompt, model=model, **params) as stream:
                async for wire_chunk in stream:
                    chunk = self._chunk(wire_chunk)
                    if chunk is None:
                        continue
                    if run_manager is not None:
                        await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                    yield chunk

    # ------------------------------------------------------------------ tokens

    def get_num_tokens(self, text: str) -> int:
        """Number of tokens of ``text`` (exact: counted by the server)."""
        return len(self.get_token_ids(text))
