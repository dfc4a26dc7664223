"""Quality in the crew's units, on the realistic simulated fleet, next to the episode rule.

Two scenarios, three seeds each (median and range):
  (a) 20 machines, model trained on Jan-Feb 2015, scoring March 2015 (the public sample's size);
  (b) 100 machines, model trained on 2015, scoring January 2016.
Per scenario it prints, for today's model (the platform's transforms: features, labels,
fit_and_evaluate with its hold-out threshold, score_features with daily publication) and for the
*episode rule* (alert one hour after every sensor episode starts, the component its sensor
belongs to: what the sensors alone allow):
  published lead >= 24 h / >= 12 h (share of failures), median published lead, alert-episode
  precision, false episodes and all episodes per machine-month, and row-level macro-F1.

The model of the scored month trains on rows whose label horizon ended before the month began (the
platform's exact cutoff) and scores the whole month; the platform scores the month's first three
days with the previous month's model instead, which only makes it older.

    .venv/bin/python benchmarks/quality.py                # both scenarios, 3 seeds, RF 200/15
    .venv/bin/python benchmarks/quality.py --quick        # scenario (a), one seed
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pandas as pd

from pdm_assets.episodes import FleetStats, sensor_episodes
from pdm_assets.resources.spark import build_local_spark
from pdm_assets.simulator import FleetSimulator
from pdm_assets.transforms.alert_episodes import alert_rows, available_at, crew_metrics
from pdm_assets.transforms.features import feature_grid, machine_features, micros
from pdm_assets.transforms.labels import label_upcoming_failures
from pdm_assets.transforms.model import ModelParams, evaluate, fit_and_evaluate, training_rows
from pdm_assets.transforms.scoring import score_features

HORIZON_HOURS = 48
LANDING_HOURS = 1  # hourly files: a row at T is published at T + 1 h
LEADS = (24, 12)


@dataclass(frozen=True)
class Scenario:
    name: str
    machines: int
    train_start: date
    score_start: date
    score_end: date  # exclusive


SCENARIOS = {
    "a": Scenario("a: 20 machines, 2 months -> next month", 20, date(2015, 1, 1),
                  date(2015, 3, 1), date(2015, 4, 1)),
    "b": Scenario("b: 100 machines, 12 months -> month 13", 100, date(2015, 1, 1),
                  date(2016, 1, 1), date(2016, 2, 1)),
}  # fmt: skip


def _utc(d: date) -> datetime:
    return datetime.combine(d, datetime.min.time(), UTC)


def run_scenario(
    spark, scenario: Scenario, seed: int, params: ModelParams, landing_hours: int = LANDING_HOURS
) -> dict[str, dict]:
    """Both systems' crew metrics for one scenario and seed, published with files landing every
    `landing_hours` (both the model's thresholds and both systems' alerts)."""
    began = time.perf_counter()
    sim = FleetSimulator(n_machines=scenario.machines, seed=seed)
    start, end = scenario.train_start, scenario.score_end
    after = end + timedelta(days=3)  # failures a horizon past the last scored row
    telemetry = sim.telemetry(start - timedelta(days=8), end)
    failures_pd = sim.failures(start, after)
    machines = spark.createDataFrame(sim.machines())
    features = machine_features(
        spark.createDataFrame(telemetry),
        spark.createDataFrame(sim.errors(start - timedelta(days=8), end)),
        spark.createDataFrame(sim.maintenance(sim.history_start, end)),
        machines,
        start,
        end,
        unknown_since=sim.history_start,
    ).localCheckpoint()
    failures = spark.createDataFrame(failures_pd)
    labels = label_upcoming_failures(feature_grid(machines, start, end), failures, HORIZON_HOURS)
    rows = training_rows(features, labels).localCheckpoint()

    period = _utc(scenario.score_start)
    horizon_us = HORIZON_HOURS * 3_600_000_000
    usable = rows.filter(micros("datetime") + horizon_us < int(period.timestamp() * 1e6))
    fit_began = time.perf_counter()
    result = fit_and_evaluate(
        usable, period, params, 14, HORIZON_HOURS, landing_interval_hours=landing_hours
    )
    fit_seconds = time.perf_counter() - fit_began

    scored_rows = rows.filter(micros("datetime") >= int(period.timestamp() * 1e6))
    scores = score_features(
        result.model,
        scored_rows.drop("label", "label_index"),
        "bench",
        landing_hours,
        result.confirmation,
    )
    scores = scores.localCheckpoint()
    month_failures = failures.filter(
        (failures.datetime >= period) & (failures.datetime < _utc(scenario.score_end))
    )
    days = (scenario.score_end - scenario.score_start).days
    machine_months = scenario.machines * days / 30
    levels = result.levels

    def crew_of(alerts) -> dict:
        return crew_metrics(
            alerts,
            month_failures,
            failures,
            machine_months,
            HORIZON_HOURS,
            LEADS,
        ).as_dict()

    watch = crew_of(alert_rows(scores, levels.watch_threshold))
    act = crew_of(alert_rows(scores.filter("act_confirmed"), levels.act_threshold))
    # An act alert is also a watch alert (act >= watch), so "any level" is the watch level.
    model = dict(watch)
    model.update({f"act_{k}": v for k, v in act.items()})
    model["macro_f1"] = evaluate(result.model.transform(scored_rows)).macro_f1
    model["threshold"] = result.threshold
    model["watch_threshold"] = levels.watch_threshold
    model["act_threshold"] = levels.act_threshold
    model["act_confirmed"] = levels.act_confirmed
    model["act_confirmation"] = result.confirmation.describe() if result.confirmation else None
    model["holdout_act_precision"] = levels.act_episode_precision
    model["holdout_watch_catch_24h"] = levels.watch_catch_24h
    model["threshold_folds"] = levels.folds
    model["threshold_failures"] = levels.holdout_failures
    model["holdout_macro_f1"] = result.evaluation.macro_f1
    model["fit_seconds"] = fit_seconds

    # The episode rule: an alert one hour after each episode starting in the scored month.
    stats = FleetStats.of(telemetry[telemetry.datetime < pd.Timestamp(scenario.score_start)])
    episodes = sensor_episodes(telemetry, stats)
    episodes = episodes[
        (episodes.start >= pd.Timestamp(scenario.score_start))
        & (episodes.start < pd.Timestamp(scenario.score_end))
    ]
    rule_alerts = pd.DataFrame(
        {
            "machineID": episodes.machineID.astype("int32"),
            "datetime": episodes.start + pd.Timedelta(hours=1),
            "component": episodes.component,
            "risk": 1.0,
        }
    )
    rule_frame = spark.createDataFrame(
        rule_alerts,
        "machineID int, datetime timestamp, component string, risk double",
    ).withColumn("available_at", available_at(landing_hours))
    rule = crew_of(rule_frame)
    model["seconds"] = time.perf_counter() - began
    for df in (features, rows, scores):
        df.unpersist()
    return {"model": model, "rule": rule}


# (key, label, format, key of the rule's comparable figure or None)
FIGURES = (
    ("failures", "failures scored", "{:.0f}", "failures"),
    ("failures_published_24h_ahead", "published >= 24 h ahead (any level)", "{:.0%}",
     "failures_published_24h_ahead"),
    ("median_published_lead_h", "median published lead, any level (h)", "{:.1f}",
     "median_published_lead_h"),
    ("act_failures_published_12h_ahead", "act published >= 12 h ahead", "{:.0%}", None),
    ("act_median_published_lead_h", "median act lead (h)", "{:.1f}", None),
    ("act_episode_precision", "act-episode precision", "{:.2f}", None),
    ("act_false_episodes_per_machine_month", "false act episodes / machine-month", "{:.2f}", None),
    ("episode_precision", "watch-episode precision", "{:.2f}", "episode_precision"),
    ("false_episodes_per_machine_month", "false watch episodes / machine-month", "{:.2f}",
     "false_episodes_per_machine_month"),
    ("episodes_per_machine_month", "watch episodes / machine-month", "{:.2f}",
     "episodes_per_machine_month"),
    ("macro_f1", "row macro-F1 (failure classes)", "{:.2f}", None),
)  # fmt: skip


def _summary(values: list[float | None], fmt: str) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "n/a"
    median = statistics.median(present)
    if len(present) == 1:
        return fmt.format(median)
    return f"{fmt.format(median)} ({fmt.format(min(present))}–{fmt.format(max(present))})"


def print_table(title: str, results: list[dict[str, dict]]) -> None:
    print(f"\n### {title} — {len(results)} seed(s), median (range)\n")
    print("| figure | model (watch / act levels) | episode rule |")
    print("|---|---:|---:|")
    for key, label, fmt, rule_key in FIGURES:
        model = _summary([r["model"].get(key) for r in results], fmt)
        rule = _summary([r["rule"].get(rule_key) for r in results], fmt) if rule_key else "–"
        print(f"| {label} | {model} | {rule} |")
    ratio = [
        r["model"]["false_episodes_per_machine_month"]
        / r["rule"]["false_episodes_per_machine_month"]
        for r in results
        if r["model"].get("false_episodes_per_machine_month") is not None
        and r["rule"].get("false_episodes_per_machine_month")
    ]
    if ratio:
        print(f"| false watch episodes / rule's | {_summary(ratio, '{:.2f}')} | 1 |")
    fits = [r["model"]["fit_seconds"] for r in results]
    print(f"\n(training: {statistics.median(fits):.0f} s median per model, one fit + hold-out)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default="a,b", help="comma-separated: a, b")
    parser.add_argument("--seeds", default="1,2,3")
    defaults = ModelParams()
    parser.add_argument("--trees", type=int, default=defaults.num_trees)
    parser.add_argument("--depth", type=int, default=defaults.max_depth)
    parser.add_argument("--none-every", type=int, default=defaults.none_every_hours)
    parser.add_argument("--weighting", action="store_true", help="inverse-frequency class weights")
    parser.add_argument("--refit", action="store_true", help="refit on the whole window")
    parser.add_argument(
        "--min-threshold-failures",
        type=int,
        default=defaults.min_threshold_failures,
        help="fewer hold-out failures than this: thresholds from out-of-fold scores (0: never)",
    )
    parser.add_argument("--threshold-folds", type=int, default=defaults.threshold_folds)
    parser.add_argument("--subset", default=defaults.feature_subset_strategy, help="per split")
    parser.add_argument("--min-leaf", type=int, default=defaults.min_instances_per_node)
    parser.add_argument(
        "--refit-small-fleet",
        action="store_true",
        help="out-of-fold thresholds: refit on the window, not the fold forest",
    )
    parser.add_argument(
        "--no-act-confirmation",
        action="store_true",
        help="act on the risk alone (never require the component's confirming error)",
    )
    parser.add_argument(
        "--landing-hours",
        type=int,
        default=LANDING_HOURS,
        help="files land every this many hours (1: hourly, the open day; 24: daily files)",
    )
    parser.add_argument("--quick", action="store_true", help="scenario a, seed 1")
    args = parser.parse_args(argv)
    if args.quick:
        args.scenarios, args.seeds = "a", "1"
    params = ModelParams(
        num_trees=args.trees,
        max_depth=args.depth,
        none_every_hours=args.none_every,
        class_weighting=args.weighting,
        refit=args.refit,
        min_threshold_failures=args.min_threshold_failures,
        threshold_folds=args.threshold_folds,
        feature_subset_strategy=args.subset,
        min_instances_per_node=args.min_leaf,
        deploy_fold_forest=not args.refit_small_fleet,
        act_confirmation=not args.no_act_confirmation,
    )
    spark = build_local_spark()
    spark.sparkContext.setLogLevel("ERROR")
    summary: dict[str, list] = {}
    for key in args.scenarios.split(","):
        scenario = SCENARIOS[key.strip()]
        results = []
        for seed in (int(s) for s in args.seeds.split(",")):
            result = run_scenario(spark, scenario, seed, params, args.landing_hours)
            print(
                f"[{scenario.name}] seed {seed}: {result['model']['seconds']:.0f} s; model "
                f"{json.dumps({k: _round(v) for k, v in result['model'].items()})}",
                file=sys.stderr,
            )
            results.append(result)
        print_table(scenario.name, results)
        summary[key] = results
    print(json.dumps({k: [_rounded(r) for r in v] for k, v in summary.items()}))
    return 0


def _round(value):
    return round(value, 4) if isinstance(value, float) else value


def _rounded(result: dict[str, dict]) -> dict[str, dict]:
    return {side: {k: _round(v) for k, v in figures.items()} for side, figures in result.items()}


if __name__ == "__main__":
    raise SystemExit(main())
