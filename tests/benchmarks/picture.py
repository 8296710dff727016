"""`make bench`'s picture (.state/bench/latest.png): commands/s of each system (the median,
the range of its runs as a whisker), and the worker's latency percentiles idle and at half
its peak. Drawn with matplotlib's Agg backend (no display needed), if it is installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.benchmarks.table import LABELS

PERCENTILES = ("p50_ms", "p90_ms", "p99_ms", "max_ms")


def draw(summary: dict[str, Any], path: Path) -> Path | None:
    """Write the picture; None if matplotlib is not installed (it is in the dev extras)."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, (rates, latencies) = pyplot.subplots(1, 2, figsize=(13, 5))
    _rates(rates, summary)
    _latencies(latencies, summary)
    figure.suptitle(f"make bench, {summary['timestamp'][:16]} UTC, git "
                    f"{summary['git']['commit'][:10]}: {summary['commands']:,} commands per run")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return path


def _rates(axes: Any, summary: dict[str, Any]) -> None:
    spreads = summary["cmd_s_spread"]
    preloaded = f"worker at {summary['preload']['per_collection']:,} docs"
    names = [LABELS[s].split(" (")[0] for s in LABELS] + [preloaded]
    medians = [spreads[s]["median"] for s in LABELS] + [summary["worker_cmd_s_at_1m_docs"]]
    below = [spreads[s]["median"] - spreads[s]["min"] for s in LABELS] + [0]
    above = [spreads[s]["max"] - spreads[s]["median"] for s in LABELS] + [0]
    axes.bar(names, medians, yerr=[below, above], capsize=6, color="#4c72b0")
    for x, value in enumerate(medians):
        axes.annotate(f"{value:.0f}", (x, value), ha="center", va="bottom",
                      xytext=(12, 2), textcoords="offset points")
    axes.set_ylabel("commands/s (median; whisker: lowest to highest run)")
    axes.set_title("throughput")
    axes.tick_params(axis="x", labelrotation=20)


def _latencies(axes: Any, summary: dict[str, Any]) -> None:
    idle, half = summary["latency"]["idle"], summary["latency"]["half_peak"]
    width = 0.38
    xs = range(len(PERCENTILES))
    for offset, (label, found) in ((-width / 2, ("idle", idle)),
                                   (width / 2, (f"half peak ({half['rate']:.0f}/s)", half))):
        values = [found.get(p, float("nan")) for p in PERCENTILES]
        axes.bar([x + offset for x in xs], values, width, label=label)
    axes.set_xticks(list(xs), [p.removesuffix("_ms") for p in PERCENTILES])
    axes.set_ylabel("ms, scheduled send to answer")
    axes.set_yscale("log")
    axes.set_title("worker latency")
    axes.legend()
