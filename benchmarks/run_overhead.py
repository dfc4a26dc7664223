"""The fixed cost of a run: one small partition of each daily asset, and what of it is Spark work.

    .venv/bin/python benchmarks/run_overhead.py [--machines 20] [--repeat 3]

Builds a small history in one process (inventory, 10 raw days, features, labels, a model), then
materializes one partition of each daily asset ``--repeat`` times, with its asset checks, the
way a daemon-launched run would after its process has started. Per asset it prints the run's
wall time, the Spark jobs it started, the time those jobs were running (Spark's own status
store: submission to completion) and the rest: the fixed cost beyond Spark work (issue 14's
target: at most 5 s for 20 machines). A new process adds its start (benchmarks/cold_start.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import date, timedelta

from harness import Bench

from pdm_assets.automation.jobs import FEATURE_ASSETS, RAW_ASSETS

FIRST = date(2015, 1, 1)
DAYS = 40  # January's model needs a month of labelled history before it
SMALL_FOREST = {"ops": {"failure_model": {"config": {"num_trees": 10, "max_depth": 5}}}}


def spark_jobs(spark) -> dict[int, float]:
    """Every finished job so far: id -> seconds from submission to completion."""
    store = spark.sparkContext._jsc.sc().statusStore()
    jobs = store.jobsList(None)
    out = {}
    for i in range(jobs.size()):
        job = jobs.apply(i)
        submitted, completed = job.submissionTime(), job.completionTime()
        if submitted.isDefined() and completed.isDefined():
            out[job.jobId()] = (completed.get().getTime() - submitted.get().getTime()) / 1000
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    last = FIRST + timedelta(days=DAYS - 1)
    bench = Bench(args.machines, env={"PDM_START_DATE": FIRST.isoformat()})
    print(f"history: {args.machines} machines, {FIRST} .. {last}, data in {bench.data_dir}")
    bench.run("machines", ["machines"])
    bench.run("raw", list(RAW_ASSETS), FIRST.isoformat(), last.isoformat())
    bench.run("features", list(FEATURE_ASSETS), FIRST.isoformat(), last.isoformat())
    bench.run(
        "labels", ["failure_labels"], FIRST.isoformat(), (last - timedelta(days=2)).isoformat()
    )
    bench.run("model", ["failure_model"], partition_key="2015-02-01", run_config=SMALL_FOREST)

    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    day = (last - timedelta(days=3)).isoformat()  # scored by February's model (lag 3 days)
    cases = [
        ("raw_telemetry", ["raw_telemetry"]),
        ("machine_features (+ state, check)", list(FEATURE_ASSETS)),
        ("failure_labels (+ checks)", ["failure_labels"]),
        ("failure_scores", ["failure_scores"]),
        ("maintenance_alerts", ["maintenance_alerts"]),
    ]
    print(f"\none partition ({day}), median of {args.repeat} runs:")
    print(f"{'asset':36} {'wall s':>7} {'jobs':>5} {'Spark s':>8} {'rest s':>7}")
    results = {}
    for label, selection in cases:
        samples = []
        for _ in range(args.repeat):
            before = set(spark_jobs(spark))
            t0 = time.monotonic()
            bench.run(label, selection, day, day)
            wall = time.monotonic() - t0
            new = {k: v for k, v in spark_jobs(spark).items() if k not in before}
            spark_s = sum(new.values())  # jobs of one run do not overlap (one driver thread)
            samples.append({"wall": wall, "jobs": len(new), "spark": spark_s})
        med = {k: statistics.median(s[k] for s in samples) for k in samples[0]}
        med["rest"] = med["wall"] - med["spark"]
        results[label] = {k: round(v, 2) for k, v in med.items()}
        print(
            f"{label:36} {med['wall']:7.2f} {med['jobs']:5.0f} {med['spark']:8.2f} "
            f"{med['rest']:7.2f}"
        )
    print(json.dumps({"machines": args.machines, "day": day, "runs": results}))


if __name__ == "__main__":
    main()
