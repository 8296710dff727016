"""The printed table of a `make bench` run (the figures come from tests/benchmarks/summary.py)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.benchmarks import store_phases

LABELS = {"worker": "worker (python -m service worker)",
          "naive": "naive Faust agent (1 message at a time)",
          "aiokafka_loop": "aiokafka loop (store_batch, pipelined)",
          "raw_ceiling": "raw ceiling (database alone, same work)"}
KINDS = {"claims": "claims only", "unclaims": "unclaims only", "groups": "groups only",
         "mix": "the mix"}
ROLES = ("system", "broker", "database", "driver")
WIDTH = 42


def table(s: dict[str, Any]) -> str:
    return "\n".join([*_systems(s), "", *_ratios(s), "", *_cpu(s), "", *_kinds(s), "",
                      *_latency(s), "", *_rest(s)])


def _systems(s: dict[str, Any]) -> list[str]:
    lines = [f"{'system':<{WIDTH}} {'commands/s median (min-max)':>28} {'runs':>4}  answers"]
    for system, label in LABELS.items():
        spread = s["cmd_s_spread"][system]
        text = f"{spread['median']:.1f} ({spread['min']:.1f}-{spread['max']:.1f})"
        lines.append(f"{label:<{WIDTH}} {text:>28} {spread['runs']:>4}  "
                     f"{_answers(s['systems']['rounds'][system])}")
    for flat in (s["systems"]["flat_small"], s["systems"]["flat"]):
        label = f"worker, {flat['preload']['per_collection']:,} docs per collection"
        lines.append(f"{label:<{WIDTH}} {flat['cmd_s']:>28.1f} {1:>4}  {_answers([flat])}")
    if "soak" in s["systems"]:
        soak = s["systems"]["soak"]
        lines.append(f"{'worker soak':<{WIDTH}} {soak['cmd_s']:>28.1f} {1:>4}  "
                     f"{_answers([soak])}")
    return lines


def _answers(runs: list[dict[str, Any]]) -> str:
    """The runs' check texts, each with how many runs had it: '20000/20000 ok x3'."""
    texts = Counter(r["checks"]["text"] for r in runs)
    return ", ".join(f"{text} x{n}" if n > 1 else text for text, n in texts.items())


def _ratios(s: dict[str, Any]) -> list[str]:
    lines = ["ratios of the medians (each with both figures, commands/s)"]
    for label, a, b, key in (
        ("worker / naive agent", "worker_cmd_s", "naive_cmd_s", "worker_over_naive"),
        ("worker / aiokafka loop", "worker_cmd_s", "aiokafka_loop_cmd_s",
         "worker_over_aiokafka_loop"),
        ("worker / raw ceiling", "worker_cmd_s", "raw_ceiling_cmd_s", "worker_over_raw_ceiling"),
        ("worker at preload / worker", "worker_cmd_s_at_1m_docs", "worker_cmd_s",
         "worker_at_1m_docs_over_worker"),
        ("same mix, 1M / small preload", "worker_cmd_s_at_1m_docs",
         "worker_cmd_s_at_small_preload", "worker_at_1m_docs_over_small_preload"),
    ):
        lines.append(f"  {label:<28} x{s['ratios'][key]:6.3f}   ({s[a]:.1f} vs {s[b]:.1f})")
    return lines


def _cpu(s: dict[str, Any]) -> list[str]:
    lines = [f"{'CPU seconds per 1,000 commands (median)':<{WIDTH}}"
             + "".join(f"{role:>10}" for role in ROLES)]
    for system, label in LABELS.items():
        used = s["cpu_s_per_1k_commands_by_system"][system]
        lines.append(f"  {label:<{WIDTH - 2}}" + "".join(_number(used[r]) for r in ROLES))
    lines.append("  (system: the process under test; the raw ceiling has none: its client is "
                 "the driver)")
    return lines


def _kinds(s: dict[str, Any]) -> list[str]:
    lines = [f"{'the worker, each kind alone':<{WIDTH}}{'commands/s':>11}{'at':>8}"
             f"{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}"]
    for kind, label in KINDS.items():
        row = s["command_types"][kind]
        lines.append(f"  {label:<{WIDTH - 2}}{row['cmd_s']:>11.1f}{row['half_peak_rate']:>6.0f}/s"
                     + "".join(f"{row[k]:>9.1f}" for k in ("p50_ms", "p90_ms", "p99_ms",
                                                           "max_ms")))
    lines.append("  (commands/s: a flood; latency at half that rate, from each command's "
                 "scheduled send)")
    return lines


def _latency(s: dict[str, Any]) -> list[str]:
    half, idle = s["latency"]["half_peak"], s["latency"]["idle"]
    return [
        "worker latency (scheduled send -> answer at the benchmark's consumer)",
        f"  half peak ({half['rate']:.0f}/s for {half['seconds']:.0f} s, {half['commands']} "
        f"commands): p50 {half['p50_ms']:.1f} ms  p90 {half['p90_ms']:.1f} ms  p99 "
        f"{half['p99_ms']:.1f} ms  max {half['max_ms']:.1f} ms  {half['checks']['text']}",
        f"  idle ({idle['commands']} commands 1 s apart): p50 {idle['p50_ms']:.1f} ms  "
        f"max {idle['max_ms']:.1f} ms  {idle['checks']['text']}",
    ]


def _rest(s: dict[str, Any]) -> list[str]:
    flat_mix = s["systems"]["flat"]["mix"]
    return [
        f"worker memory ({s['rss_source']}): RSS {s['rss_mib_start']:.1f} MiB after "
        f"{s['rss_start_after_commands']:,} commands, {s['rss_mib_end']:.1f} MiB at the end; "
        f"VmHWM {s['rss_mib_hwm']:.1f} MiB",
        "", f"store phases, batches of {s['store_phases_ms']['batch_size']} of the mix "
        f"({s['store_phases_ms']['batches']} batches), ms:",
        *store_phases.lines(s["store_phases_ms"]),
        "", f"preload: {s['preload']['documents']:,} documents in {s['preload']['seconds']} s "
        f"({s['preload']['docs_per_s']:,} docs/s); the mix at preload: "
        f"{flat_mix['touching_preloaded']:.0%} of its commands touch preloaded documents",
        f"stack: Kafka {s['stack']['kafka']}, {s['stack']['mongo']}; git {s['git']['commit'][:10]}"
        f"{' (uncommitted changes)' if s['git']['dirty'] else ''}",
        f"phase seconds: {s['phase_seconds']}",
        f"wall time {s['wall_seconds']:.0f} s; logs in {s['logs']}",
    ]


def _number(value: float | None) -> str:
    return f"{value:>10.3f}" if value is not None else f"{'-':>10}"
