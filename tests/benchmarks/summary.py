"""The headline figures of a `make bench` run, from everything it measured; and every check
that failed. Pure (but for the time and the git state it records).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from tests.benchmarks.cpu import ROLES
from tests.benchmarks.report import git_state, ratio
from tests.benchmarks.stats import Spread

CHECK_KEYS = ("checks", "driver_checks")


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    """The figures at the top level, everything measured below them."""
    rounds = results["rounds"]
    spreads = {system: Spread.of(r["cmd_s"] for r in runs) for system, runs in rounds.items()}
    latency, flat = results["latency"], results["flat"]
    memory, source = _memory(results)
    failures = failed(results)
    summary = {
        "worker_cmd_s": round(spreads["worker"].median, 1),
        "naive_cmd_s": round(spreads["naive"].median, 1),
        "aiokafka_loop_cmd_s": round(spreads["aiokafka_loop"].median, 1),
        "raw_ceiling_cmd_s": round(spreads["raw_ceiling"].median, 1),
        "worker_cmd_s_at_1m_docs": flat["cmd_s"],
        "worker_cmd_s_at_small_preload": results["flat_small"]["cmd_s"],
        "p50_ms_half_peak": latency["half_peak"]["p50_ms"],
        "p99_ms_half_peak": latency["half_peak"]["p99_ms"],
        "p50_ms_idle": latency["idle"]["p50_ms"],
        "rss_mib_start": round(memory["start"], 1),
        "rss_mib_end": round(memory["end"], 1),
        "rss_mib_hwm": round(memory["hwm"], 1),
        "rss_source": source,
        "rss_start_after_commands": memory["start_after"],
        "commands": min(r["commands"] for r in rounds["worker"]),  # answers, per worker run
        "mix": results["mix"],
        "cpu_s_per_1k_commands": _cpu(rounds["worker"], "worker"),
        "cmd_s_spread": {system: s.as_dict() for system, s in spreads.items()},
        "cmd_s_rounds": {system: [r["cmd_s"] for r in runs] for system, runs in rounds.items()},
        "cpu_s_per_1k_commands_by_system": {system: _cpu(runs, "system")
                                            for system, runs in rounds.items()},
        "command_types": command_types(latency, spreads["worker"].median),
        "checks": {"ok": not failures, "failures": failures},
    }
    summary["ratios"] = _ratios(summary)
    summary.update(
        max_ms_idle=latency["idle"]["max_ms"], timestamp=datetime.now(UTC).isoformat(),
        git=git_state(), stack=results["stack"], plan=results["plan"],
        store_phases_ms=results["store_phases"], preload=flat["preload"],
        latency=latency, systems={"rounds": rounds, "flat": flat,
                                  "flat_small": results["flat_small"],
                                  "warmup": results["warmup"],
                                  **({"soak": results["soak"]} if "soak" in results else {})},
        phase_seconds=results["phase_seconds"], wall_seconds=results["wall_seconds"],
        logs=results["logs"])
    return summary


def failed(node: Any, path: str = "") -> list[str]:
    """Every check in the results that did not pass, as "<where>: <what>"."""
    found = []
    if isinstance(node, dict):
        for key in CHECK_KEYS:
            check = node.get(key)
            if isinstance(check, dict) and check.get("ok") is False:
                found.append(f"{path or 'run'}: {check.get('text', check)}")
        for key, value in node.items():
            if key not in CHECK_KEYS:
                found += failed(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for number, value in enumerate(node):
            found += failed(value, f"{path}[{number}]")
    return found


def command_types(latency: dict[str, Any], mix_cmd_s: float) -> dict[str, Any]:
    """Commands/s (a flood) and latency at half that rate, for each kind alone and the mix."""
    def row(cmd_s: float, half: dict[str, Any]) -> dict[str, Any]:
        return {"cmd_s": round(cmd_s, 1), "half_peak_rate": half["rate"],
                **{k: half[k] for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")}}
    rows = {kind: row(found["cmd_s"], found["half_peak"])
            for kind, found in latency["command_types"].items()}
    return {**rows, "mix": row(mix_cmd_s, latency["half_peak"])}


def _cpu(runs: Sequence[dict[str, Any]], system_role: str) -> dict[str, float | None]:
    """Each role's median CPU seconds per 1,000 commands over the runs."""
    found: dict[str, float | None] = {}
    for role in ROLES:
        values = [r["cpu_s_per_1k"][role] for r in runs
                  if r["cpu_s_per_1k"].get(role) is not None]
        found[system_role if role == "system" else role] = (
            round(statistics.median(values), 3) if values else None)
    return found


def _memory(results: dict[str, Any]) -> tuple[dict[str, Any], str]:
    if "soak" in results:
        return results["soak"]["memory"], "soak"
    runs = results["rounds"]["worker"]
    return runs[-1]["memory"], f"worker round {len(runs)} (a fresh process)"


def _ratios(s: dict[str, Any]) -> dict[str, float]:
    return {
        "worker_over_naive": ratio(s["worker_cmd_s"], s["naive_cmd_s"]),
        "worker_over_aiokafka_loop": ratio(s["worker_cmd_s"], s["aiokafka_loop_cmd_s"]),
        "worker_over_raw_ceiling": ratio(s["worker_cmd_s"], s["raw_ceiling_cmd_s"]),
        "worker_at_1m_docs_over_worker": ratio(s["worker_cmd_s_at_1m_docs"],
                                               s["worker_cmd_s"]),
        "worker_at_1m_docs_over_small_preload": ratio(s["worker_cmd_s_at_1m_docs"],
                                                      s["worker_cmd_s_at_small_preload"]),
    }
