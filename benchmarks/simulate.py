"""Benchmark: generate a fleet's daily tables with FleetSimulator.iter_days.

Prints a table (rows, seconds, rows/s, memory) and a final JSON line. The baseline row is the bare
cost of drawing the telemetry noise, so the gap to it is the simulator's own overhead.

    python benchmarks/simulate.py --machines 1000 --days 365
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import tracemalloc
from datetime import date, timedelta

import numpy as np
import pandas as pd

from pdm_assets.simulator import FleetSimulator, _replay

TABLES = ("telemetry", "errors", "maintenance", "failures")


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _tables_mb(tables: dict[str, pd.DataFrame]) -> float:
    return sum(int(f.memory_usage(deep=True).sum()) for f in tables.values()) / 2**20


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="Benchmark FleetSimulator.iter_days.")
    parser.add_argument("--machines", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2015, 1, 1))
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    start, end = args.start, args.start + timedelta(days=args.days)
    sim = FleetSimulator(n_machines=args.machines, seed=args.seed)
    rss_before = _maxrss_mb()

    # Baseline: the noise draws alone, made as the simulator makes them (one RNG per day).
    t0 = time.perf_counter()
    for d in range(args.days):
        ordinal = (start + timedelta(days=d)).toordinal()
        np.random.default_rng([args.seed, ordinal, 0, 2]).standard_normal((args.machines, 24, 4))
    baseline_s = time.perf_counter() - t0

    # The timed run: events replayed once (cache cleared first), then one day at a time.
    _replay.cache_clear()
    rows = dict.fromkeys(TABLES, 0)
    day_mb = 0.0
    t0 = time.perf_counter()
    days = sim.iter_days(start, end)
    replay_s = time.perf_counter() - t0
    for _, tables in days:
        for name, frame in tables.items():
            rows[name] += len(frame)
        if not day_mb:  # every day has the same telemetry size
            day_mb = _tables_mb(tables)
    total_s = time.perf_counter() - t0
    rss_after = _maxrss_mb()

    # The same run under tracemalloc (slower, so untimed): peaks of the replay and of the day loop.
    _replay.cache_clear()
    tracemalloc.start()
    days = sim.iter_days(start, end)
    replay_peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.reset_peak()
    for _ in days:
        pass
    loop_peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()

    n_tel = rows["telemetry"]
    result = {
        "machines": args.machines,
        "days": args.days,
        "rows": rows,
        "seconds": round(total_s, 2),
        "telemetry_rows_per_second": round(n_tel / total_s),
        "event_replay_seconds": round(replay_s, 2),
        "baseline_noise_seconds": round(baseline_s, 2),
        "one_day_tables_mb": round(day_mb, 2),
        "peak_traced_mb_day_loop": round(loop_peak_mb, 1),
        "peak_traced_mb_replay": round(replay_peak_mb, 1),
        "maxrss_mb_before": round(rss_before, 1),
        "maxrss_mb_after": round(rss_after, 1),
    }

    print(f"FleetSimulator.iter_days: {args.machines} machines x {args.days} days from {start}")
    print(f"{'step':<36}{'rows':>12}{'seconds':>10}{'rows/s':>14}")
    line = "{:<36}{:>12,}{:>10.2f}{:>14,.0f}"
    print(line.format("baseline: telemetry noise draws", n_tel, baseline_s, n_tel / baseline_s))
    print(f"{'event replay (history_start..end)':<36}{'':>12}{replay_s:>10.2f}")
    print(line.format("iter_days, all four tables", n_tel, total_s, n_tel / total_s))
    for name in TABLES[1:]:
        print(f"{'  of which ' + name:<36}{rows[name]:>12,}")
    print(
        f"memory: one day's tables {day_mb:.2f} MB; traced peak in the day loop "
        f"{loop_peak_mb:.1f} MB (incl. the event history), during the replay "
        f"{replay_peak_mb:.1f} MB; process max RSS {rss_before:.0f} -> {rss_after:.0f} MB"
    )
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
