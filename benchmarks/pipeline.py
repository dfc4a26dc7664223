"""The whole pipeline at fleet scale, stage by stage.

    .venv/bin/python benchmarks/pipeline.py --machines 1000 --days 365

Single-run backfills of raw data, features and labels over the range; training of the last model
partition (the platform's forest, 60 trees of depth 10, unless --trees says otherwise; the
reference's 200 trees need a 4g heap at 1,000 machines: PDM_SPARK_CONF=spark.driver.memory=4g);
scoring of that model's month; and scoring of one new day.
"""

import argparse
from datetime import date, timedelta

from harness import Bench

from pdm_assets.demo import latest_metadata
from pdm_assets.transforms.model import ModelParams

RAW = ["raw_telemetry", "raw_errors", "raw_maintenance", "raw_failures"]
FEATURES = ["component_replacements", "machine_features"]
SCORING = ["failure_scores", "maintenance_alerts"]
HOLDOUT_METRICS = ("holdout_macro_f1", "holdout_accuracy", "alert_precision", "alert_recall")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--trees", type=int, default=ModelParams().num_trees)
    args = parser.parse_args()
    first = date(2015, 1, 1)
    last = first + timedelta(days=args.days - 1)
    label_last = last - timedelta(days=2)
    model_month = (last - timedelta(days=3)).replace(day=1)
    score_first = model_month + timedelta(days=3)

    bench = Bench(args.machines)
    print(f"{args.machines} machines x {args.days} days, model {model_month:%Y-%m}")
    bench.run("machines", ["machines"])
    bench.run("raw (single run)", RAW, first.isoformat(), last.isoformat())
    bench.run("features (single run)", FEATURES, first.isoformat(), last.isoformat())
    bench.run("labels (single run)", ["failure_labels"], first.isoformat(), label_last.isoformat())
    bench.run(
        f"train model {model_month:%Y-%m} ({args.trees} trees)",
        ["failure_model"],
        partition_key=model_month.isoformat(),
        run_config={"ops": {"failure_model": {"config": {"num_trees": args.trees}}}},
    )
    metadata = latest_metadata(bench.instance, "failure_model", model_month.isoformat())
    holdout = {k: round(metadata[k].value, 3) for k in HOLDOUT_METRICS if k in metadata}
    print("  hold-out: " + ", ".join(f"{k} {v}" for k, v in holdout.items()))
    bench.run(
        f"score its month {score_first}..{last}", SCORING, score_first.isoformat(), last.isoformat()
    )
    bench.run(f"score one new day {last}", SCORING, last.isoformat())
    bench.finish(machines=args.machines, days=args.days, trees=args.trees, holdout=holdout)


if __name__ == "__main__":
    main()
