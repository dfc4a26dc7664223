"""Corrections re-flow to the end, on real Spark and a real Dagster instance, in one process.

``python -m pdm_assets_tests.reliability.reflow_scenario WORKDIR`` prints one JSON line. The
settings must be in the environment before this module is imported (partitions are fixed at
import): PDM_START_DATE, PDM_END_DATE, PDM_MACHINES, PDM_SOURCE=landing.

1. A landing zone of the simulator's days; the landing sensor's chains (``evaluate_landing_zone``)
   ingest it, then the February model, its scores and their evaluation are materialized (store A).
2. Delivery 1 corrects a maintenance file of day D; delivery 2 a telemetry day and a failures day.
   After each, the sensor's chain is driven to its end; every partition file that was rewritten
   is recorded (path and mtime per ``dt=`` folder) next to what the planner said would be.
3. The same steps on a copy of the corrected landing zone from scratch (store B); every table of
   A and B is compared row for row.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from pdm_assets import landing
from pdm_assets.automation import evaluate_landing_zone, jobs, reflow
from pdm_assets.automation.landing_cursor import LandingCursor
from pdm_assets.automation.landing_sensor import complete_days, plan_inputs, tables_changed
from pdm_assets.partitions import RANGE_END_TAG, RANGE_START_TAG, partition_range_tags
from pdm_assets.settings import load_settings
from pdm_assets.simulator import FleetSimulator

MODEL_MONTH = "2026-02-01"  # scores 02-04 .. 02-20 (day D uses the model of D - 3 days)
SCORE_DAYS = ("2026-02-04", "2026-02-20")
EVALUATION_DAYS = ("2026-02-07", "2026-02-18")
MAINTENANCE_DAY = date(2026, 1, 20)
TELEMETRY_DAY = date(2026, 2, 6)
FAILURE_DAY = date(2026, 2, 16)
DAILY_TABLES = (  # every daily-partitioned table, in data-flow order
    *jobs.RAW_ASSETS,
    *jobs.FEATURE_ASSETS,
    *jobs.LABEL_ASSETS,
    *jobs.SCORE_ASSETS,
    *jobs.EVALUATION_ASSETS,
)
# Which planner field each table follows.
FOLLOWS = {
    "component_replacements": "features",
    "machine_features": "features",
    "failure_labels": "labels",
    "failure_scores": "scores",
    "maintenance_alerts": "scores",
    "score_evaluation": "evaluation",
}
# Columns that name a model version (a re-trained model is a new registry version) or a run.
RUN_IDENTITY = ("model_version", "version", "run_id")
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
# The same small forest for every training run, re-flow and from scratch alike.
SMALL_FOREST = {
    "ops": {
        "failure_model": {"config": {"num_trees": 8, "max_depth": 5, "min_threshold_failures": 0}}
    }
}


class Deployment:
    """One data directory, instance and Definitions; the environment is switched to build it."""

    def __init__(self, work: Path, name: str, landing_dir: Path):
        from pdm_assets.definitions import build_definitions

        os.environ["PDM_DATA_DIR"] = str(work / name)
        os.environ["PDM_LANDING_DIR"] = str(landing_dir)
        self.landing_dir = landing_dir
        self.settings = load_settings()
        self.defs = build_definitions()
        self.instance = dg.DagsterInstance.ephemeral()
        self.tables = self.defs.resources["tables"]
        self.cursor: str | None = None
        self.runs: list[dict[str, Any]] = []

    def run(self, job: str, first: str | None = None, last: str | None = None, tags=None):
        tags = dict(tags or {})
        partition_key = None
        if first is not None and first == last:
            partition_key = first
        elif first is not None:
            tags.update(partition_range_tags(first, last))
        t0 = time.monotonic()
        result = self.defs.resolve_job_def(job).execute_in_process(
            instance=self.instance,
            partition_key=partition_key,
            tags=tags,
            run_config={**QUIET, **(SMALL_FOREST if job == "model_job" else {})},
        )
        assert result.success, f"{job} {first}..{last} failed"
        self.runs.append(
            {"job": job, "first": first, "last": last, "s": round(time.monotonic() - t0, 1)}
        )
        print(f"reflow scenario: {self.runs[-1]}", file=sys.stderr, flush=True)

    def drive_sensor(self) -> list[dict[str, Any]]:
        """Ticks until no chain is in flight, running each requested run as the daemon would."""
        start = len(self.runs)
        for _ in range(20):
            result = evaluate_landing_zone(
                self.instance, str(self.landing_dir), self.cursor, self.settings
            )
            self.cursor = result.cursor
            for r in result.run_requests or []:
                first = r.tags.get(RANGE_START_TAG, r.partition_key)
                last = r.tags.get(RANGE_END_TAG, r.partition_key)
                self.run(r.job_name, first, last, tags=r.tags)
            if not result.run_requests and not LandingCursor.parse(self.cursor).chains:
                return self.runs[start:]
        raise AssertionError("the landing chain did not finish in 20 ticks")

    def plan_of_next_delivery(self) -> dict[str, list[str]]:
        """What the planner will re-flow for the files changed since the cursor."""
        days = complete_days(str(self.landing_dir))
        files = LandingCursor.parse(self.cursor).files
        which = {
            d: tables_changed(files.get(d.isoformat()), fp[0])
            for d, fp in days.items()
            if files.get(d.isoformat()) != fp[0]
        }
        r = reflow(which, False, plan_inputs(self.instance, days, self.settings))
        out = {f: sorted(x.isoformat() for x in getattr(r, f)) for f in FOLLOWS.values()}
        out["raw"] = sorted(d.isoformat() for d in r.raw)
        out["models"] = sorted(r.models)
        return out

    def build_everything(self) -> None:
        self.drive_sensor()  # raw, machines, features, labels (no model yet: no scores)
        self.run("model_job", MODEL_MONTH, MODEL_MONTH)
        self.run("scores_job", *SCORE_DAYS)
        self.run("evaluation_job", *EVALUATION_DAYS)

    def files(self) -> dict[str, dict[str, frozenset]]:
        """Per table and partition: the (file, mtime_ns) pairs of its ``dt=`` folder."""
        root = Path(self.tables.store().root)
        out: dict[str, dict[str, frozenset]] = {}
        for table in DAILY_TABLES:
            out[table] = {
                p.name.removeprefix("dt="): frozenset(
                    (f.name, f.stat().st_mtime_ns) for f in p.iterdir()
                )
                for p in sorted((root / table).glob("dt=*"))
            }
        return out

    def frame(self, table: str) -> pd.DataFrame:
        store = self.tables.store()
        keys = None if table == "machines" else store.stored_partitions(table)
        df = store.read(table, keys).toPandas()
        df = df.drop(columns=[c for c in df.columns if c in RUN_IDENTITY])
        for column in df.columns:  # nested values (the alerts' explanations) compare as text
            if df[column].map(lambda v: isinstance(v, (list, dict, np.ndarray))).any():
                df[column] = df[column].map(_as_text)
        return df.sort_values(list(df.columns)).reset_index(drop=True)


def _as_text(value) -> str:
    """Nested floats rounded to 12 significant digits: ranges of days may sum in another order."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_as_text(v)}" for k, v in sorted(value.items())) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_as_text(v) for v in value) + "]"
    if hasattr(value, "asDict"):
        return _as_text(value.asDict())
    if isinstance(value, float):
        return f"{value:.12g}"
    return repr(value)


def rewritten(before, after) -> dict[str, list[str]]:
    return {
        t: sorted(k for k, v in after[t].items() if before[t].get(k) != v) for t in DAILY_TABLES
    }


def expected_rewrites(plan: dict[str, list[str]]) -> dict[str, list[str]]:
    out = {t: plan["raw"] for t in DAILY_TABLES if t.startswith("raw_")}
    out.update({t: plan[field] for t, field in FOLLOWS.items()})
    return out


def rewrite_csv(path: Path, edit) -> None:
    lines = path.read_text().splitlines()
    lines = edit(lines)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)


def correct_maintenance(zone: Path) -> None:
    """A replacement that was done on D but recorded late: machine 1, comp1."""
    rewrite_csv(
        landing.day_path(zone, "maintenance", MAINTENANCE_DAY),
        lambda lines: [*lines, f"{MAINTENANCE_DAY} 06:00:00,1,comp1"],
    )


def correct_telemetry_and_failures(zone: Path) -> None:
    def new_volt(lines):
        cells = lines[1].split(",")
        cells[2] = "250.0"  # machine 1's first reading of the day was mistyped
        return [lines[0], ",".join(cells), *lines[2:]]

    rewrite_csv(landing.day_path(zone, "telemetry", TELEMETRY_DAY), new_volt)
    rewrite_csv(
        landing.day_path(zone, "failures", FAILURE_DAY),
        lambda lines: [*lines, f"{FAILURE_DAY} 06:00:00,2,comp3"],
    )


def main(work: Path) -> dict[str, Any]:
    t0 = time.monotonic()
    s = load_settings()
    zone = work / "landing"
    sim = FleetSimulator(n_machines=s.n_machines, seed=s.seed)
    landing.land_simulated_days(zone, sim, s.start, s.end + pd.Timedelta(days=1).to_pytimedelta())

    a = Deployment(work, "a", zone)
    a.build_everything()
    base_features = a.frame("machine_features")
    report: dict[str, Any] = {"build_runs": a.runs[:], "deliveries": []}
    t_build = time.monotonic()

    for name, correct in (
        ("maintenance", correct_maintenance),
        ("telemetry+failures", correct_telemetry_and_failures),
    ):
        time.sleep(0.01)  # a new mtime even on a coarse clock
        correct(zone)
        plan = a.plan_of_next_delivery()
        before = a.files()
        t = time.monotonic()
        runs = a.drive_sensor()
        report["deliveries"].append(
            {
                "name": name,
                "plan": plan,
                "runs": runs,
                "seconds": round(time.monotonic() - t, 1),
                "rewritten": rewritten(before, a.files()),
                "expected": expected_rewrites(plan),
            }
        )
    t_reflow = time.monotonic()

    scratch_zone = work / "landing_scratch"
    shutil.copytree(zone, scratch_zone)
    b = Deployment(work, "b", scratch_zone)
    b.build_everything()
    t_scratch = time.monotonic()

    diffs, rows = {}, {}
    for table in (*DAILY_TABLES, "machines"):
        got, want = a.frame(table), b.frame(table)
        rows[table] = len(want)
        try:
            pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9, atol=1e-12)
        except AssertionError as exc:
            diffs[table] = str(exc)[:2000]
    after = a.frame("machine_features")
    cut = pd.Timestamp(MAINTENANCE_DAY) + pd.Timedelta(days=8)
    changed_late = (
        pd.concat(
            [base_features[base_features["datetime"] >= cut], after[after["datetime"] >= cut]]
        )
        .drop_duplicates(keep=False)
        .shape[0]
    )
    report.update(
        {
            "diffs": diffs,
            "rows": rows,
            "feature_rows_changed_after_d_plus_7": int(changed_late),
            "seconds": {
                "build": round(t_build - t0, 1),
                "corrections": round(t_reflow - t_build, 1),
                "from_scratch": round(t_scratch - t_reflow, 1),
                "total": round(time.monotonic() - t0, 1),
            },
        }
    )
    return report


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1])), default=str), flush=True)
