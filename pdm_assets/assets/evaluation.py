"""How each day's predictions and alerts compared with what happened, once it is known."""

from datetime import UTC, datetime, time
from typing import Any

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pdm_assets.assets.daily import daily_table_asset, partition_days, rounded_metadata
from pdm_assets.partitions import evaluation_lookback_days, horizon_days, label_partitions
from pdm_assets.resources.spark import SparkSessionResource
from pdm_assets.settings import load_settings
from pdm_assets.transforms.features import utc_day
from pdm_assets.transforms.scoring import evaluate_days
from pdm_assets.transforms.small_frames import small_frame

GROUP = "monitoring"


class EvaluationConfig(dg.Config):
    alert_budget: int = 5


@daily_table_asset(
    partitions_def=label_partitions(),
    group_name=GROUP,
    ins={
        # Far enough back to see every alert that could announce a failure of D (the horizon),
        # plus a day for the episode it belongs to.
        "failure_scores": dg.AssetIn(
            partition_mapping=dg.TimeWindowPartitionMapping(
                start_offset=-evaluation_lookback_days(load_settings().horizon_hours)
            )
        ),
        "maintenance_alerts": dg.AssetIn(),
        "failure_labels": dg.AssetIn(),
        "raw_failures": dg.AssetIn(
            partition_mapping=dg.TimeWindowPartitionMapping(
                start_offset=0, end_offset=horizon_days(load_settings().horizon_hours)
            )
        ),
    },
    description=(
        "Day D's predictions and alerts against what actually happened: the share of the day's "
        "failures announced by a right-component alert episode published (available_at) at "
        "least 12 h and 24 h ahead, and the median published lead; alert episodes started; "
        "row precision, recall and macro-F1; false alarms per machine-month; top-k precision. "
        "Materializable once the labels of D exist (D + horizon)."
    ),
)
def score_evaluation(
    context: dg.AssetExecutionContext,
    config: EvaluationConfig,
    pyspark: SparkSessionResource,
    pyspark_step_launcher: dg.ResourceParam[Any],
    failure_scores: DataFrame,
    maintenance_alerts: DataFrame,
    failure_labels: DataFrame,
    raw_failures: DataFrame,
) -> DataFrame:
    settings = load_settings()
    days = partition_days(context)
    found = {
        r["day"]: float(r["threshold"])
        for r in failure_scores.groupBy(utc_day().alias("day"))
        .agg(F.max("alert_threshold").alias("threshold"))
        .collect()
    }
    graded = evaluate_days(
        failure_scores,
        maintenance_alerts,
        failure_labels,
        raw_failures,
        {day: found.get(day, 1.0) for day in days},  # no scores on D: nothing alerts
        alert_budget=config.alert_budget,
        horizon_hours=settings.horizon_hours,
        lookback_days=evaluation_lookback_days(settings.horizon_hours),
    )
    records = []
    for day in days:
        metrics = graded[day]
        records.append({"datetime": datetime.combine(day, time(), tzinfo=UTC), **metrics})
        context.add_asset_metadata(
            rounded_metadata({k: float(v) for k, v in metrics.items() if v is not None}),
            partition_key=day.isoformat(),
        )
    names = [k for k in records[0] if k != "datetime"]
    schema = ", ".join(["datetime timestamp", *(f"`{n}` double" for n in names)])
    rows = [
        (r["datetime"], *(None if r[n] is None else float(r[n]) for n in names)) for r in records
    ]
    return small_frame(pyspark.spark_session, rows, schema)
