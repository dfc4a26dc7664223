"""Batch scoring of each day with the model version its period recorded, and ranked alerts."""

from collections import defaultdict
from datetime import date
from typing import Any

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pdm_assets.assets.daily import (
    ROW_COUNT,
    add_partition_metadata,
    daily_table_asset,
    metadata_by_day,
    partition_days,
)
from pdm_assets.partitions import model_lag_days, model_partition_for_day
from pdm_assets.resources.tracking import MlflowTracking
from pdm_assets.settings import load_settings
from pdm_assets.transforms.act_confirmation import ActConfirmation
from pdm_assets.transforms.features import partition_day
from pdm_assets.transforms.scoring import maintenance_alerts as rank_alerts
from pdm_assets.transforms.scoring import score_features

GROUP = "scoring"
TOP_ALERTS = 10


class AlertConfig(dg.Config):
    """Leave ``threshold`` negative to use the one that maximized F1 on the model's hold-out."""

    threshold: float = -1.0
    top_features: int = 3


def _lag_mapping() -> dg.TimeWindowPartitionMapping:
    lag = model_lag_days(load_settings().horizon_hours)
    return dg.TimeWindowPartitionMapping(start_offset=-lag, end_offset=-lag)


def days_by_model(days: list[date], horizon_hours: int) -> dict[str, list[date]]:
    grouped: dict[str, list[date]] = defaultdict(list)
    for day in days:
        grouped[model_partition_for_day(day, horizon_hours)].append(day)
    return dict(grouped)


@daily_table_asset(
    group_name=GROUP,
    kinds=("pyspark", "mlflow"),
    ins={
        "machine_features": dg.AssetIn(),
        "failure_model": dg.AssetIn(partition_mapping=_lag_mapping()),
    },
    description=(
        "Per feature row of the day: the probability of each class, the predicted class, a risk "
        "score (the largest component probability) and the MLflow model version used. Day D is "
        "scored by the model of the month of D minus (horizon + 1 day): trained on data that had "
        "matured by then, so scoring never waits for the future."
    ),
)
def failure_scores(
    context: dg.AssetExecutionContext,
    mlflow_tracking: MlflowTracking,
    pyspark_step_launcher: dg.ResourceParam[Any],
    machine_features: DataFrame,
    failure_model: dict,
) -> DataFrame:
    import mlflow.spark

    mlflow_tracking.client()  # point MLflow at the configured registry before loading
    settings = load_settings()
    days = partition_days(context)
    scored: list[DataFrame] = []
    versions: dict[str, str] = {}
    for model_key, model_days in days_by_model(days, settings.horizon_hours).items():
        record = failure_model[model_key]
        model = mlflow.spark.load_model(record["model_uri"])
        wanted = [d.isoformat() for d in model_days]
        features = machine_features.where(partition_day().isin(wanted))
        scores = score_features(
            model,
            features,
            record["version"],
            settings.landing_interval_hours,
            ActConfirmation.from_record(record.get("act_confirmation")),
        ).select(
            "*",
            F.lit(float(record["alert_threshold"])).alias("alert_threshold"),
            # Models logged before the two levels had one threshold: it serves both.
            F.lit(float(record.get("watch_threshold", record["alert_threshold"]))).alias(
                "watch_threshold"
            ),
            F.lit(float(record.get("act_threshold", record["alert_threshold"]))).alias(
                "act_threshold"
            ),
        )
        scored.append(scores)
        versions.update(dict.fromkeys(wanted, record["version"]))
    result = scored[0]
    for part in scored[1:]:
        result = result.unionByName(part)
    result = result.cache()
    per_day = metadata_by_day(result, {ROW_COUNT: F.count("*"), "mean_risk": F.avg("risk")})
    versions_by_day = {key: {"model_version": v} for key, v in versions.items()}
    add_partition_metadata(
        context, per_day, empty={ROW_COUNT: 0, "mean_risk": 0.0}, extra=versions_by_day
    )
    return result


@daily_table_asset(
    group_name=GROUP,
    description=(
        "Open alert episodes of the day, one row per machine, component and episode (not per "
        "hour): level watch (the precursor has started) or act (failure likely soon), ranked act "
        "first then by risk, with when it was first published and the features that most set "
        "the machine apart from the fleet at its riskiest hour."
    ),
)
def maintenance_alerts(
    context: dg.AssetExecutionContext,
    config: AlertConfig,
    pyspark_step_launcher: dg.ResourceParam[Any],
    failure_scores: DataFrame,
    machine_features: DataFrame,
) -> DataFrame:
    # Each row keeps the thresholds of the model that scored it, unless one is configured (then
    # it is the watch level and act keeps the model's, or the configured one if higher).
    if config.threshold >= 0:
        watch = F.lit(float(config.threshold))
        act = F.greatest(F.col("act_threshold"), watch)
    else:
        watch, act = F.col("watch_threshold"), F.col("act_threshold")
    alerts = rank_alerts(
        failure_scores,
        machine_features,
        watch,
        top_features=config.top_features,
        act_threshold=act,
    ).cache()
    if config.threshold >= 0:
        thresholds = dict.fromkeys(context.partition_keys, {"alert_threshold": config.threshold})
    else:
        first_threshold = F.first("alert_threshold").cast("double")
        thresholds = metadata_by_day(failure_scores, {"alert_threshold": first_threshold})
    per_day = metadata_by_day(
        alerts,
        {
            ROW_COUNT: F.count("*"),
            "alerts": F.count("*"),
            "act_episodes": F.count(F.when(F.col("level") == "act", 1)),
            "watch_episodes": F.count(F.when(F.col("level") == "watch", 1)),
            "max_risk": F.max("risk"),
        },
    )
    tables = top_alerts_by_day(alerts, context.partition_keys)
    extra = {key: {**thresholds.get(key, {}), "top_alerts": tables[key]} for key in tables}
    add_partition_metadata(context, per_day, empty={ROW_COUNT: 0, "alerts": 0}, extra=extra)
    return alerts


def top_alerts_by_day(alerts: DataFrame, keys: list[str], top: int = TOP_ALERTS) -> dict[str, Any]:
    """Each partition's own alert table (the top ``top`` of that day), in one pass."""
    rows = alerts.where(F.col("rank") <= top).withColumn("_day", partition_day()).toPandas()
    by_day = {day: frame.sort_values("rank") for day, frame in rows.groupby("_day")}
    return {
        key: dg.MetadataValue.md(_alerts_markdown(by_day.get(key, rows.iloc[0:0]))) for key in keys
    }


def _alerts_markdown(top) -> str:
    if top.empty:
        return "No machine passed the alert threshold."
    lines = [
        "| rank | level | machine | component | risk | time | first published | alert hours "
        "| episode | why |",
        "|---:|---|---:|---|---:|---|---|---:|---|---|",
    ]
    for r in top.itertuples():
        lines.append(
            f"| {r.rank} | {r.level} | {r.machineID} | {r.component} | {r.risk:.2f} | "
            f"{r.datetime} | {r.available_at:%m-%d %H:%M} | {r.alerts} | {r.episode_id} | "
            f"{r.explanation} |"
        )
    return "\n".join(lines)
