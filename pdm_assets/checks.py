"""Asset checks on features and labels: blocking where bad rows would poison training."""

from datetime import date, timedelta

import dagster as dg
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pdm_assets.schemas import COMPONENTS, SENSORS
from pdm_assets.transforms.features import DEFAULT_WINDOWS_HOURS

# A failure label on more than this share of rows is not a plausible fleet (the public data: ~4 %).
MAX_LABEL_RATE = 0.3
KEYS = ["machineID", "datetime"]


def checked_keys(context: dg.AssetCheckExecutionContext) -> list[str]:
    """The partitions this run materialized (a check must not read the whole table)."""
    key_range = context.partition_key_range
    first, last = date.fromisoformat(key_range.start), date.fromisoformat(key_range.end)
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def checked_partitions(context: dg.AssetCheckExecutionContext, table: str) -> DataFrame:
    return context.resources.tables.store().read(table, checked_keys(context))


def record_verdict(
    context: dg.AssetCheckExecutionContext, table: str, result: dg.AssetCheckResult
) -> dg.AssetCheckResult:
    """Keep a blocking check's verdict with the partitions: Dagster's blocking only stops the
    rest of this run, while training and scoring runs started later read the stored table too
    (the IO manager and the training window refuse partitions whose check failed)."""
    store = context.resources.tables.store()
    keys = checked_keys(context)
    if result.passed:
        store.clear_check_failures(table, keys)
    else:
        check = context.check_specs[0].name if context.check_specs else "blocking check"
        store.record_check_failure(table, keys, check, result.description or "failed")
    return result


DUPLICATES = "duplicate (machineID, datetime)"
_ROWS, _KEYED, _KEYS = "__rows", "__rows_with_keys", "__distinct_keys"


def feature_null_rules() -> dict[str, Column]:
    """Nulls only where the rule allows them: statistics of windows with too few readings."""
    never_null = [
        *KEYS,
        "model",
        "age",
        *(f"{c}_days_since_replacement" for c in COMPONENTS),
        *(f"readings_{w}h" for w in DEFAULT_WINDOWS_HOURS),
        "partial_window",
    ]
    conditions = {name: F.col(name).isNull() for name in never_null}
    for w in DEFAULT_WINDOWS_HOURS:
        readings = F.col(f"readings_{w}h")
        for s in SENSORS:
            conditions[f"{s}_mean_{w}h"] = F.col(f"{s}_mean_{w}h").isNull() & (readings > 0)
            conditions[f"{s}_std_{w}h"] = F.col(f"{s}_std_{w}h").isNull() & (readings > 1)
    return conditions


def blocking_result(df: DataFrame, null_rules: dict[str, Column]) -> dg.AssetCheckResult:
    """Fails on a broken null rule or a repeated key (training would count such rows twice).

    One Spark job: the row count, the distinct keys and every rule in one aggregation. The
    duplicates counted are the rows beyond the first of their key.
    """
    keyed = F.col(KEYS[0]).isNotNull() & F.col(KEYS[1]).isNotNull()
    row = df.agg(
        F.count(F.lit(1)).alias(_ROWS),
        F.count(F.when(keyed, 1)).alias(_KEYED),
        F.count_distinct(*(F.col(k) for k in KEYS)).alias(_KEYS),
        *(F.sum(rule.cast("int")).alias(name) for name, rule in null_rules.items()),
    ).first()
    rows = int(row[_ROWS])
    problems = {name: int(row[name]) for name in null_rules if row[name]}
    if row[_KEYED] > row[_KEYS]:
        problems[DUPLICATES] = int(row[_KEYED] - row[_KEYS])
    reason = "; ".join(
        f"{what} null: {n}" if what in df.columns else f"{what}: {n}"
        for what, n in sorted(problems.items())
    )
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"failed: {reason} (rows checked: {rows})" if problems else None,
        metadata={
            "rows_checked": rows,
            "violations": dg.MetadataValue.json(problems),
            **({"reason": dg.MetadataValue.text(reason)} if problems else {}),
        },
    )


@dg.asset_check(
    asset="machine_features",
    blocking=True,
    required_resource_keys={"tables", "pyspark_step_launcher"},
    description="No duplicate (machineID, datetime); nulls only in statistics of sparse windows.",
)
def machine_features_valid(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    features = checked_partitions(context, "machine_features")
    result = blocking_result(features, feature_null_rules())
    return record_verdict(context, "machine_features", result)


@dg.asset_check(
    asset="failure_labels",
    blocking=True,
    required_resource_keys={"tables", "pyspark_step_launcher"},
    description="No duplicate rows, no missing labels.",
)
def failure_labels_valid(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    labels = checked_partitions(context, "failure_labels")
    required = [*KEYS, "label", "label_index", *(f"fails_{c}" for c in COMPONENTS)]
    result = blocking_result(labels, {c: F.col(c).isNull() for c in required})
    return record_verdict(context, "failure_labels", result)


@dg.asset_check(
    asset="failure_labels",
    required_resource_keys={"tables", "pyspark_step_launcher"},
    description=f"Share of rows labelled with a failure is plausible (at most {MAX_LABEL_RATE}).",
)
def failure_label_rate_plausible(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    labels = checked_partitions(context, "failure_labels")
    stats = labels.agg(
        F.count("*").alias("rows"), F.avg((F.col("label") != "none").cast("double")).alias("rate")
    ).first()
    rate = float(stats["rate"] or 0.0)
    return dg.AssetCheckResult(
        passed=rate <= MAX_LABEL_RATE,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"rows_checked": stats["rows"], "label_rate": rate},
    )


ALL_CHECKS = [machine_features_valid, failure_labels_valid, failure_label_rate_plausible]
