"""`make demo`: a tour of vllm-accel on the embedded default servers (real vLLM on this CPU).

It starts SmolLM2-135M-Instruct (chat, LoRA, tool calling) and all-MiniLM-L6-v2 (embeddings),
then shows the core client, the pirate LoRA adapter, a batch with a progress bar, LangChain (a
chain, and an agent that picks its tool itself with the "tools" adapter), LlamaIndex on the
same servers, a retrieval reranked with ``VLLMRerank``, and the statistics the client gathered.
Every server it starts is stopped when it ends, Ctrl-C included. ``--chat-url URL --embed-url
URL`` runs the tour against default servers already running (``vllm-accel serve``) and starts
none.
"""

from __future__ import annotations

import argparse
import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from vllm_accel import NO_MODEL, VLLMClient
from vllm_accel.cli import Steps
from vllm_accel.server import LORA_NAME, TOOLS_LORA_NAME, EmbeddedServers, prepare

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
    adapters = ", ".join(a.name for a in client.list_lora_adapters())
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
        # Chat mode: each prompt is a user message (an instruct model answers it; as a raw
        # completion prompt the 135M model often just ends the line).
        items, metrics = client.process_batch_with_metrics(
            prompts, mode="chat", max_tokens=32, temperature=0,
            progress=lambda done, total: bar.update(task, completed=done),
        )
    for topic, item in list(zip(topics, items, strict=True))[:4]:
        text = (item.text or "").strip().replace("\n", " ") if item.ok else f"error: {item.error}"
        console.print(f"[bold]{topic:>10}:[/] {text}")
    console.print(f"[dim]... {metrics.succeeded}/{metrics.batch_size} ok in "
                  f"{metrics.total_time:.1f} s, "
                  f"{metrics.tokens_per_second:.0f} tokens/s[/]")


def langchain_chain(base_url: str) -> None:
    section("4. LangChain: an LCEL chain, streamed (prompt | ChatVLLM | parser)")
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    from langchain_vllm_accel import ChatVLLM

    prompt = ChatPromptTemplate.from_messages(
        [("system", "You answer in one short sentence."), ("user", "Tell me a fact about {topic}.")]
    )
    chain = prompt | ChatVLLM(base_url=base_url, model="smollm2", max_tokens=40, temperature=0) \
        | StrOutputParser()
    console.print("[bold]chain.stream(topic='octopuses'):[/] ", end="")
    for piece in chain.stream({"topic": "octopuses"}):
        console.print(piece, end="", highlight=False)
    console.print()


def langchain_agent(client: VLLMClient, base_url: str, tools_path: str) -> None:
    section("5. LangChain: an agent that picks its tool itself (the 'tools' LoRA adapter)")
    from langchain.agents import create_agent
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
    from langchain_core.tools import tool

    from langchain_vllm_accel import ChatVLLM

    @tool
    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        return f"It is 21 degrees and sunny in {city}."

    # The base 135M model never calls a tool unprompted; the "tools" adapter, trained here on
    # synthetic tool-calling conversations, does under tool_choice="auto".
    client.load_lora_adapter(TOOLS_LORA_NAME, tools_path)
    llm = ChatVLLM(base_url=base_url, model=TOOLS_LORA_NAME, max_tokens=80, temperature=0)
    agent = create_agent(llm, tools=[get_weather])
    question = "What is the weather in Paris?"
    console.print(f"[bold]user:[/] {question}")
    out = agent.invoke({"messages": [HumanMessage(question)]})
    for message in out["messages"]:
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                console.print(f"[bold]tool call:[/] {call['name']}({call['args']})")
        if isinstance(message, ToolMessage):
            console.print(f"[bold]tool result:[/] {message.text}")
    console.print(f"[bold]agent:[/] {out['messages'][-1].text}", highlight=False)


def llamaindex_query(chat_url: str, embed_url: str) -> None:
    section("6. LlamaIndex: a query engine over local documents, with sources")
    from llama_index.core import Document, VectorStoreIndex

    from llamaindex_vllm_accel import VLLM, VLLMEmbedding

    docs = [
        Document(text="The Eiffel Tower is in Paris. It was finished in 1889.",
                 metadata={"file": "eiffel.txt"}),
        Document(text="The Colosseum is in Rome. It could hold about 50,000 people.",
                 metadata={"file": "colosseum.txt"}),
        Document(text="Big Ben is the bell of the clock tower in London.",
                 metadata={"file": "bigben.txt"}),
    ]
    index = VectorStoreIndex.from_documents(docs, embed_model=VLLMEmbedding(base_url=embed_url))
    engine = index.as_query_engine(llm=VLLM(base_url=chat_url, max_tokens=48, temperature=0),
                                   similarity_top_k=1, streaming=True)
    question = "When was the Eiffel Tower finished?"
    console.print(f"[bold]query:[/] {question}\n[bold]answer:[/] ", end="")
    response = engine.query(question)
    for token in response.response_gen:
        console.print(token, end="", highlight=False)
    console.print()
    for node in response.source_nodes:
        console.print(f"[dim]source: {node.node.metadata['file']} (score {node.score:.2f})[/]")


RERANK_QUERY = "What is the secret password of the Blue Castle?"
RERANK_DOCS = [
    "The Blue Castle gift shop sells postcards, blue mugs and model towers to visitors.",
    "The Blue Castle was built in 1342 and its blue roof tiles were replaced in 1901.",
    "Tours of the Blue Castle start at ten; the guides speak English and German.",
    "Notes copied from the town archive of Varnholm, folder twelve. "
    "The secret password of the Blue Castle is marmalade.",
]


def rerank_retrieval(embed_url: str) -> None:
    section("7. Reranking: retrieve with embeddings, rerank with VLLMRerank (LangChain)")
    from langchain_core.documents import Document
    from langchain_core.vectorstores import InMemoryVectorStore

    from langchain_vllm_accel import VLLMEmbeddings, VLLMRerank

    # A cheap first stage: the index embeds each document's first 16 tokens only. MiniLM reranks
    # as a bi-encoder (cosine of the same embeddings), so it can only change the order by seeing
    # more than the index did: here, the whole document. A cross-encoder served with
    # `--runner pooling` reranks through the same class.
    index = InMemoryVectorStore.from_documents(
        [Document(text, metadata={"doc": i}) for i, text in enumerate(RERANK_DOCS)],
        VLLMEmbeddings(base_url=embed_url, model="minilm", truncate_prompt_tokens=16))
    retrieved = index.similarity_search_with_score(RERANK_QUERY, k=4)
    reranked = VLLMRerank(base_url=embed_url, model="minilm", top_n=None).compress_documents(
        [doc for doc, _ in retrieved], RERANK_QUERY)
    console.print(f"[bold]query:[/] {RERANK_QUERY}")
    table = Table("document", "vector search", "reranked", "relevance")
    rank = {d.metadata["doc"]: n for n, d in enumerate(reranked, 1)}
    score = {d.metadata["doc"]: d.metadata["relevance_score"] for d in reranked}
    for n, (doc, cosine) in enumerate(retrieved, 1):
        i = doc.metadata["doc"]
        table.add_row(doc.page_content[:60] + "...", f"#{n} ({cosine:.2f})", f"#{rank[i]}",
                      f"{score[i]:.2f}")
    console.print(table)
    console.print(f"[bold]top document after reranking:[/] {reranked[0].page_content}")


def stats_table(client: VLLMClient) -> None:
    section("Statistics: what the client measured, and what the server reports")
    snap = client.stats()
    table = Table("group", "requests", "errors", "p50 latency", "p95 latency", "p50 TTFT",
                  "tokens out")
    for name, group in sorted(snap.by_model.items()):
        ttft = f"{group.ttft_p50 * 1000:.0f} ms" if group.ttft_p50 is not None else "-"
        table.add_row(name, str(group.requests), str(group.errors),
                      f"{group.latency_p50:.2f} s", f"{group.latency_p95:.2f} s", ttft,
                      str(group.completion_tokens))
    console.print(table)
    console.print(f"[dim]{NO_MODEL}: the requests that name no model (LoRA load, adapter list)[/]")
    server = client.get_model_statistics()
    console.print(f"[dim]server /metrics: {server.requests_processed} requests, "
                  f"{server.tokens_generated} tokens generated, "
                  f"uptime {server.uptime or 0:.0f} s[/]")


def tour(chat_url: str, embed_url: str, lora_path: str, tools_path: str) -> None:
    """Every step of the demo, against the given chat and embedding servers."""
    console.print(f"chat {chat_url}   embeddings {embed_url}")
    with VLLMClient(chat_url, model="smollm2") as client:
        core_stream(client)
        lora_switch(client, lora_path)
        batch(client)
        langchain_chain(chat_url)
        langchain_agent(client, chat_url, tools_path)
        llamaindex_query(chat_url, embed_url)
        rerank_retrieval(embed_url)
        stats_table(client)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chat-url", help="use this running default chat server (no /v1)")
    parser.add_argument("--embed-url", help="use this running default embedding server")
    args = parser.parse_args(argv)
    started = time.monotonic()
    if args.chat_url and args.embed_url:  # servers already running: start none
        models = prepare()
        tour(args.chat_url, args.embed_url, str(models.lora_adapter), str(models.tools_adapter))
        return 0
    section("Starting the embedded vLLM servers (SmolLM2 chat + MiniLM embeddings)")
    with Steps(console) as steps:  # one line per set-up step, each with its elapsed time
        servers = EmbeddedServers(progress=steps).start()
    try:
        assert servers.chat.base_url
        assert servers.embeddings
        assert servers.embeddings.base_url
        tour(servers.chat.base_url, servers.embeddings.base_url,
             str(servers.models.lora_adapter), str(servers.models.tools_adapter))
    finally:
        servers.stop()
    console.print(f"[green]done in {time.monotonic() - started:.0f} s; every server stopped.[/]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
