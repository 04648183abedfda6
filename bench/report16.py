"""Issue #16's targets and report sections: chat batches past the ceiling, fan-outs at it,
wrappers above their framework floors, prefix affinity, embeddings, rerank, client CPU."""

from __future__ import annotations

from typing import Any

from ._lookup import get as _get
from .throughput import PATHS

_KIND = {p.name: p.target for p in PATHS}

BATCH_TARGET = 1.15
"""A chat batch in one request: at least this ratio to the fan-out ceiling at 64 and 128."""
BATCH_SIZES = ("64", "128")
FANOUT_TARGET = 0.98
"""A path that must fan out: at least this ratio at every size."""
FANOUT_SIZES = ("8", "32", "64", "128")
FLOOR_TARGET = 1.2
"""A wrapper's cost above its framework floor: at most this times the core's above raw httpx."""


def _throughput_targets(data: dict[str, Any], target: Any) -> list[dict[str, Any]]:
    out = []
    sizes = _get(data, "throughput", "sizes") or {}
    for size in FANOUT_SIZES:
        for name, e in (sizes.get(size) or {}).items():
            kind = e.get("target") or _KIND.get(name)
            if kind is None:
                continue
            limit = BATCH_TARGET if kind == "batch" and size in BATCH_SIZES else FANOUT_TARGET
            what = "chat batch" if limit == BATCH_TARGET else "fan-out"
            out.append(target(16, f"{e['label']}, {size} prompts, vs fan-out ceiling ({what})",
                              e.get("ratio"), limit, at_most=False, unit="x",
                              how="median of per-repetition tokens/s ratios",
                              spread=e.get("ratios")) | {"cause_key": ["throughput", size, name]})
    return out


def _floor_targets(data: dict[str, Any], target: Any) -> list[dict[str, Any]]:
    out = []
    for kind in ("sync", "async"):
        for name in ("chatvllm", "li_vllm"):
            e = _get(data, "overhead", kind, name) or {}
            if not e:
                continue
            t = target(16, f"{e['label']}: cost above its framework floor vs the core's"
                       " above raw httpx", e.get("overhead_above_floor_vs_core"),
                       FLOOR_TARGET, at_most=True, unit="x",
                       how="median of per-round ratios") | {"cause_key": ["floor", kind, name]}
            core, own = e.get("core_above_httpx_us"), e.get("above_floor_us")
            if t["met"] is None and core is not None and own is not None and core <= 0:
                # The core measured no slower than raw httpx: no ratio, but the wrapper's own
                # excess must then be nothing too.
                t["met"] = own <= 0
            out.append(t)
    return out


def _affinity_targets(data: dict[str, Any], target: Any) -> list[dict[str, Any]]:
    arms = _get(data, "affinity", "arms") or {}
    aff, lo = arms.get("affinity") or {}, arms.get("least_outstanding") or {}
    if not aff or not lo:
        return []
    rate = (aff["hit_rate"] / lo["hit_rate"] if aff.get("hit_rate") is not None
            and lo.get("hit_rate") else None)
    ttft = (aff["ttft_p50_s"] / lo["ttft_p50_s"] if lo.get("ttft_p50_s") else None)
    out = [target(16, "prefix affinity: prefix-cache hit rate vs least-outstanding", rate, 2.0,
                  at_most=False, unit="x", how="hits/queries from each replica's /metrics"),
           target(16, "prefix affinity: p50 TTFT vs least-outstanding (lower)", ttft, 1.0,
                  at_most=True, unit="x", how="streamed first content chunk, later turns")]
    for t in out:
        t["cause_key"] = ["affinity"]
    if data["affinity"].get("same_server"):
        for t in out:  # one server under two URLs shares one cache: no verdict
            t["met"], t["inconclusive"] = None, "one server under two URLs"
    return out


def targets(data: dict[str, Any], target: Any) -> list[dict[str, Any]]:
    """Issue #16's named targets, verdicts from the medians (``target`` builds each row)."""
    return (_throughput_targets(data, target) + _floor_targets(data, target)
            + _affinity_targets(data, target))


# -- sections -------------------------------------------------------------------------------------

def _cell_rows(paths: dict[str, Any], unit: str) -> list[str]:
    rows = [f"| path | {unit}/s | x ceiling (range) | client CPU s / 1,000 {unit} |",
            "|---|---:|---:|---:|"]
    for e in paths.values():
        if "items_per_s" not in e:
            rows.append(f"| {e['label']} | failed: `{e.get('error', '?')}` | | |")
            continue
        r = e["ratios"]
        rng = f" ({min(r):.2f}–{max(r):.2f})" if len(r) > 1 else ""
        rows.append(f"| {e['label']} | {e['items_per_s']:.0f} | {e['ratio']:.2f}x{rng}"
                    f" | {e['cpu_s_per_1k']:.2f} |")
    return rows


def embeddings_section(data: dict[str, Any]) -> list[str]:
    em = data.get("embeddings")
    lines: list[str] = []
    if em:
        lines += ["## Embeddings throughput (real vLLM, MiniLM)", "",
                  f"{em['documents']} short documents per run, in requests of {em['chunk']}"
                  " inputs. Ceiling: raw httpx, every chunk at once. Paths in a fresh random"
                  " order per repetition, ratio to the ceiling of the same repetition, median"
                  f" of {em['reps']}. Client CPU: this process's user + system time.", "",
                  *_cell_rows(em["paths"], "documents"), ""]
        for name, why in (em.get("skipped") or {}).items():
            lines.append(f"- `{name}` skipped: {why}.")
        lines += [""] if em.get("skipped") else []
    rr = data.get("rerank")
    if rr:
        lines += ["## Rerank throughput (real vLLM)", ""]
        if rr.get("skipped"):
            lines += [f"Not measured: {rr['skipped']}.", ""]
        else:
            lines += [f"One query against {rr['documents']} documents per run, median of"
                      f" {rr['reps']}.", "", *_cell_rows(rr["paths"], "documents"), ""]
    return lines


def affinity_section(data: dict[str, Any]) -> list[str]:
    af = data.get("affinity")
    if not af:
        return []
    if "kv_cache_tokens" in af:
        what = (f"{af['conversations']} conversations at once, {af['turns']} turns each (every"
                f" turn resends the conversation), each with its own history of"
                f" ~{af['conversation_tokens']} tokens at its last turn (no shared system"
                f" prompt): {af['conversations'] * af['conversation_tokens']} tokens in all,"
                f" {af['spill']}x one replica's KV cache ({af['kv_cache_tokens']} tokens, from"
                " `vllm:cache_config_info`), so a replica cannot hold every conversation but"
                " holds half of them")
    else:
        what = (f"{af['conversations']} conversations at once, {af['turns']} turns each, each"
                f" with its own system prompt of ~{af['system_words']} words")
    lines = ["## Prefix-affinity routing (two replicas)", "",
             f"{what}; {af['max_tokens']} tokens per answer; {af['reps']}"
             f" repetitions, arms alternating ({af.get('how', '?')}). Hit rate: prefix-cache"
             " hits / queries (tokens) from each replica's `/metrics`, before and after the arm."
             " Later turns: the same hits over the queries less the first turns' prompt tokens"
             " (a new history cannot hit; they cap the whole-arm rate near two thirds with"
             " three turns). TTFT: first streamed content chunk, p50 over the turns after the"
             " first." + (f" Conversations start within {af['start_spread_s']:.0f} s and wait"
                          f" {af['think_s'][0]}-{af['think_s'][1]} s (the user's think time)"
                          " before each next turn." if af.get("think_s") else "") + " Same"
             " replica: the share of later turns the policy placed on the replica of the"
             " conversation's previous turn.", ""]
    if af.get("same_server"):
        lines += ["**Both URLs reach the same server (one cache): this run proves the cell"
                  " runs, not what affinity gains; no verdict.**", ""]
    lines += ["| arm | hit rate | p50 TTFT, later turns | p50 TTFT, first turns | same replica"
              " | per replica |", "|---|---:|---:|---:|---:|---|"]
    for name, a in af["arms"].items():
        per = ", ".join(f"{u}: {r['hit_rate']:.2f}" if r["hit_rate"] is not None else f"{u}: -"
                        for u, r in a["replicas"].items())
        rate = "n/a" if a["hit_rate"] is None else f"{a['hit_rate']:.2f}"
        if a.get("later_turns_hit_rate") is not None:
            rate += f" (later turns {a['later_turns_hit_rate']:.2f})"
        share = a.get("same_replica_share")
        same = "n/a" if share is None else f"{share:.0%}"
        lines.append(f"| {name} | {rate} | {a['ttft_p50_s'] * 1000:.0f} ms"
                     f" | {a['ttft_first_turn_p50_s'] * 1000:.0f} ms | {same} | {per} |")
    return [*lines, ""]


def phase_section(data: dict[str, Any]) -> list[str]:
    """Where the time of each path goes at the sizes of the chat-batch target (engine phases)."""
    sizes = _get(data, "throughput", "sizes") or {}
    rows = []
    for size in BATCH_SIZES:
        for e in (sizes.get(size) or {}).values():
            ph = e.get("phases") or {}
            if "gap_s" not in ph:
                continue
            rows.append(f"| {size} | {e['label']} | {e['seconds']:.2f} s | {ph['e2e_s']:.2f} s"
                        f" | {ph.get('queue_s', 0):.2f} s | {ph.get('prefill_s', 0):.2f} s"
                        f" | {ph['gap_s']:.2f} s | {ph.get('prompt_tokens', 0):.0f} |")
    if not rows:
        return []
    return ["Where the time goes (medians; the engine's per-request means from `/metrics`"
            " deltas around each run; outside the engine = wall - mean end-to-end: the client,"
            " HTTP and the server's chat-template rendering, which vLLM 0.32's batch route does"
            " for every conversation of a request before the engine sees the first):", "",
            "| prompts | path | wall | engine end-to-end | queue | prefill | outside the engine"
            " | prompt tokens / request |", "|---:|---|---:|---:|---:|---:|---:|---:|",
            *rows, ""]


def timings_lines(data: dict[str, Any]) -> list[str]:
    """The run's time plan as measured: every section's seconds and the load average at its
    start (``data["timings"]``, written by ``bench/run.py``)."""
    timings = data.get("timings") or {}
    if not timings:
        return []
    parts = [f"{name} {t['seconds']:.0f} s" + (f" (load {t['load_start']:.1f})"
                                               if t.get("load_start") is not None else "")
             for name, t in timings.items()]
    return ["Seconds per section: " + ", ".join(parts) + ".", ""]
