"""The README's first command: simulate a fleet and run the whole platform through Dagster."""

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from pdm_assets.partitions import horizon_days, model_lag_days, partition_range_tags
from pdm_assets.settings import Settings, load_settings

SETTINGS_SHOWN = ("PDM_DATA_DIR", "PDM_SOURCE", "PDM_LANDING_DIR", "PDM_START_DATE", "PDM_MACHINES")
DAILY_CHAIN = [
    "raw_telemetry",
    "raw_errors",
    "raw_maintenance",
    "raw_failures",
    "component_replacements",
    "machine_features",
]


def prepare_dagster_home(settings: Settings) -> Path:
    """A persistent DAGSTER_HOME under the data directory, unless one is set already."""
    home = Path(os.environ.get("DAGSTER_HOME") or Path(settings.data_dir) / "dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = str(home.absolute())
    return home


def materialize_range(
    defs: dg.Definitions,
    selection: list[str],
    instance: dg.DagsterInstance,
    start: date | None = None,
    end: date | None = None,
    partition_key: str | None = None,
    config: dict[str, dict] | None = None,
) -> dg.ExecuteInProcessResult:
    """One run over a partition range (the single-run backfill path), or one partition."""
    assets = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
    tags = {}
    if start is not None and end is not None:
        tags = partition_range_tags(start, end)
    return dg.materialize(
        [*assets, *(defs.asset_checks or [])],
        selection=selection,
        instance=instance,
        resources=defs.resources,
        tags=tags,
        partition_key=partition_key,
        run_config={
            "loggers": {"console": {"config": {"log_level": "WARNING"}}},
            "ops": {op: {"config": c} for op, c in (config or {}).items() if c},
        },
    )


@dataclass(frozen=True)
class DemoPlan:
    """Which partitions the demo materializes for a fleet history of ``days`` days."""

    first: date
    last: date
    label_last: date
    model_months: list[date]
    score_first: date
    label_lag: int

    @property
    def evaluation_first(self) -> date:
        """Evaluation of D reads the scores of D - horizon - 1 day .. D (published lead times)."""
        return self.score_first + timedelta(days=self.label_lag + 1)

    @classmethod
    def for_days(cls, start: date, days: int, horizon_hours: int, models: int = 2) -> "DemoPlan":
        last = start + timedelta(days=days - 1)
        label_last = last - timedelta(days=horizon_days(horizon_hours))
        newest = (last - timedelta(days=model_lag_days(horizon_hours))).replace(day=1)
        months = [newest]
        while len(months) < models:
            months.insert(0, (months[0] - timedelta(days=1)).replace(day=1))
        months = [m for m in months if (m - start).days >= 45] or [newest]
        score_first = months[0] + timedelta(days=model_lag_days(horizon_hours))
        return cls(start, last, label_last, months, score_first, horizon_days(horizon_hours))


def use_published_files(src_dir: str | Path) -> dict[str, Any]:
    """Import the five published Azure files and point this process's settings at them.

    The settings are the environment, so this is the same as running with ``PDM_SOURCE=landing``
    and ``PDM_START_DATE`` set to the first telemetry day: the asset code does not change.
    """
    from pdm_assets.landing import import_azure

    summary = import_azure(src_dir, load_settings().landing_dir)
    os.environ.update(PDM_SOURCE="landing", PDM_START_DATE=summary["first_day"])
    return summary


def run_demo(
    days: int = 150,
    models: int = 1,
    trees: int | None = None,
    echo: Callable[[str], None] = print,
) -> DemoPlan:
    """Materialize every asset for ``days`` days from the configured source; returns the plan."""
    from pdm_assets.definitions import build_definitions

    settings = load_settings()
    home = prepare_dagster_home(settings)
    instance = dg.DagsterInstance.get()
    defs = build_definitions()
    plan = DemoPlan.for_days(settings.start, days, settings.horizon_hours, models)
    if settings.source == "simulator":
        fleet = f"Simulated fleet: {settings.n_machines} machines (seed {settings.seed})"
    else:
        fleet = f"Fleet from the landing zone {settings.landing_dir}"
    echo(f"{fleet}, {plan.first} .. {plan.last}; data in {settings.data_dir}")
    model_config = {"num_trees": trees} if trees else {}
    steps = [
        ("inventory", ["machines"], {}),
        ("raw + features", DAILY_CHAIN, {"start": plan.first, "end": plan.last}),
        ("labels", ["failure_labels"], {"start": plan.first, "end": plan.label_last}),
        *(
            (
                f"model {m:%Y-%m}",
                ["failure_model"],
                {"partition_key": m.isoformat(), "config": {"failure_model": model_config}},
            )
            for m in plan.model_months
        ),
        (
            "scores + alerts",
            ["failure_scores", "maintenance_alerts"],
            {"start": plan.score_first, "end": plan.last},
        ),
        (
            "evaluation",
            ["score_evaluation"],
            {"start": plan.evaluation_first, "end": plan.label_last},
        ),
    ]
    started = time.monotonic()
    # Entered, the instance is also the current definitions-state store (and is disposed after).
    with instance:
        for name, selection, kwargs in steps:
            step_start = time.monotonic()
            materialize_range(defs, selection, instance, **kwargs)
            echo(f"  {name:<16} {time.monotonic() - step_start:6.1f} s")
        echo(f"Materialized everything in {time.monotonic() - started:.0f} s\n")
        _report(defs, instance, plan, home, echo)
    return plan


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
        for line in meta["confusion_matrix"].value.splitlines():
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
    crew = crew_metrics(
        alert_rows(scores, F.col("alert_threshold")),
        judged,
        failures,
        machines * n_days / 30,
        horizon,
    )

    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.0%}"

    precision = "n/a" if crew.episode_precision is None else f"{crew.episode_precision:.2f}"
    lead = "n/a" if crew.median_lead_hours is None else f"{crew.median_lead_hours:.0f} h"
    echo(f"\nWhat a crew saw, {plan.score_first} .. {plan.last} (alerts as published):")
    echo(
        f"  {crew.failures} failures: {pct(crew.published_ahead[24])} announced >= 24 h ahead, "
        f"{pct(crew.published_ahead[12])} >= 12 h ahead; median published lead {lead}"
    )
    echo(
        f"  {crew.episodes} alert episodes ({crew.true_episodes} true, precision {precision}); "
        f"{crew.false_episodes_per_machine_month or 0:.2f} false episodes per machine-month"
    )
