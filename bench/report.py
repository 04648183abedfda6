"""The report: targets from the issues, ``docs/benchmarks.md`` and the chart, from latest.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import callprofile, causes, report16
from ._lookup import get as _get
from .throughput import PATHS

TARGET_BATCH = "64"  # the batch size the issues' throughput targets name
_PATH_LABELS = {p.name: p.label for p in PATHS}


def _target(issue: int, what: str, value: float | None, limit: float, *, at_most: bool,
            unit: str, how: str, spread: list[float] | None = None) -> dict[str, Any]:
    met = None if value is None else (value <= limit if at_most else value >= limit)
    out = {"issue": issue, "what": what, "value": value, "limit": limit,
           "at_most": at_most, "unit": unit, "met": met, "how": how}
    if spread and len(spread) > 1:
        out["range"] = [min(spread), max(spread)]
    elif spread is not None and value is not None:
        # One repetition on a busy server says too little to call a target met or missed.
        out["met"] = None
        out["inconclusive"] = "one repetition only"
    return out


def _backfill_ratios(data: dict[str, Any]) -> None:
    """Per-repetition ratios for results written before they were stored."""
    for entries in (_get(data, "throughput", "sizes") or {}).values():
        ceil = (entries.get("fanout") or {}).get("samples_tokens_per_s") or []
        for e in entries.values():
            got = e.get("samples_tokens_per_s")
            if "ratios" not in e and got and len(got) == len(ceil):
                e["ratios"] = [t / c for t, c in zip(got, ceil, strict=True)]


def targets(data: dict[str, Any]) -> list[dict[str, Any]]:
    _backfill_ratios(data)
    out: list[dict[str, Any]] = []
    ov = data.get("overhead") or {}
    for kind in ("sync", "async"):
        core = _get(ov, kind, "core") or {}
        out.append(_target(3, f"core per-request time ({kind}) vs raw httpx",
                           core.get("request_ratio"), 1.15, at_most=True, unit="x",
                           how="median of per-round time ratios") | {
                               "cause_key": ["overhead", kind]})
        out.append(_target(3, f"core per-chunk cost ({kind}) vs raw httpx lines + json.loads",
                           core.get("chunk_ratio"), 2.0, at_most=True, unit="x",
                           how="slope between 8- and 264-token streams"))
    imp = data.get("imports") or {}
    out.append(_target(3, "from vllm_accel import VLLMClient, extra over httpx + pydantic",
                       _get(imp, "vllm_accel.VLLMClient", "extra_ms"), 50.0, at_most=True,
                       unit="ms", how="fresh interpreter, median"))
    mem = _get(data, "memory", "stream") or {}
    for key in ("core/sync", "core/async"):
        e = mem.get(key) or {}
        out.append(_target(3, f"streaming a very long answer in constant memory ({key}): "
                           "extra peak per extra chunk",
                           e.get("bytes_per_extra_chunk"), 32.0, at_most=True, unit="B",
                           how="peak RSS growth between a short and a long stream; 32 B/chunk "
                           "leaves room for the answer text the stream keeps for .final()"))
    tp = _get(data, "throughput", "sizes", TARGET_BATCH) or {}
    for name, issue, limit in (("process_batch", 3, 0.98), ("aprocess_batch", 3, 0.98),
                               ("chatvllm_batch", 5, 0.95), ("chatvllm_abatch", 5, 0.95),
                               ("li_batch", 6, 0.95), ("li_abatch", 6, 0.95)):
        e = tp.get(name) or {}
        label = e.get("label") or _PATH_LABELS.get(name, name)
        out.append(_target(issue, f"{label}, {TARGET_BATCH} prompts, vs fan-out",
                           e.get("ratio"), limit, at_most=False, unit="x",
                           how="tokens/s ratio, median of repetitions",
                           spread=e.get("ratios")) | {
                               "cause_key": ["throughput", TARGET_BATCH, name]})
    for issue, ours, anchor, imp_name, imp_base in (
        (5, "chatvllm", "ChatOpenAI", "langchain_vllm_accel.ChatVLLM",
         "langchain_core.BaseChatModel"),
        (6, "li_vllm", "OpenAILike", "llamaindex_vllm_accel.VLLM", "llama_index.core.llms"),
    ):
        for kind in ("sync", "async"):
            e = _get(ov, kind, ours) or {}
            label = e.get("label", ours)
            out.append(_target(issue, f"{label}: per-call overhead vs {anchor}'s",
                               e.get("request_overhead_vs_peer"), 0.5, at_most=True, unit="x",
                               how="time above raw httpx, ratio of the two") | {
                                   "cause_key": ["overhead", kind, ours]})
            out.append(_target(issue, f"{label}: per-chunk cost vs {anchor}'s",
                               e.get("chunk_vs_peer"), 0.4, at_most=True, unit="x",
                               how="per-chunk slopes, ratio"))
        module, cls = imp_name.rsplit(".", 1)
        out.append(_target(issue, f"from {module} import {cls}, extra over {imp_base}",
                           _get(imp, imp_name, "extra_ms"), 80.0, at_most=True, unit="ms",
                           how="fresh interpreter, median"))
    for size, entries in (_get(data, "throughput", "sizes") or {}).items():
        for name, e in entries.items():
            if e["family"] == "ours" and name != "process_batch_completions":
                out.append(_target(7, f"{e['label']}, {size} prompts, vs fan-out", e.get("ratio"),
                                   0.95, at_most=False, unit="x", how="tokens/s ratio",
                                   spread=e.get("ratios")) | {
                                       "cause_key": ["throughput", size, name]})
    out += report16.targets(data, _target)
    causes.attach(data, out)
    return out


# -- formatting ---------------------------------------------------------------------------------

def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "ms":
        return f"{value:+.0f} ms"
    return f"{value:.1f} {unit}"


def _verdict(t: dict[str, Any]) -> str:
    if t.get("inconclusive"):
        return f"inconclusive ({t['inconclusive']})"
    return "not measured" if t["met"] is None else ("met" if t["met"] else "**MISSED**")


def _overhead_rows(data: dict[str, Any]) -> list[str]:
    rows = ["| client | kind | per request | x floor | above floor | client CPU s / 1,000"
            " requests | per chunk | x floor |",
            "|---|---|---:|---:|---:|---:|---:|---:|"]
    for kind in ("sync", "async"):
        for e in (_get(data, "overhead", kind) or {}).values():
            cpu = e.get("cpu_s_per_1k")
            rows.append(
                f"| {e['label']} | {kind} | {e['request_us']:.0f} µs | {e['request_ratio']:.2f}x"
                f" | {e['request_excess_us']:+.0f} µs"
                f" | {'n/a' if cpu is None else f'{cpu:.2f}'} | {e['chunk_us']:.1f} µs"
                f" | {e['chunk_ratio']:.2f}x |")
    return rows


def _calls_rows(data: dict[str, Any]) -> list[str]:
    """Python calls per request (bench/callprofile.py), and what the wrappers add by package."""
    calls = _get(data, "overhead", "calls") or {}
    if not calls:
        return []
    rows = ["Python calls per non-streamed request (cProfile, sync, on the responder; exact, so"
            " the machine's load does not move them), and what each wrapper makes over its"
            " floor, by the package of the function called (bench/callprofile.py):", "",
            "| client | calls per request | over its floor, by package |", "|---|---:|---|"]
    for name, c in calls.items():
        rows.append(f"| {c['label']} | {c['calls']:.0f} |"
                    f" {callprofile.excess_parts(calls, name) or ''} |")
    return [*rows, ""]


def _throughput_rows(data: dict[str, Any]) -> list[str]:
    sizes = _get(data, "throughput", "sizes") or {}
    if not sizes:
        return []
    names = list(next(iter(sizes.values())).keys())
    if any(not e for e in sizes.values()):
        return []
    head = "| path | " + " | ".join(f"{s} prompts" for s in sizes) + " |"
    rows = [head, "|---|" + "---:|" * len(sizes)]
    for name in names:
        first = next(iter(sizes.values()))[name]
        cells = []
        for entries in sizes.values():
            e = entries.get(name)
            spread = e.get("ratios") if e else None
            rng = (f", {min(spread):.2f}–{max(spread):.2f}" if spread and len(spread) > 1
                   else "")
            cpu = (f"; CPU {e['cpu_s_per_1k']:.1f} s/1k" if e and "cpu_s_per_1k" in e
                   else "")
            cells.append("–" if e is None else "failed" if e.get("error") else
                         "not run (time)" if e.get("not_measured") else
                         f"{e['tokens_per_s']:.1f} tok/s ({e['ratio']:.2f}x{rng}{cpu})")
        label = first["label"] + (f" (first {first['prompts_run']} prompts, run at one size)"
                                  if name == "openailike_loop" else "")
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    return rows


def _import_rows(data: dict[str, Any]) -> list[str]:
    imp = data.get("imports") or {}
    rows = ["| import | median | extra over |", "|---|---:|---|"]
    for e in imp.values():
        if not isinstance(e, dict):
            continue
        extra = (f"{e['extra_ms']:+.0f} ms over `{e['baseline']}`" if e.get("baseline") else "")
        rows.append(f"| `{e['statement']}` | {e['median_ms']:.0f} ms | {extra} |")
    return rows


def _memory_rows(data: dict[str, Any]) -> list[str]:
    mem = data.get("memory") or {}
    if not mem:
        return []
    short, long_ = mem["short_tokens"], mem["long_tokens"]
    rows = [f"| client | peak RSS growth, {short:,} chunks | peak RSS growth, {long_:,} chunks"
            f" | extra peak per extra chunk | time for {long_:,} chunks | RSS growth over"
            " requests | then over more requests |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for key, e in mem["stream"].items():
        req = mem["requests_growth"].get(key, {})
        if "error" in e.get("short", {}) or "error" in e.get("long", {}):
            rows.append(f"| {key} | error | error | | | | |")
            continue
        growth = ("error" if "error" in req else
                  f"{req['growth_mb']:+.1f} MB over {req['requests']:,}")
        more = (f"{req['more_growth_mb']:+.1f} MB over {req['more_requests']:,}"
                if req.get("more_requests") else "–")
        rows.append(f"| {key} | {e['short']['peak_growth_mb']:+.1f} MB"
                    f" | {e['long']['peak_growth_mb']:+.1f} MB"
                    f" | {e['bytes_per_extra_chunk']:.0f} B | {e['long']['seconds']:.1f} s"
                    f" | {growth} | {more} |")
    return rows


def targets_table(tgts: list[dict[str, Any]]) -> list[str]:
    """The markdown table of every target: measured value, limit and verdict."""
    lines = ["| issue | target | measured | limit | verdict |", "|---|---|---:|---:|---|"]
    for t in tgts:
        limit = ("≤ " if t["at_most"] else "≥ ") + _fmt(t["limit"], t["unit"]).lstrip("+")
        shown = _fmt(t["value"], t["unit"])
        if t.get("range"):
            shown += f" (reps {t['range'][0]:.2f}–{t['range'][1]:.2f})"
        lines.append(f"| #{t['issue']} | {t['what']} | {shown} | {limit} | {_verdict(t)} |")
    return lines


README_START = "<!-- bench:start (written by make bench from bench/results/latest.json) -->"
README_END = "<!-- bench:end -->"


def readme_block(data: dict[str, Any]) -> str:
    """The README's benchmark table: the same targets, with when and how they were measured."""
    m = data["machine"]
    tgts = data.get("targets") or targets(data)
    head = (f"Measured {data['generated'][:10]} on commit `{data['git']['commit']}`"
            f" ({m['cores']} cores, load average {m['loadavg_start'][0]:.1f} at the start"
            + (f", {m['other_vllm_servers_at_start']} other vLLM servers running"
               if m.get("other_vllm_servers_at_start") else "")
            + (", quick run" if data.get("quick") else "") + "):")
    return "\n".join([README_START, "", head, "", *targets_table(tgts), "", README_END])


def _update_readme(readme: Path, data: dict[str, Any]) -> None:
    text = readme.read_text()
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        return  # no marked block: nothing to keep in step
    readme.write_text(text[:start] + readme_block(data) + text[end + len(README_END):])


def markdown(data: dict[str, Any]) -> str:
    m, v = data["machine"], data["versions"]
    tgts = data.get("targets") or targets(data)
    missed = [t for t in tgts if t["met"] is False]
    met = [t for t in tgts if t["met"] is True]
    server = _get(data, "throughput", "server") or {}
    lines = [
        "# Benchmarks",
        "",
        "<!-- Generated by `make bench` (python -m bench) from bench/results/latest.json."
        " Do not edit by hand. -->",
        "",
        f"Last invocation {data['generated']} on commit `{data['git']['commit']}`"
        f"{' (with uncommitted changes)' if data['git']['dirty'] else ''}:"
        f" {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}."
        f" Load average {m['loadavg_start'][0]:.1f} at the start,"
        f" {m.get('loadavg_end', [0])[0]:.1f} at the end."
        + (" **Quick (smoke) run: few repetitions.**" if data.get("quick") else ""),
        "",
    ]
    others = m.get("other_vllm_servers_at_start")
    if others:
        lines += [f"**Other vLLM servers were running on this machine at the start ({others}),"
                  " sharing its cores: absolute figures are slower and noisier than on a quiet"
                  " machine; ratios are taken within rounds to limit the effect.**", ""]
    runs = data.get("section_runs") or {}
    if len({r.get("generated") for r in runs.values()}) > 1:
        lines += ["Sections come from separate invocations of `python -m bench`: " + "; ".join(
            f"{sec} at {r.get('generated')} (load average"
            f" {(r.get('loadavg_start') or [0])[0]:.1f})" for sec, r in runs.items()) + ".", ""]
        notes = list(dict.fromkeys(r["note"] for r in runs.values() if r.get("note")))
        lines += [f"Conditions: {n}" for n in notes] + ([""] if notes else [])
    elif data.get("note"):
        lines += [f"Conditions: {data['note']}", ""]
    lines += [
        f"Targets from the issues: **{len(met)} met, {len(missed)} missed,"
        f" {len(tgts) - len(met) - len(missed)} not measured or inconclusive** (of"
        f" {len(tgts)}).",
        "",
        "## Targets",
        "",
    ]
    lines += targets_table(tgts)
    if missed:
        lines += ["", "Missed, plainly:", ""]
        lines += [f"- #{t['issue']}: {t['what']}: {_fmt(t['value'], t['unit'])} against"
                  f" {'at most' if t['at_most'] else 'at least'}"
                  f" {_fmt(t['limit'], t['unit']).lstrip('+')}."
                  + (f" Measured cause: {t['cause']}." if t.get("cause") else "")
                  for t in missed]
    lines += ["", "![Ratios to the floor and the ceiling](benchmarks.png)", ""]
    if data.get("overhead"):
        plan = data["overhead"]["plan"]
        lines += [
            "## Client overhead (zero-cost responder)",
            "",
            "A local OpenAI-compatible responder on loopback (a separate process, canned"
            " vLLM-shaped bodies, no model) isolates what each client costs. Per request: one"
            f" non-streamed chat request for {plan['request_tokens']} tokens. Per chunk: the"
            f" slope between streams of {plan['n1']} and {plan['n2']} tokens, so the fixed"
            " cost of the request drops out; the responder writes events back to back, so this"
            " is decoding and dispatch cost. Floor: raw httpx (`iter_lines` + `json.loads` for"
            f" streams). Medians of {plan['rounds']} rounds; each round runs every client in a"
            " random order and ratios are taken within the round. \"Above floor\" is the"
            " overhead the issues compare. Client CPU: this process's user + system time"
            " (`time.process_time`) over the non-streamed requests of a round, per 1,000"
            " requests, median of rounds (the responder runs in its own process). Framework"
            " floors: LangChain's `BaseChatModel` and LlamaIndex's `CustomLLM` (under"
            " `llm_chat_callback`) with a raw-httpx `_generate`/`chat` and nothing else"
            " (bench/floor_langchain.py, bench/floor_llamaindex.py): what a wrapper costs above"
            " its floor is its own work, compared with the core's cost above raw httpx.",
            "",
            *_overhead_rows(data),
            "",
            *_calls_rows(data),
        ]
    if _get(data, "throughput", "sizes"):
        tp = data["throughput"]
        lines += [
            "## Batch throughput (real vLLM)",
            "",
            f"SmolLM2-135M on vLLM {server.get('version', '?')} ({server.get('how', '?')}), CPU"
            f" only. Every request asks for {tp['max_tokens']} tokens with the end tokens banned"
            " (`logit_bias`, honoured by every route), so all generate the same count (few"
            " tokens make each request's fixed cost, client, HTTP and the server's rendering,"
            " a larger share of the time than long answers would: the differences between"
            " paths are larger, not smaller); tokens/s = prompts x tokens / wall time (client"
            " construction included, as a user pays it). Ceiling: `asyncio.gather` of raw httpx"
            " requests, no concurrency limit. Each repetition runs every size, the ceiling first,"
            " then every other path in a fresh random order (interleaved, so drift hits all"
            " paths alike). Ratio to the ceiling of the same repetition and size, median of"
            f" {tp['reps']} (range in brackets); client CPU: this process's user + system time"
            " per 1,000 prompts (`time.process_time`, every thread), median. A sequential"
            f" loop, when named, runs on the first {tp['loop_cap']} prompts only (its rate does"
            " not depend on the batch size). Chat batches of the core go to"
            " `/v1/chat/completions/batch` in chunks of"
            f" {tp.get('chat_chunk', '?')} conversations, all at once (one request with every"
            " conversation is a shape of `bench/batch_phases.py`, not a row here). Named"
            " targets (#16): a chat batch at least"
            f" {report16.BATCH_TARGET}x at 64 and 128 prompts, any path at least"
            f" {report16.FANOUT_TARGET}x at every size; the pool rows fan out by design.",
            "",
            *_throughput_rows(data),
            "",
            *report16.phase_section(data),
        ]
        if tp.get("reps", 0) < 2:
            lines += ["**One repetition only, on a machine whose cores other vLLM servers were"
                      " using: these figures show that every path runs on the real server, not"
                      " how fast the paths are (the ceiling itself ran far below what a quiet"
                      " machine of this kind reaches). Throughput verdicts are left"
                      " inconclusive.**", ""]
        if tp.get("skipped"):
            lines += [f"{len(tp['skipped'])} planned runs (path x size x repetition) were not"
                      f" made: the section's time budget ({tp['budget_s']:.0f} s) ran out on this"
                      " machine. Each path's figure is the median of the repetitions it ran.",
                      ""]
        if tp.get("errors"):
            lines += ["Errors: " + "; ".join(f"`{e}`" for e in tp["errors"]), ""]
    lines += report16.embeddings_section(data) + report16.affinity_section(data)
    if data.get("imports"):
        lines += [
            "## Import time",
            "",
            f"Fresh interpreter per run, the import statement alone timed, median of"
            f" {data['imports']['runs']} runs. `vllm_accel` and `langchain_vllm_accel` load"
            " lazily (classes on first access), so the class import a user writes"
            " (`from langchain_vllm_accel import ChatVLLM`) is the figure the targets use.",
            "",
            *_import_rows(data),
            "",
        ]
    if data.get("memory"):
        lines += [
            "## Memory",
            "",
            "Fresh interpreter per client, against the responder. Peak RSS growth: the kernel's"
            " high-water mark during one streamed answer, above the resident size before it."
            " The answer text itself is 4 characters per chunk. Constant memory is judged by the"
            " extra peak per extra chunk between the two lengths: at most 32 bytes (the text a"
            " stream keeps for its final message, up to 4 bytes a character). RSS growth"
            " over requests: after 500 warm-up requests, before vs after (with `gc.collect()`);"
            " this package's clients and the floor run 10,000 requests and then half as many"
            " again (a steady-state check), the anchors fewer to save time. The core keeps a"
            " bounded window of per-request statistics (`client.stats()`, the last 10,000"
            " requests), which is what fills during the first 10,000; the next column shows"
            " whether anything grows after that.",
            "",
            *_memory_rows(data),
            "",
        ]
    lines += [
        "## Versions",
        "",
        ", ".join(f"{k} {val}" for k, val in v.items()),
        "",
        f"Whole run: {data.get('duration_s', 0) / 60:.1f} min (`{data.get('command', '')}`).",
        "",
        *report16.timings_lines(data),
    ]
    return "\n".join(lines)


def chart(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, axes = plt.subplots(2, 2, figsize=(14, 10))
    ov = data.get("overhead") or {}
    for ax, key, title, line in ((axes[0][0], "request_ratio", "Per-request time, x raw httpx",
                                  1.15),
                                 (axes[0][1], "chunk_ratio", "Per-chunk cost, x raw httpx", 2.0)):
        sync, asyn = ov.get("sync") or {}, ov.get("async") or {}
        names = list(sync.keys())
        labels = [sync[n]["label"].replace(" (floor)", "") for n in names]
        xs = range(len(names))
        ax.bar([x - 0.2 for x in xs], [sync[n][key] for n in names], 0.4, label="sync")
        if asyn:
            ax.bar([x + 0.2 for x in xs], [asyn[n][key] if n in asyn else 0 for n in names], 0.4,
                   label="async")
        ax.axhline(line, color="red", linestyle="--", linewidth=1,
                   label=f"core target {line}x")
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%gx"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_yticks([1, 1.15, 2, 4, 8, 16])
        ax.set_xticks(list(xs), labels, rotation=30, ha="right", fontsize=8)
        ax.set_title(title)
        ax.legend(fontsize=8)
    ax = axes[1][0]
    sizes = _get(data, "throughput", "sizes") or {}
    if sizes:
        names = [n for n in next(iter(sizes.values())) if n != "fanout"]
        width = 0.8 / len(sizes)
        for i, (size, entries) in enumerate(sizes.items()):
            ax.bar([x + (i - (len(sizes) - 1) / 2) * width for x in range(len(names))],
                   [entries[n].get("ratio", 0) if n in entries else 0 for n in names], width,
                   label=f"{size} prompts")
        ax.axhline(0.95, color="red", linestyle="--", linewidth=1, label="target 0.95x")
        ax.axhline(1.0, color="gray", linewidth=0.5)
        first = next(iter(sizes.values()))
        ax.set_xticks(range(len(names)), [first[n]["label"].replace(" (chat)", "")
                                          .replace(" (one completions request)", " (compl.)")
                                          for n in names], rotation=35, ha="right", fontsize=7)
        ax.legend(fontsize=8)
    if not any("ratio" in e for entries in sizes.values() for n, e in entries.items()
               if n != "fanout"):
        ax.text(0.5, 0.5, "not measured in this run\n(see docs/benchmarks.md)",
                ha="center", va="center", transform=ax.transAxes, fontsize=12, color="gray")
    reps = _get(data, "throughput", "reps") or 0
    ax.set_title("Batch throughput on vLLM, x asyncio fan-out"
                 + (" (1 repetition: inconclusive)" if sizes and reps < 2 else ""))
    ax = axes[1][1]
    imp = data.get("imports") or {}
    names = [n for n, e in imp.items() if isinstance(e, dict)]
    if names:
        colors = ["tab:green" if "accel" in n else "tab:gray" for n in names]
        ax.barh(range(len(names)), [imp[n]["median_ms"] for n in names], color=colors)
        ax.set_yticks(range(len(names)), [imp[n]["statement"] for n in names], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("ms (median, fresh interpreter)")
    ax.set_title("Import time (green: this package)")
    fig.suptitle(f"vllm-accel benchmarks, {data['generated']}"
                 + (" (quick run)" if data.get("quick") else ""))
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write(data: dict[str, Any], root: Path) -> None:
    docs = root / "docs"
    docs.mkdir(exist_ok=True)
    if not data.get("targets"):
        data["targets"] = targets(data)
    chart(data, docs / "benchmarks.png")
    (docs / "benchmarks.md").write_text(markdown(data))
    _update_readme(root / "README.md", data)


def console_table(data: dict[str, Any]) -> str:
    out = ["", "Targets:"]
    for t in data.get("targets") or targets(data):
        verdict = ("?" if t.get("inconclusive") else "n/a" if t["met"] is None
                   else "met" if t["met"] else "MISSED")
        out.append(f"  [{verdict:>6}] #{t['issue']} {t['what']}: {_fmt(t['value'], t['unit'])}"
                   f" ({'<=' if t['at_most'] else '>='} {_fmt(t['limit'], t['unit'])})")
    return "\n".join(out)
