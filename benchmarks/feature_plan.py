"""The feature computation alone: building its plan, and running it on inputs held in memory.

    .venv/bin/python benchmarks/feature_plan.py --machines 1000

No Dagster and no storage: the simulator's telemetry, errors, maintenance and inventory for one
day and its 8-day lookback are cached in Spark, then ``machine_features`` is built (the Python
side: Column objects and the analysis of every select, through py4j) and run into Spark's
``noop`` sink, for the whole day and for an open day through 11:00. Prints the best of
``--repeat`` runs of each after one warm-up. The asset's own run adds reading, caching,
per-partition metadata, the check and the write (benchmarks/features.py, benchmarks/open_day.py).
"""

import argparse
import time
from datetime import UTC, date, datetime, timedelta

DAY = date(2015, 2, 10)
HISTORY_START = date(2014, 12, 1)


def best_of(repeat: int, run) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from pdm_assets.resources.spark import build_local_spark
    from pdm_assets.simulator import FleetSimulator
    from pdm_assets.transforms.features import machine_features

    spark = build_local_spark({"spark.sql.shuffle.partitions": "2"})
    sim = FleetSimulator(n_machines=args.machines, seed=1, history_start=HISTORY_START)
    after = DAY + timedelta(days=1)
    lookback = DAY - timedelta(days=8)
    inputs = {
        "telemetry": sim.telemetry(lookback, after),
        "errors": sim.errors(lookback, after),
        "maintenance": sim.maintenance(HISTORY_START, after),
        "machines": sim.machines(),
    }
    frames = {name: spark.createDataFrame(frame).cache() for name, frame in inputs.items()}
    for frame in frames.values():
        frame.count()
    print(f"{args.machines} machines, {len(inputs['telemetry']):,} telemetry rows in memory")

    midnight = datetime.combine(DAY, datetime.min.time(), UTC)
    ends = {"whole day": midnight + timedelta(days=1), "open day through 11:00": midnight}
    ends["open day through 11:00"] += timedelta(hours=12)

    def build(end: datetime):
        return machine_features(
            frames["telemetry"],
            frames["errors"],
            frames["maintenance"],
            frames["machines"],
            DAY,
            end,
            HISTORY_START,
        )

    build(ends["whole day"]).write.format("noop").mode("overwrite").save()  # warm-up
    for label, end in ends.items():
        plan = best_of(args.repeat, lambda end=end: build(end))
        run = best_of(
            args.repeat,
            lambda end=end: build(end).write.format("noop").mode("overwrite").save(),
        )
        print(f"{label:<26} build the plan {plan:5.2f} s   build and run {run:5.2f} s")


if __name__ == "__main__":
    main()
