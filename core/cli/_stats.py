"""``stats``: server statistics from ``/metrics`` and this client's own, as a (live) table.

The row builders are pure, so ``chat``'s ``/stats`` and the tests share them.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table

from .. import ModelStatistics, StatsSnapshot, VLLMClient
from ._common import (
    ApiKey,
    AsJson,
    BaseUrl,
    Conn,
    Model,
    Timeout,
    connect,
    out,
    print_json,
)

__all__ = [
    "client_summary",
    "client_table",
    "rates",
    "server_rows",
    "server_table",
    "stats",
]


def fmt_seconds(value: float | None) -> str:
    """``0.0123`` -> ``12.3 ms``; ``2.5`` -> ``2.50 s``; None -> ``-``."""
    if value is None:
        return "-"
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def fmt_duration(seconds: float | None) -> str:
    """``3725`` -> ``1h 02m 05s``."""
    if seconds is None:
        return "-"
    s = int(seconds)
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s" if m else f"{s}s"


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def server_rows(st: ModelStatistics, rate: dict[str, float] | None = None) -> list[tuple[str, str]]:
    """The rows of the server table (label, value)."""
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(st.requests_by_finish_reason.items()) if v)
    model = st.model
    if st.model != st.metrics_model:
        model += f" (counted as {st.metrics_model})"
    rows = [
        ("model", model),
        ("requests finished", f"{st.requests_processed:,}" + (f"  ({reasons})" if reasons else "")),
        ("running / waiting", f"{st.requests_running} / {st.requests_waiting}"),
        ("prompt tokens", f"{st.prompt_tokens:,}"),
        ("generated tokens", f"{st.tokens_generated:,}"),
        ("tokens per request", f"{_num(st.avg_tokens_per_request)} avg"
         + (f", <= {st.max_tokens_per_request:g} max" if st.max_tokens_per_request else "")),
        ("latency (avg)", fmt_seconds(st.avg_generation_time)),
        ("time to first token (avg)", fmt_seconds(st.avg_time_to_first_token)),
        ("decode speed", f"{_num(st.throughput)} tokens/s per request"),
        ("errors (4xx / 5xx)", f"{st.errors} ({st.errors_4xx} / {st.errors_5xx})"),
        ("KV cache usage", "-" if st.kv_cache_usage is None else f"{st.kv_cache_usage:.1%}"),
        ("uptime", fmt_duration(st.uptime)),
    ]
    if rate is not None:
        rows.append(("requests/s (last interval)", _num(rate["requests_per_second"], 2)))
        rows.append(("generated tokens/s (last interval)", _num(rate["tokens_per_second"])))
    return rows


def rates(prev: ModelStatistics, cur: ModelStatistics, seconds: float) -> dict[str, float]:
    """Finished requests and generated tokens per second between two scrapes."""
    dt = max(seconds, 1e-9)
    return {
        "requests_per_second": max(0, cur.requests_processed - prev.requests_processed) / dt,
        "tokens_per_second": max(0, cur.tokens_generated - prev.tokens_generated) / dt,
    }


def client_summary(snap: StatsSnapshot) -> dict[str, Any]:
    """This client's statistics as plain data: totals, and per model over the recent window."""
    def group(g: Any) -> dict[str, Any]:
        return {"requests": g.requests, "errors": g.errors, "prompt_tokens": g.prompt_tokens,
                "completion_tokens": g.completion_tokens, "latency_p50": g.latency_p50,
                "latency_p95": g.latency_p95, "ttft_p50": g.ttft_p50}

    return {
        "requests": snap.total_requests, "errors": snap.total_errors,
        "retries": snap.total_retries, "prompt_tokens": snap.prompt_tokens,
        "completion_tokens": snap.completion_tokens,
        "latency_p50": snap.overall.latency_p50, "latency_p95": snap.overall.latency_p95,
        "by_model": {k: group(v) for k, v in snap.by_model.items()},
    }


def server_table(st: ModelStatistics, rate: dict[str, float] | None = None) -> Table:
    """The server statistics as a two-column table."""
    table = Table(title="server (/metrics)", show_header=False, title_justify="left", box=None)
    for label, value in server_rows(st, rate):
        table.add_row(label, value)
    return table


def client_table(snap: StatsSnapshot, title: str = "this client") -> Table:
    """This client's requests per model: count, errors, tokens, latency and TTFT percentiles."""
    table = Table("model", "requests", "errors", "tokens in / out", "latency p50 / p95",
                  "TTFT p50", title=title, title_justify="left", box=None)
    for name, g in sorted(snap.by_model.items()):
        table.add_row(name, str(g.requests), str(g.errors),
                      f"{g.prompt_tokens} / {g.completion_tokens}",
                      f"{fmt_seconds(g.latency_p50)} / {fmt_seconds(g.latency_p95)}",
                      fmt_seconds(g.ttft_p50))
    return table


def stats(
    model: Model = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Refresh until Ctrl-C.")] = False,
    interval: Annotated[float, typer.Option("--interval", "-n", min=0.1,
                                            help="Seconds between refreshes.")] = 2.0,
    count: Annotated[int, typer.Option(
        "--count", min=0, help="With --watch: stop after this many refreshes (0 = never).")] = 0,
    base_url: BaseUrl = None, api_key: ApiKey = None, timeout: Timeout = None,
    as_json: AsJson = False,
) -> None:
    """Show server statistics (from /metrics) and this client's request statistics.

    With --watch the table refreshes and adds the request and token rates of the last
    interval; with --json each refresh is one JSON line.
    """
    with connect(Conn(base_url, api_key, model=model, timeout=timeout)) as client:
        if not watch:
            st = client.get_model_statistics(model)
            if as_json:
                print_json(_payload(st, client.stats(), None))
            else:
                out.print(_frame(st, client.stats(), None))
            return
        _watch(client, model, interval, count, as_json)


def _payload(st: ModelStatistics, snap: StatsSnapshot,
             rate: dict[str, float] | None) -> dict[str, Any]:
    data: dict[str, Any] = {"server": st.model_dump(), "client": client_summary(snap)}
    if rate is not None:
        data["rates"] = rate
    return data


def _frame(st: ModelStatistics, snap: StatsSnapshot, rate: dict[str, float] | None) -> Group:
    return Group(server_table(st, rate), "",
                 client_table(snap, "this client (the requests `stats` made)"))


def _watch(client: VLLMClient, model: str | None, interval: float, count: int,
           as_json: bool) -> None:
    """Refresh every ``interval`` seconds, ``count`` times (0: until Ctrl-C)."""
    prev, prev_at = client.get_model_statistics(model), time.monotonic()
    first = _payload(prev, client.stats(), None)
    live = None
    if as_json:
        print_json(first, indent=None)
    else:
        live = Live(_frame(prev, client.stats(), None), console=out, auto_refresh=False)
        live.start(refresh=True)
    shown = 1
    try:
        while count == 0 or shown < count:
            time.sleep(interval)
            cur, now = client.get_model_statistics(model), time.monotonic()
            rate = rates(prev, cur, now - prev_at)
            if live is not None:
                live.update(_frame(cur, client.stats(), rate), refresh=True)
            else:
                print_json(_payload(cur, client.stats(), rate), indent=None)
            prev, prev_at, shown = cur, now, shown + 1
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a watch ends
    finally:
        if live is not None:
            live.stop()
