"""``batch FILE.jsonl``: run many prompts with a progress bar; resumable (see ``_batchfile``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from .. import APIConnectionError, VLLMClient
from .._batch import Mode
from . import _batchfile as bf
from ._common import (
    EXIT_FAILED,
    EXIT_USAGE,
    ApiKey,
    AsJson,
    BaseUrl,
    CLIError,
    Conn,
    MaxTokens,
    Model,
    Seed,
    Temperature,
    Timeout,
    connect,
    describe,
    err,
    out,
    print_json,
)

__all__ = ["batch", "default_output"]


def default_output(path: Path) -> Path:
    """``prompts.jsonl`` -> ``prompts.results.jsonl`` (next to the input)."""
    return path.with_name(f"{path.stem}.results.jsonl")


def batch(
    file: Annotated[Path, typer.Argument(
        exists=True, dir_okay=False, readable=True, show_default=False,
        help='JSON Lines: a prompt string, {"prompt": ...} or {"messages": [...]} per line, '
             'each with an optional "id".')],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", show_default=False, dir_okay=False,
        help="Results file. [default: FILE.results.jsonl]")] = None,
    model: Model = None,
    chat_mode: Annotated[bool, typer.Option(
        "--chat", help="Send prompt strings as chat messages (else /v1/completions).")] = False,
    max_tokens: MaxTokens = 128,
    temperature: Temperature = None,
    seed: Seed = None,
    concurrency: Annotated[int, typer.Option(
        "--concurrency", "-c", min=1, help="Most chat requests in flight.")] = 16,
    chunk_size: Annotated[int, typer.Option(
        "--chunk-size", min=1, help="Lines per step; results are saved after each.")] = 64,
    restart: Annotated[bool, typer.Option(
        "--restart", help="Ignore earlier results and run every line again.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    base_url: BaseUrl = None, api_key: ApiKey = None, timeout: Timeout = None,
    as_json: AsJson = False,
) -> None:
    """Run every line of a JSON Lines file and write the results, in input order.

    A rerun skips the lines already done and retries the failed ones. A failed line is
    recorded in the results and does not stop the batch; the exit code is 1 if any failed.
    """
    target = output or default_output(file)
    if target.resolve() == file.resolve():
        raise CLIError("the results file would overwrite the input", "pass --output FILE",
                       EXIT_USAGE)
    lines = bf.read_input(file)
    params: dict[str, Any] = {"max_tokens": max_tokens}
    if temperature is not None:
        params["temperature"] = temperature
    if seed is not None:
        params["seed"] = seed
    run = _Run(bf.settings_hash({"model": model, "chat": chat_mode, **params}), params,
               chat_mode, concurrency, chunk_size, quiet or as_json)
    results = _previous(target, run.settings, restart)  # before anything is sent or written
    done = bf.finished(lines, results)
    pending = [line for line in lines if line.number not in done]
    conn = Conn(base_url, api_key, model=model, timeout=timeout)
    started = time.perf_counter()
    with connect(conn) as client:
        if pending:
            client.models()  # fail fast (exit 3) when the server is not there at all
        bf.rewrite(target, lines, results)
        try:
            tokens = _run_pending(client, conn, run, pending, target, results)
        finally:
            bf.rewrite(target, lines, results)
    _summary(file, target, lines, done, pending, results, time.perf_counter() - started,
             tokens, as_json)


@dataclass(frozen=True)
class _Run:
    settings: str
    """What the answers depend on (model, mode, sampling): recorded in every result."""
    params: dict[str, Any]
    chat_mode: bool
    concurrency: int
    chunk_size: int
    quiet: bool


def _previous(target: Path, settings: str, restart: bool) -> dict[int, bf.Record]:
    """The earlier results in ``target`` to resume from (none with ``--restart``).

    Raises:
        CLIError: ``target`` is not a results file (it is left alone), or holds results made
            with other settings (without ``--restart``).
    """
    try:  # read even with --restart: a file that is not ours is never overwritten
        found = bf.read_results(target, None if restart else settings)
    except bf.ResultsFileError as exc:
        hint = ("pass another --output FILE, or remove the file" if "not a results" in str(exc)
                else "pass --restart to run every line again with the new settings, or "
                     "another --output FILE")
        raise CLIError(str(exc), hint, EXIT_USAGE) from None
    return {} if restart else found


def _run_pending(client: VLLMClient, conn: Conn, run: _Run, pending: list[bf.Line],
                 target: Path, results: dict[int, bf.Record]) -> int:
    """Send the pending lines chunk by chunk, appending results; the tokens generated."""
    tokens = 0
    progress = Progress(
        TextColumn("[bold]batch[/]"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
        console=err, disable=run.quiet or not pending, transient=False,
    )
    with progress, target.open("a", encoding="utf-8") as fh:
        task = progress.add_task("batch", total=len(pending))
        for start in range(0, len(pending), run.chunk_size):

            def report(n: int, base: int = start) -> None:
                progress.update(task, completed=base + n)

            records, used = _run_chunk(client, conn, pending[start:start + run.chunk_size],
                                       run, report)
            tokens += used
            bf.write_records(fh, records)
            results.update((r["line"], r) for r in records)
            progress.update(task, completed=start + len(records))
    return tokens


def _run_chunk(client: VLLMClient, conn: Conn, chunk: list[bf.Line], run: _Run,
               report: Callable[[int], None]) -> tuple[list[bf.Record], int]:
    """Results of one chunk of lines, in line order, and the tokens generated."""
    chat_mode, settings = run.chat_mode, run.settings
    records = [bf.error_record(line, line.problem, settings) for line in chunk if line.problem]
    sendable = [line for line in chunk if not line.problem]
    completions = [ln for ln in sendable if ln.prompt is not None and not chat_mode]
    chats = [ln for ln in sendable if ln.prompt is None or chat_mode]
    tokens = 0
    groups: tuple[tuple[list[bf.Line], Mode], ...] = ((completions, "completions"),
                                                      (chats, "chat"))
    for group, mode in groups:
        if not group:
            continue
        prompts = [ln.prompt if ln.messages is None else ln.messages for ln in group]
        done_before = len(records)

        def progress(n: int, _total: int, base: int = done_before) -> None:
            report(base + n)

        items, metrics = client.process_batch_with_metrics(
            prompts, max_concurrency=run.concurrency, mode=mode, progress=progress,
            **run.params)
        errors = [item.error for item in items if item.error is not None]
        if errors and len(errors) == len(items) and isinstance(errors[0], APIConnectionError):
            raise describe(errors[0], conn.shown_url)  # the server went away: stop, keep results
        for line, item in zip(group, items, strict=True):
            if item.result is not None and item.error is None:
                records.append(bf.ok_record(line, item.result, item.latency, settings))
            else:
                records.append(bf.error_record(line, item.error or "no result", settings))
        tokens += metrics.completion_tokens
    return sorted(records, key=lambda r: r["line"]), tokens


def _summary(file: Path, target: Path, lines: list[bf.Line], done: set[int],
             pending: list[bf.Line], results: dict[int, bf.Record], seconds: float,
             tokens: int, as_json: bool) -> None:
    numbers = {line.number for line in pending}
    ran = [results[n] for n in numbers if n in results]
    succeeded = sum(1 for r in ran if r.get("ok") is True)
    failed = len(ran) - succeeded
    summary = {
        "input": str(file), "output": str(target), "lines": len(lines), "skipped": len(done),
        "succeeded": succeeded, "failed": failed, "seconds": round(seconds, 3),
        "completion_tokens": tokens,
        "tokens_per_second": round(tokens / seconds, 1) if seconds > 0 else None,
    }
    if as_json:
        print_json(summary)
    else:
        out.print(f"{len(lines)} lines -> {target}: {succeeded} done, {len(done)} already done, "
                  f"{failed} failed ({seconds:.1f} s, {summary['tokens_per_second'] or 0} "
                  "tokens/s)")
    if failed:
        raise CLIError(f"{failed} of {len(lines)} lines failed (see their \"error\" in {target})",
                       "rerun the same command to retry only the failed lines", EXIT_FAILED)
