"""`make demo`: a tour of vllm-accel on the embedded default servers (real vLLM on this CPU).

It starts SmolLM2-135M-Instruct (chat, LoRA, tool calling) and all-MiniLM-L6-v2 (embeddings),
then shows the core client, the pirate LoRA adapter, a batch with a progress bar, LangChain and
LlamaIndex on the same servers, and the statistics the client gathered. Every server it starts is
stopped when it ends, Ctrl-C included.
"""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from vllm_accel import VLLMClient
from vllm_accel.server import LORA_NAME, EmbeddedServers

console = Console()


def section(title: str) -> None:
    console.rule(f"[bold cyan]{title}")


def core_stream(client: VLLMClient) -> None:
    section("1. A streamed chat answer through the core client")
    question = "What is the capital of France? Answer in one sentence."
    console.print(f"[bold]user:[/] {question}\n[bold]smollm2:[/] ", end="")
    with client.stream_chat([{"role": "user", "content": question}], max_tokens=48,
                            temperature=0) as stream:
        for chunk in stream:
            for choice in chunk.choices:
                if choice.delta.content:
                    console.print(choice.delta.content, end="", highlight=False)
        final = stream.final()
    console.print()
    ttft = stream.time_to_first_token or 0.0
    console.print(f"[dim]time to first token {ttft * 1000:.0f} ms, "
                  f"{final.usage.completion_tokens if final.usage else '?'} tokens[/]")


def lora_switch(client: VLLMClient, adapter_path: str) -> None:
    section("2. The same question, base model vs the 'pirate' LoRA adapter")
    client.load_lora_adapter(LORA_NAME, adapter_path)
    question = [{"role": "user", "content": "What is the largest planet?"}]
    for model in ("smollm2", LORA_NAME):
        answer = client.chat(question, model=model, max_tokens=32, temperature=0)
        console.print(f"[bold]{model:>8}:[/] {answer.choices[0].message.content}")
    adapters = ", ".join(a.id for a in client.list_lora_adapters())
    console.print(f"[dim]adapters loaded on the server: {adapters}[/]")


def batch(client: VLLMClient) -> None:
    section("3. A batch of prompts, one progress bar, order kept")
    topics = ["the sea", "a mountain", "the moon", "a city", "rain", "a forest", "the sun",
              "winter", "a river", "the desert", "a garden", "the stars", "autumn", "a bridge",
              "the wind", "a library"]
    prompts = [f"Write one short sentence about {t}." for t in topics]
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("batch", total=len(prompts))
        items, metrics = client.process_batch_with_metrics(
            prompts, max_tokens=24, temperature=0,
            progress=lambda done, total: bar.update(task, completed=done),
        )
    for topic, item in list(zip(topics, items, strict=True))[:4]:
        text = item.text.strip().replace("\n", " ") if item.ok and item.text else f"error: {item.error}"
        console.print(f"[bold]{topic:>10}:[/] {text}")
    console.print(f"[dim]... {metrics.succeeded}/{metrics.batch_size} ok in "
                  f"{metrics.total_time_ms / 1000:.1f} s, {metrics.tokens_per_second:.0f} tokens/s[/]")


def stats_table(client: VLLMClient) -> None:
    section("Statistics: what the client measured, and what the server reports")
    snap = client.stats()
    table = Table("group", "requests", "errors", "p50 latency", "p95 latency", "p50 TTFT", "tokens out")
    for name, group in sorted(snap.by_model.items()):
        ttft = f"{group.ttft_p50 * 1000:.0f} ms" if group.ttft_p50 is not None else "-"
        table.add_row(name, str(group.requests), str(group.errors),
                      f"{group.latency_p50:.2f} s", f"{group.latency_p95:.2f} s", ttft,
                      str(group.completion_tokens))
    console.print(table)
    server = client.get_model_statistics()
    console.print(f"[dim]server /metrics: {server.requests_processed} requests, "
                  f"{server.tokens_generated} tokens generated, uptime {server.uptime or 0:.0f} s[/]")


def main() -> int:
    started = time.monotonic()
    section("Starting the embedded vLLM servers (SmolLM2 chat + MiniLM embeddings)")
    with console.status("preparing models and starting vLLM (60-90 s on this CPU)..."):
        servers = EmbeddedServers().start()
    try:
        assert servers.chat.base_url and servers.embeddings and servers.embeddings.base_url
        console.print(f"chat {servers.chat.base_url}   embeddings {servers.embeddings.base_url}")
        with VLLMClient(servers.chat.base_url, model="smollm2") as client:
            core_stream(client)
            lora_switch(client, str(servers.models.lora_adapter))
            batch(client)
            stats_table(client)
    finally:
        servers.stop()
    console.print(f"[green]done in {time.monotonic() - started:.0f} s; every server stopped.[/]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
