"""Features on the hourly grid, day by day, equal to a recompute of the whole history.

Each daily partition declares exactly what it reads through partition mappings, so the lineage in
the UI shows it: telemetry of D-7..D (each sensor's 7-day baseline), errors of D-7..D (7-day counts,
hours since the last error capped at 168 h), maintenance of D, and yesterday's replacement state,
which carries the full maintenance history forward.
"""

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pdm_assets.assets.daily import (
    DAILY,
    ROW_COUNT,
    add_partition_metadata,
    daily_table_asset,
    metadata_by_day,
    partition_days,
)
from pdm_assets.partitions import FEATURE_LOOKBACK_DAYS, open_day
from pdm_assets.resources.spark import SparkSessionResource
from pdm_assets.resources.storage import TableStoreResource
from pdm_assets.settings import load_settings
from pdm_assets.transforms.features import GRID_HOURS, open_grid_end, partition_day
from pdm_assets.transforms.features import machine_features as compute_machine_features
from pdm_assets.transforms.replacements import (
    inventory_replacements,
    replacement_state,
    state_records,
)

GROUP = "features"


def prior_state(
    state: DataFrame | None, machines: DataFrame, first_day: date, partitions_start: date
) -> DataFrame:
    """Replacement records as of the end of the day before ``first_day``.

    The stored state of that day, or, on the very first partition, the inventory's
    pre-partition history.
    """
    if first_day == partitions_start:
        return inventory_replacements(machines)
    previous = (first_day - timedelta(days=1)).isoformat()
    if state is None:
        raise dg.Failure(
            f"component_replacements for {previous} is not stored: materialize the days before "
            f"{first_day} first (the state carries the maintenance history forward)"
        )
    return state_records(state.where(partition_day() == previous))


@daily_table_asset(
    group_name=GROUP,
    deps=[
        dg.AssetDep(
            "component_replacements",
            partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1),
        )
    ],
    description=(
        "Per machine and component, the last replacement up to the end of the day. Carries the "
        "full maintenance history (including records older than the partitions) forward one day "
        "at a time, so a new day's features never re-read the whole history."
    ),
)
def component_replacements(
    context: dg.AssetExecutionContext,
    pyspark: SparkSessionResource,
    tables: TableStoreResource,
    pyspark_step_launcher: dg.ResourceParam[Any],
    machines: DataFrame,
    raw_maintenance: DataFrame,
) -> DataFrame:
    days = partition_days(context)
    store = tables.store()
    previous = (days[0] - timedelta(days=1)).isoformat()
    partitions_start = DAILY.start.date()
    state = (
        store.read("component_replacements", [previous])
        if days[0] > partitions_start and store.exists("component_replacements", previous)
        else None
    )
    records = prior_state(state, machines, days[0], partitions_start).unionByName(
        raw_maintenance.select("datetime", "machineID", "comp")
    )
    return replacement_state(pyspark.spark_session, records, days)


@daily_table_asset(
    group_name=GROUP,
    ins={
        "raw_telemetry": dg.AssetIn(
            partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-FEATURE_LOOKBACK_DAYS)
        ),
        "raw_errors": dg.AssetIn(
            partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-FEATURE_LOOKBACK_DAYS)
        ),
        "raw_maintenance": dg.AssetIn(),
        "component_replacements": dg.AssetIn(
            partition_mapping=dg.TimeWindowPartitionMapping(
                start_offset=-1, end_offset=-1, allow_nonexistent_upstream_partitions=True
            )
        ),
        "machines": dg.AssetIn(),
    },
    description=(
        "Model inputs per machine on an hourly grid: rolling mean/std of the four sensors over "
        "12/24/36 h, each sensor's own baseline (T-7d, T-2d] and the deviation of the recent means "
        "from it in baseline standard deviations, error counts over 24 h/48 h/7 days and hours "
        "since each error type, days since each component's last replacement, machine model and "
        "age, and data-quality columns. A row at T uses only records at or before T."
    ),
)
def machine_features(
    context: dg.AssetExecutionContext,
    pyspark_step_launcher: dg.ResourceParam[Any],
    raw_telemetry: DataFrame,
    raw_errors: DataFrame,
    raw_maintenance: DataFrame,
    component_replacements: DataFrame | None,
    machines: DataFrame,
) -> DataFrame:
    days = partition_days(context)
    settings = load_settings()
    history = prior_state(
        component_replacements, machines, days[0], DAILY.start.date()
    ).unionByName(raw_maintenance.select("datetime", "machineID", "comp"))
    end = datetime.combine(days[-1] + timedelta(days=1), time(), UTC)
    open_metadata: dict[str, dict[str, Any]] = {}
    if days[-1] == open_day():
        # The open day: rows up to the newest hour landed, refreshed as later hours land.
        end = open_grid_end(raw_telemetry, days[-1])
        newest_row = end - timedelta(hours=GRID_HOURS)
        open_metadata[days[-1].isoformat()] = {
            "open_day": True,
            "rows_through": newest_row.isoformat() if newest_row.date() == days[-1] else "none",
        }
    features = compute_machine_features(
        raw_telemetry,
        raw_errors,
        history,
        machines,
        days[0],
        end,
        settings.history_start_date,
    ).cache()
    per_day = metadata_by_day(
        features,
        {
            ROW_COUNT: F.count("*"),
            "machines": F.countDistinct("machineID"),
            "partial_window_share": F.avg(F.col("partial_window").cast("double")),
        },
    )
    add_partition_metadata(context, per_day, empty={ROW_COUNT: 0}, extra=open_metadata)
    return features
