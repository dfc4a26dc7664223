"""The README's first command: simulate a fleet and run the whole platform through Dagster."""

import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
from dagster import DagsterEventType

from pdm_assets.automation import (
    EVALUATION_JOB,
    FEATURES_JOB,
    LABELS_JOB,
    MACHINES_JOB,
    MODEL_JOB,
    RAW_JOB,
    SCORES_JOB,
)
from pdm_assets.partitions import (
    daily_partitions,
    evaluation_lookback_days,
    horizon_days,
    model_lag_days,
    partition_range_tags,
)
from pdm_assets.settings import Settings, load_settings, save_fleet_window

SETTINGS_SHOWN = (
    "PDM_DATA_DIR",
    "PDM_SOURCE",
    "PDM_LANDING_DIR",
    "PDM_START_DATE",
    "PDM_END_DATE",
    "PDM_MACHINES",
)
HEARTBEAT_SECONDS = 10.0


def prepare_dagster_home(settings: Settings) -> Path:
    """A persistent DAGSTER_HOME under the data directory, unless one is set already."""
    home = Path(os.environ.get("DAGSTER_HOME") or Path(settings.data_dir) / "dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = str(home.absolute())
    return home


@dataclass(frozen=True)
class Stage:
    """One demo run: a named job of the code location over a partition range or one partition."""

    name: str
    job: str
    first: date | None = None
    last: date | None = None
    partition_key: str | None = None
    config: dict[str, dict] | None = None

    def describe(self) -> str:
        if self.first is not None and self.last is not None:
            n = (self.last - self.first).days + 1
            return f"{n} daily partition{'s' * (n != 1)}, {self.first} .. {self.last}"
        if self.partition_key is not None:
            return f"partition {self.partition_key}"
        return "unpartitioned"


def run_stage(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    stage: Stage,
    echo: Callable[[str], None] = print,
    heartbeat_seconds: float = HEARTBEAT_SECONDS,
) -> dg.ExecuteInProcessResult:
    """Run the stage's named job in this process (a range is one run, as a single-run backfill
    is), so the runs list names what each run did; a heartbeat reports progress meanwhile."""
    job = defs.resolve_job_def(stage.job)
    run_id = str(uuid.uuid4())
    tags = {} if stage.first is None else partition_range_tags(stage.first, stage.last)
    run_config = {
        "loggers": {"console": {"config": {"log_level": "WARNING"}}},
        "ops": {op: {"config": c} for op, c in (stage.config or {}).items() if c},
    }
    with Heartbeat(instance, run_id, stage.name, echo, heartbeat_seconds):
        return job.execute_in_process(
            run_config=run_config,
            instance=instance,
            partition_key=stage.partition_key,
            tags=tags,
            run_id=run_id,
        )


STEP_EVENTS = {
    DagsterEventType.STEP_START,
    DagsterEventType.STEP_SUCCESS,
    DagsterEventType.STEP_FAILURE,
}


class Heartbeat:
    """Every few seconds, one line: elapsed time, the steps running and how many are done.

    Read from the run's event log in the instance, so it is what the UI shows too. Progress is
    a courtesy: if the event log cannot be read, it says so once and the run goes on.
    """

    def __init__(
        self,
        instance: dg.DagsterInstance,
        run_id: str,
        name: str,
        echo: Callable[[str], None],
        interval: float,
    ):
        self.instance, self.run_id, self.name, self.echo = instance, run_id, name, echo
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat {name}", daemon=True)
        self._started = time.monotonic()

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def line(self) -> str:
        started, finished = [], set()
        for entry in self.instance.all_logs(self.run_id, of_type=STEP_EVENTS):
            if entry.dagster_event_type == DagsterEventType.STEP_START:
                started.append(entry.step_key)
            else:
                finished.add(entry.step_key)
        running = [step for step in started if step not in finished]
        elapsed = time.monotonic() - self._started
        doing = f"running {', '.join(running)}" if running else "starting"
        return f"    ... {self.name}: {elapsed:4.0f} s, {doing} ({len(finished)} steps done)"

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.echo(self.line())
            except Exception as error:  # progress only: never let it fail the run
                self.echo(f"    ... {self.name}: no progress ({type(error).__name__}: {error})")
                return


def markdown_table_as_text(markdown: str) -> list[str]:
    """A markdown table as aligned plain-text lines (first column left, the others right)."""
    rows = [
        [cell.strip().strip("*") for cell in line.strip().strip("|").split("|")]
        for line in markdown.splitlines()
        if line.strip().startswith("|") and not set(line.strip()) <= set("|-: ")
    ]
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    ]


@dataclass(frozen=True)
class DemoPlan:
    """Which partitions the demo materializes for a fleet history of ``days`` days."""

    first: date
    last: date
    label_last: date
    model_months: list[date]
    score_first: date
    evaluation_lookback: int

    @property
    def evaluation_first(self) -> date:
        """Evaluation of D reads the scores of D - horizon - 1 day .. D (published lead times)."""
        return self.score_first + timedelta(days=self.evaluation_lookback)

    @classmethod
    def for_days(cls, start: date, days: int, horizon_hours: int, models: int = 2) -> "DemoPlan":
        """The newest ``models`` monthly models and the days they score. When the newest month's
        scored days end before any of them can be evaluated (the fleet's last day falls in the
        first days of a month), the month before is trained too, so the demo always grades
        some days."""
        last = start + timedelta(days=days - 1)
        label_last = last - timedelta(days=horizon_days(horizon_hours))
        lag = model_lag_days(horizon_hours)
        lookback = evaluation_lookback_days(horizon_hours)
        newest = (last - timedelta(days=lag)).replace(day=1)
        months = [newest]
        while len(months) < models or months[0] + timedelta(days=lag + lookback) > label_last:
            earlier = (months[0] - timedelta(days=1)).replace(day=1)
            if (earlier - start).days < 45:  # too little history before it to train on
                break
            months.insert(0, earlier)
        months = [m for m in months if (m - start).days >= 45] or [newest]
        score_first = months[0] + timedelta(days=lag)
        return cls(start, last, label_last, months, score_first, lookback)


def use_published_files(src_dir: str | Path) -> dict[str, Any]:
    """Import the five published Azure files and point this process's settings at them.

    The settings are the environment, so this is the same as running with ``PDM_SOURCE=landing``,
    ``PDM_START_DATE`` and ``PDM_END_DATE`` set to the files' first and last telemetry days: the
    asset code does not change.
    """
    from pdm_assets.landing import import_azure

    summary = import_azure(src_dir, load_settings().landing_dir)
    # A fixed period: the partitions end with the files, not years later at yesterday.
    os.environ.update(
        PDM_SOURCE="landing",
        PDM_START_DATE=summary["first_day"],
        PDM_END_DATE=summary["last_day"],
    )
    return summary


LIVE_HISTORY_DAYS = 365  # maintenance history simulated before a live fleet's first day


def live_fleet_window(days: int, today: date | None = None) -> tuple[date, date]:
    """First day and history start of a simulated fleet whose ``days`` days end yesterday."""
    yesterday = (today or datetime.now(UTC).date()) - timedelta(days=1)
    start = yesterday - timedelta(days=days - 1)
    return start, start - timedelta(days=LIVE_HISTORY_DAYS)


def use_live_fleet(days: int, today: date | None = None) -> Settings:
    """Make the simulated fleet a live one: its ``days`` days end yesterday.

    The window is saved in the data directory (``fleet_window.json``), so ``dagster dev`` and the
    CLI later show the same partitions, and the schedules and sensors have a next day to do right
    away. Explicit ``PDM_START_DATE`` / ``PDM_END_DATE`` win: the window is left alone then.
    """
    settings = load_settings()
    if settings.source != "simulator" or os.environ.get("PDM_START_DATE") or settings.end:
        return settings
    start, history_start = live_fleet_window(days, today)
    if os.environ.get("PDM_HISTORY_START"):
        history_start = settings.history_start_date
    save_fleet_window(settings.data_dir, start, history_start)
    return load_settings()


def _check_partitions_not_frozen() -> None:
    """Fail early, with the reason, if the asset modules were imported under another window."""
    frozen = sys.modules.get("pdm_assets.assets.daily")
    if frozen is not None and frozen.DAILY != daily_partitions():
        raise RuntimeError(
            "demo: the asset modules were imported before the fleet window was set; run the demo "
            "in a fresh process (pdm-assets demo) or set PDM_START_DATE and PDM_END_DATE"
        )


def run_demo(
    days: int = 150,
    models: int = 1,
    trees: int | None = None,
    echo: Callable[[str], None] = print,
    heartbeat_seconds: float = HEARTBEAT_SECONDS,
) -> DemoPlan:
    """Materialize every asset for ``days`` days from the configured source; returns the plan."""
    # The window first: the asset modules freeze their partitions when they are imported.
    settings = use_live_fleet(days)
    _check_partitions_not_frozen()
    from pdm_assets.definitions import build_definitions

    home = prepare_dagster_home(settings)
    instance = dg.DagsterInstance.get()
    defs = build_definitions()
    plan = DemoPlan.for_days(settings.start, days, settings.horizon_hours, models)
    newest = date.fromisoformat(daily_partitions().get_last_partition_key())
    if plan.last > newest:
        raise ValueError(
            f"demo: {days} days from PDM_START_DATE={settings.start} end on {plan.last}, after the "
            f"newest partition {newest}; use --days {(newest - settings.start).days + 1} or less"
        )
    if settings.source == "simulator":
        fleet = f"Simulated fleet: {settings.n_machines} machines (seed {settings.seed})"
    else:
        fleet = f"Fleet from the landing zone {settings.landing_dir}"
    echo(f"{fleet}, {plan.first} .. {plan.last}; data in {settings.data_dir}")
    stages = demo_stages(plan, {"num_trees": trees} if trees else {})
    started = time.monotonic()
    # MLflow logs every model load's harmless "does not point to the current DFS" at INFO.
    logging.getLogger("mlflow.spark").setLevel(logging.WARNING)
    # Entered, the instance is also the current definitions-state store (and is disposed after).
    with instance:
        for stage in stages:
            echo(f"> {stage.name}: {stage.job}, {stage.describe()}")
            stage_start = time.monotonic()
            run_stage(defs, instance, stage, echo, heartbeat_seconds)
            echo(f"  {stage.name:<16} {time.monotonic() - stage_start:6.1f} s")
        echo(f"Materialized everything in {time.monotonic() - started:.0f} s\n")
        _report(defs, instance, plan, home, echo)
    return plan


def demo_stages(plan: DemoPlan, model_config: dict[str, Any]) -> list[Stage]:
    """The demo's runs, in order, each a job of the code location (see docs/operating.md)."""
    return [
        Stage("inventory", MACHINES_JOB),
        Stage("raw", RAW_JOB, plan.first, plan.last),
        Stage("features", FEATURES_JOB, plan.first, plan.last),
        Stage("labels", LABELS_JOB, plan.first, plan.label_last),
        *(
            Stage(
                f"model {m:%Y-%m}",
                MODEL_JOB,
                partition_key=m.isoformat(),
                config={"failure_model": model_config},
            )
            for m in plan.model_months
        ),
        Stage("scores + alerts", SCORES_JOB, plan.score_first, plan.last),
        Stage("evaluation", EVALUATION_JOB, plan.evaluation_first, plan.label_last),
    ]


def latest_metadata(instance: dg.DagsterInstance, asset: str, partition: str) -> dict:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1
    ).records
    return dict(records[0].asset_materialization.metadata) if records else {}


def _report(defs, instance, plan: DemoPlan, home: Path, echo) -> None:
    tables = defs.resources["tables"].store()
    newest_model = plan.model_months[-1].isoformat()
    record = tables.read_record("failure_model", newest_model)
    meta = latest_metadata(instance, "failure_model", newest_model)
    echo(f"Model {newest_model[:7]}: MLflow version {record['version']} of {record['model_name']}")
    echo(f"  trained on {record['window_first_day']} .. {record['window_last_day']}")
    for key in (
        "holdout_macro_f1",
        "holdout_accuracy",
        "alert_threshold",
        "alert_precision",
        "alert_recall",
    ):
        if key in meta:
            value = meta[key].value
            echo(f"  {key:<18} {value:.3f}" if isinstance(value, float) else f"  {key:<18} {value}")
    if "confusion_matrix" in meta:
        echo("  hold-out confusion matrix (rows actual, columns predicted):")
        for line in markdown_table_as_text(meta["confusion_matrix"].value):
            echo(f"    {line}")
    _crew_report(tables, plan, echo)
    alerts = tables.read("maintenance_alerts", [plan.last.isoformat()]).orderBy("rank").toPandas()
    echo(f"\nMaintenance alerts for {plan.last} ({len(alerts)}):")
    for row in alerts.head(10).itertuples():
        echo(
            f"  #{row.rank} machine {row.machineID:>4}  {row.component}  risk {row.risk:.2f}  "
            f"{row.explanation}"
        )
    mlflow = defs.resources["mlflow_tracking"]
    # The UI must see the same settings, or its partitions and source differ from the demo's.
    env = "".join(f"{k}={os.environ[k]} " for k in SETTINGS_SHOWN if os.environ.get(k))
    echo(
        f"\nDagster UI:  {env}DAGSTER_HOME={home} .venv/bin/dagster dev -w workspace.yaml"
        "  (or: make dev), then http://127.0.0.1:3000"
        f"\nMLflow UI:   .venv/bin/{mlflow.ui_hint()}"
    )


def _crew_report(tables, plan: DemoPlan, echo) -> None:
    """What a crew would have experienced over the scored days: published lead and episodes."""
    from pyspark.sql import functions as F

    from pdm_assets.transforms.alert_episodes import alert_rows, crew_metrics

    n_days = (plan.last - plan.score_first).days + 1
    days = [(plan.score_first + timedelta(days=i)).isoformat() for i in range(n_days)]
    scores = tables.read("failure_scores", days)
    failures = tables.read("raw_failures", days)
    machines = scores.select("machineID").distinct().count()
    horizon = load_settings().horizon_hours
    # Failures of the last horizon days may still be announced later: judge the earlier ones.
    judged = failures.where(F.col("datetime") < F.lit(f"{plan.label_last + timedelta(days=1)}"))
    machine_months = machines * n_days / 30
    # Any level starts at the watch threshold; act rows are those also above the act threshold
    # with their component's confirming evidence. The demo has just scored these days, so every
    # row carries both level thresholds.
    crew, act = (
        crew_metrics(alert_rows(rows, F.col(level)), judged, failures, machine_months, horizon)
        for rows, level in (
            (scores, "watch_threshold"),
            (scores.where(F.col("act_confirmed")), "act_threshold"),
        )
    )

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.0%}"

    def num(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.2f}"

    lead = "n/a" if crew.median_lead_hours is None else f"{crew.median_lead_hours:.0f} h"
    echo(f"\nWhat a crew saw, {plan.score_first} .. {plan.last} (alerts as published):")
    echo(
        f"  {crew.failures} failures: {pct(crew.published_ahead[24])} announced >= 24 h ahead "
        f"(any level), {pct(act.published_ahead[12])} with an act alert >= 12 h ahead; "
        f"median published lead {lead}"
    )
    echo(
        f"  act:   {act.episodes} episodes ({act.true_episodes} true, precision "
        f"{num(act.episode_precision)}); {act.false_episodes_per_machine_month or 0:.2f} false "
        "act episodes per machine-month"
    )
    echo(
        f"  watch: {crew.episodes} episodes ({crew.true_episodes} true, precision "
        f"{num(crew.episode_precision)}); {crew.false_episodes_per_machine_month or 0:.2f} false "
        "watch episodes per machine-month"
    )
