"""Feature engineering at fleet scale: single-run backfill vs one new day early and late.

    .venv/bin/python benchmarks/features.py --machines 1000 --days 365

Prints the single-run backfill time of component_replacements + machine_features over the whole
range, then the time to materialize one new day at day 30 and at the last day (the target is
last <= 1.2 x day 30: a new day's cost must not grow with history), with the time spent reading
maintenance history (the component_replacements step) shown apart, and peak memory.
"""

import argparse
from datetime import date, timedelta

from harness import Bench

RAW = ["raw_telemetry", "raw_errors", "raw_maintenance", "raw_failures"]
FEATURES = ["component_replacements", "machine_features"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=2, help="timings of each new day")
    args = parser.parse_args()
    first = date(2015, 1, 1)
    last = first + timedelta(days=args.days - 1)
    day30 = first + timedelta(days=29)

    bench = Bench(args.machines)
    print(
        f"{args.machines} machines x {args.days} days ({first} .. {last}), data in {bench.data_dir}"
    )
    bench.run("machines", ["machines"])
    bench.run("raw, single-run backfill", RAW, first.isoformat(), last.isoformat())
    backfill, _ = bench.run(
        "features, single-run backfill", FEATURES, first.isoformat(), last.isoformat()
    )
    timings = {}
    for label, day in (("day 30", day30), (f"day {args.days}", last)):
        runs = [
            bench.run(f"features, one new day ({label})", FEATURES, day.isoformat())
            for _ in range(args.repeat)
        ]
        best = min(runs, key=lambda r: r[0])
        timings[label] = {
            "seconds": best[0],
            "maintenance_history_seconds": best[1].get("component_replacements"),
        }
    early, late = timings["day 30"]["seconds"], timings[f"day {args.days}"]["seconds"]
    print(f"\nnew day at day {args.days} / at day 30 = {late / early:.2f} (target <= 1.2)")
    bench.finish(
        machines=args.machines,
        days=args.days,
        backfill_seconds=round(backfill, 2),
        new_day=timings,
        late_over_early=round(late / early, 3),
    )


if __name__ == "__main__":
    main()
