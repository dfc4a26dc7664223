"""What every daily table asset shares: UTC-day partitions, single-run backfills, parquet tables,
and metadata that is true per partition even when one run covers many days."""

import math
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import Any

import dagster as dg
from pyspark.sql import Column, DataFrame

from pdm_assets.partitions import daily_partitions
from pdm_assets.transforms.features import partition_day

DAILY = daily_partitions()
ROW_COUNT = "dagster/row_count"


def daily_table_asset(
    *,
    partitions_def: dg.PartitionsDefinition | None = None,
    kinds: Iterable[str] = ("pyspark",),
    **asset_kwargs: Any,
) -> Callable[..., dg.AssetsDefinition]:
    """``@dg.asset`` for a table with one partition per day (``DAILY`` unless given).

    Single-run backfills: Spark handles a year of days in one job far better than 365 small ones.
    """
    return dg.asset(
        partitions_def=partitions_def or DAILY,
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds=set(kinds),
        io_manager_key="table_io_manager",
        **asset_kwargs,
    )


def partition_days(context: dg.AssetExecutionContext) -> list[date]:
    return [date.fromisoformat(key) for key in context.partition_keys]


def metadata_by_day(df: DataFrame, aggregates: Mapping[str, Column]) -> dict[str, dict[str, Any]]:
    """``{partition key: {name: value}}`` for the days present in ``df``, in one grouped pass."""
    names = list(aggregates)
    columns = [column.alias(f"_m{i}") for i, column in enumerate(aggregates.values())]
    rows = df.groupBy(partition_day().alias("_day")).agg(*columns).collect()
    return {r["_day"]: {n: r[f"_m{i}"] for i, n in enumerate(names)} for r in rows}


SIGNIFICANT_DIGITS = 4


def rounded(value: Any) -> Any:
    """Floats to 4 significant digits (0.2997, not 0.29973534579895944): what a reader compares."""
    if isinstance(value, float) and math.isfinite(value) and value != 0.0:
        return float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    return value


def rounded_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {name: rounded(value) for name, value in metadata.items()}


def add_output_metadata_rounded(
    context: dg.AssetExecutionContext, metadata: Mapping[str, Any]
) -> None:
    context.add_output_metadata(rounded_metadata(metadata))


def add_partition_metadata(
    context: dg.AssetExecutionContext,
    per_day: Mapping[str, Mapping[str, Any]],
    empty: Mapping[str, Any],
    extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Give each partition of the run its own metadata; a day without rows gets ``empty``."""
    for key in context.partition_keys:
        metadata = {**empty, **per_day.get(key, {}), **(extra or {}).get(key, {})}
        context.add_asset_metadata(rounded_metadata(metadata), partition_key=key)
