"""Raw ingestion: one daily partition per source table, plus the fleet inventory."""

from typing import Any

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pdm_assets import schemas
from pdm_assets.assets.daily import (
    ROW_COUNT,
    add_partition_metadata,
    daily_table_asset,
    metadata_by_day,
    partition_days,
)
from pdm_assets.partitions import daily_partitions
from pdm_assets.resources.sources import RawDataSource
from pdm_assets.resources.spark import SparkSessionResource
from pdm_assets.resources.storage import TableStoreResource
from pdm_assets.settings import load_settings
from pdm_assets.transforms.small_frames import small_frame
from pdm_assets.transforms.validation import REJECTED_SCHEMA

GROUP = "ingestion"


def column_schema(table: schemas.TableSchema) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name=c.name, type=c.dtype, description=c.description)
            for c in table.columns
        ]
    )


def _raw_daily_asset(table: schemas.TableSchema, partitions_def) -> dg.AssetsDefinition:
    @daily_table_asset(
        name=f"raw_{table.name}",
        partitions_def=partitions_def,
        group_name=GROUP,
        description=f"{table.description} One partition per UTC day, validated at the door.",
        metadata={"dagster/column_schema": column_schema(table)},
    )
    def _raw(
        context: dg.AssetExecutionContext,
        pyspark: SparkSessionResource,
        raw_source: RawDataSource,
        pyspark_step_launcher: dg.ResourceParam[Any],
        tables: TableStoreResource,
    ) -> DataFrame:
        spark = pyspark.spark_session
        df, rejected = raw_source.read_partition(spark, table.name, partition_days(context))
        rejected_counts = store_rejected_rows(context, tables, table.name, rejected)
        counts = metadata_by_day(df, {ROW_COUNT: F.count("*")})
        add_partition_metadata(
            context, counts, empty={ROW_COUNT: 0, REJECTED: 0}, extra=rejected_counts
        )
        return df

    return _raw


REJECTED = "rejected_rows"


def rejected_rows_table(table: str) -> str:
    """Where a raw table's set-aside rows are stored, one partition per day like the table."""
    return f"{REJECTED}/{table}"


def store_rejected_rows(
    context: dg.AssetExecutionContext,
    tables: TableStoreResource,
    table: str,
    rejected: DataFrame | None,
) -> dict[str, dict[str, int]]:
    """Store the rows validation set aside for this run's days; ``{day: {rejected_rows: n}}``.

    Written before the raw partition itself, so a set-aside row is never lost; a clean re-run
    empties the days it covers (only where something was stored before: no write otherwise).
    """
    store = tables.store()
    name = rejected_rows_table(table)
    keys = list(context.partition_keys)
    if rejected is None:
        if not set(store.stored_partitions(name)).intersection(keys):  # one listing
            return {}
        rejected = small_frame(store.spark, [], REJECTED_SCHEMA)
    rejected = rejected.cache()
    store.write(name, rejected, keys, time_column="day")
    per_day = {
        r["day"].isoformat(): {REJECTED: r["n"]}
        for r in rejected.groupBy("day").agg(F.count("*").alias("n")).collect()
    }
    rejected.unpersist()
    for key, value in sorted(per_day.items()):
        where = store.partition_path(name, key)
        context.log.warning(f"{table} {key}: {value[REJECTED]} row(s) set aside in {where}")
    return per_day


def machines_with_history(machines: DataFrame, maintenance_before: DataFrame) -> DataFrame:
    """The inventory plus, per component, the last replacement before the first partition.

    Maintenance older than the partitions lives here, so features never lose it.
    """
    last = (
        maintenance_before.groupBy("machineID")
        .pivot("comp", list(schemas.COMPONENTS))
        .agg(F.max("datetime"))
    )
    for comp in schemas.COMPONENTS:
        last = last.withColumnRenamed(comp, f"{comp}_last_replacement")
    # An inventory is small: one sorted partition, without the sampling job of a global sort.
    return machines.join(last, "machineID", "left").coalesce(1).sortWithinPartitions("machineID")


MACHINES_COLUMNS = schemas.MACHINES.columns + tuple(
    schemas.Column(f"{c}_last_replacement", "timestamp", f"last {c} replacement before the data")
    for c in schemas.COMPONENTS
)


@dg.asset(
    group_name=GROUP,
    kinds={"pyspark"},
    io_manager_key="table_io_manager",
    description=(
        "Fleet inventory (model, age) with each component's last replacement before the first "
        "daily partition, so maintenance history older than the partitions is kept."
    ),
    metadata={
        "dagster/column_schema": column_schema(
            schemas.TableSchema("machines", MACHINES_COLUMNS, "")
        )
    },
)
def machines(
    context: dg.AssetExecutionContext,
    pyspark: SparkSessionResource,
    raw_source: RawDataSource,
    pyspark_step_launcher: dg.ResourceParam[Any],
) -> DataFrame:
    spark = pyspark.spark_session
    first_day = load_settings().start
    inventory = raw_source.read_machines(spark)
    history = raw_source.read_maintenance_before(spark, first_day)
    result = machines_with_history(inventory, history).cache()
    context.add_output_metadata(
        {
            "dagster/row_count": result.count(),
            "maintenance_records_before_first_partition": history.count(),
            "first_partition": first_day.isoformat(),
        }
    )
    return result


def build_raw_assets(partitions_def=None) -> list[dg.AssetsDefinition]:
    partitions_def = partitions_def or daily_partitions()
    return [_raw_daily_asset(t, partitions_def) for t in schemas.DAILY_TABLES.values()] + [machines]
