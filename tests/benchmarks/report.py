"""The benchmark's output: the headline JSON (.state/bench/latest.json) and the printed table."""

from __future__ import annotations

import argparse
import json
import math
import signal
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.benchmarks import store_phases

STATE = Path(".state/bench")  # every benchmark's JSON and logs


def arguments(doc: str | None) -> argparse.ArgumentParser:
    """A benchmark's command line, with its module docstring as the help."""
    return argparse.ArgumentParser(description=doc,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def logs_folder(prefix: str = "") -> Path:
    """A new folder for one run's process logs: .state/bench/logs/<prefix><UTC time>."""
    logs = STATE / "logs" / f"{prefix}{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}"
    logs.mkdir(parents=True, exist_ok=True)
    return logs


def stop_on_sigterm() -> None:
    """SIGTERM cleans up as Ctrl-C does: every process and container is stopped."""
    signal.signal(signal.SIGTERM, _interrupted)


def _interrupted(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def provenance(stack: Any) -> dict[str, Any]:
    """When, on which commit, against which servers a benchmark ran (a `Servers`)."""
    return {"stack": {"kafka": stack.kafka_version, "mongo": stack.mongo_version},
            "timestamp": datetime.now(UTC).isoformat(), "git": _git()}


def heading(plan: Any, mix: dict[str, Any]) -> str:
    mode = "full" if plan.full else "quick"
    soak = f", soak {plan.soak:,} commands" if plan.soak else ""
    return (f"benchmark ({mode}): {plan.commands:,} commands per system, "
            f"{plan.partitions} partitions per topic, preload {plan.preload:,} documents per "
            f"collection{soak}\nmix: {mix['text']}\n     counts {mix['counts']}")


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    """The headline figures at the top level, everything measured below them."""
    worker, flat = results["worker"], results["flat"]
    memory = results.get("soak", worker)["memory"]
    summary = {
        "worker_cmd_s": worker["cmd_s"],
        "naive_cmd_s": results["naive"]["cmd_s"],
        "aiokafka_loop_cmd_s": results["aiokafka_loop"]["cmd_s"],
        "raw_ceiling_cmd_s": results["raw_ceiling_cmd_s"],
        "worker_cmd_s_at_1m_docs": flat["cmd_s"],
        "p50_ms_half_peak": worker["half_peak"]["p50_ms"],
        "p99_ms_half_peak": worker["half_peak"]["p99_ms"],
        "p50_ms_idle": worker["idle"]["p50_ms"],
        "rss_mib_start": round(memory["start"], 1),
        "rss_mib_end": round(memory["end"], 1),
        "rss_mib_hwm": round(memory["hwm"], 1),
        "rss_source": "soak" if "soak" in results else "worker run (flood + latency)",
        "rss_start_after_commands": memory["start_after"],
        "commands": results["plan"]["commands"],
        "mix": results["mix"],
    }
    summary["ratios"] = {
        "worker_over_naive": _ratio(summary["worker_cmd_s"], summary["naive_cmd_s"]),
        "worker_over_aiokafka_loop": _ratio(summary["worker_cmd_s"],
                                            summary["aiokafka_loop_cmd_s"]),
        "worker_over_raw_ceiling": _ratio(summary["worker_cmd_s"], summary["raw_ceiling_cmd_s"]),
        "worker_at_1m_docs_over_worker": _ratio(summary["worker_cmd_s_at_1m_docs"],
                                                summary["worker_cmd_s"]),
    }
    summary.update(
        max_ms_idle=worker["idle"]["max_ms"], timestamp=datetime.now(UTC).isoformat(),
        git=_git(), stack=results["stack"], plan=results["plan"],
        store_phases_ms=results["store_phases"], preload=flat["preload"],
        systems={k: results[k] for k in ("worker", "naive", "aiokafka_loop", "flat", "soak")
                 if k in results},
        phase_seconds=results["phase_seconds"], wall_seconds=results["wall_seconds"],
        logs=results["logs"])
    return summary


def _ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else math.nan


def _git() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
        return done.stdout.strip()
    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def write(summary: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, default=str) + "\n")


def table(s: dict[str, Any]) -> str:
    systems = s["systems"]
    rows = [
        ("worker (python -m service worker)", s["worker_cmd_s"], systems["worker"]),
        ("naive Faust agent (1 message at a time)", s["naive_cmd_s"], systems["naive"]),
        ("aiokafka loop + handle_batch", s["aiokafka_loop_cmd_s"], systems["aiokafka_loop"]),
        ("raw ceiling (bulk upserts of 50, no Kafka)", s["raw_ceiling_cmd_s"], None),
        (f"worker, {s['preload']['per_collection']:,} docs per collection",
         s["worker_cmd_s_at_1m_docs"], systems["flat"]),
    ]
    if "soak" in systems:
        rows.append(("worker soak", systems["soak"]["cmd_s"], systems["soak"]))
    lines = [f"{'system':<44} {'commands/s':>10} {'seconds':>8}  results"]
    for label, rate, run in rows:
        seconds = f"{run['seconds']:8.1f}" if run else f"{'':8}"
        lines.append(f"{label:<44} {rate:10.1f} {seconds}  {_checked(run)}")
    lines += ["", "ratios (each with both figures, commands/s)"]
    for label, a, b in (
        ("worker / naive agent", "worker_cmd_s", "naive_cmd_s"),
        ("worker / aiokafka loop", "worker_cmd_s", "aiokafka_loop_cmd_s"),
        ("worker / raw ceiling", "worker_cmd_s", "raw_ceiling_cmd_s"),
        ("worker at preload / worker", "worker_cmd_s_at_1m_docs", "worker_cmd_s"),
    ):
        lines.append(f"  {label:<28} x{_ratio(s[a], s[b]):6.3f}   ({s[a]:.1f} vs {s[b]:.1f})")
    half = systems["worker"]["half_peak"]
    idle = systems["worker"]["idle"]
    lines += [
        "", "worker latency (benchmark send -> result at the benchmark's consumer)",
        f"  half peak ({half['rate']:.0f}/s for {half['seconds']:.0f} s, {half['commands']} "
        f"commands): p50 {half['p50_ms']:.1f} ms  p99 {half['p99_ms']:.1f} ms  "
        f"{_checked(half)}",
        f"  idle ({idle['commands']} commands 1 s apart): p50 {idle['p50_ms']:.1f} ms  "
        f"max {idle['max_ms']:.1f} ms  {_checked(idle)}",
        "", f"worker memory ({s['rss_source']}): RSS {s['rss_mib_start']:.1f} MiB after "
        f"{s['rss_start_after_commands']:,} commands, {s['rss_mib_end']:.1f} MiB at the end; "
        f"VmHWM {s['rss_mib_hwm']:.1f} MiB",
        "", f"store phases, batches of {s['store_phases_ms']['batch_size']} of the mix "
        f"({s['store_phases_ms']['batches']} batches), ms:",
        *store_phases.lines(s["store_phases_ms"]),
        "", f"preload: {s['preload']['documents']:,} documents in {s['preload']['seconds']} s "
        f"({s['preload']['docs_per_s']:,} docs/s)",
        f"stack: Kafka {s['stack']['kafka']}, {s['stack']['mongo']}; git {s['git']['commit'][:10]}"
        f"{' (uncommitted changes)' if s['git']['dirty'] else ''}",
        f"phase seconds: {s['phase_seconds']}",
        f"wall time {s['wall_seconds']:.0f} s; logs in {s['logs']}",
    ]
    return "\n".join(lines)


def _checked(run: dict[str, Any] | None) -> str:
    """'10000/10000 ok', or what was missing, duplicated or not as expected."""
    if run is None:
        return ""
    c = run["checks"]
    text = f"{c['arrived']}/{c['sent']}"
    problems = []
    if c["missing"]:
        problems.append(f"{c['missing']} MISSING")
    if c["mismatches"]:
        problems.append(f"NOT AS EXPECTED {c['mismatches']}")
    if c.get("duplicates"):
        problems.append(f"{c['duplicates']} duplicates")
    return f"{text} " + ("; ".join(problems) if problems else "ok")
