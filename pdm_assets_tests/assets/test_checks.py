"""Blocking checks with teeth: a failed check on features stops training and scoring, in later
runs too, and says why; fixing the partition lifts the block."""

import dagster as dg
import pytest
from pyspark.sql import functions as F

import pdm_assets.assets.features as feature_assets
from pdm_assets.assets.model import read_window
from pdm_assets.checks import blocking_result
from pdm_assets.partitions import daily_partitions
from pdm_assets.resources.storage import FailedCheckError

RAW = ["raw_telemetry", "raw_errors", "raw_maintenance", "raw_failures"]
FEATURES = ["component_replacements", "machine_features"]
DAYS = ["2015-01-01", "2015-01-02"]


def _load_for_scoring(platform, day: str):
    """What failure_scores and maintenance_alerts get for their machine_features input."""
    context = dg.build_input_context(
        asset_key=dg.AssetKey("machine_features"),
        partition_key=day,
        asset_partitions_def=daily_partitions(),
        resources={"tables": platform.resources["tables"]},
    )
    return platform.resources["table_io_manager"].load_input(context)


def test_failed_feature_check_blocks_training_and_scoring_until_fixed(platform, monkeypatch):
    assert platform.run(["machines"], checks=False).success
    assert platform.run(RAW, DAYS[0], DAYS[-1], checks=False).success
    real = feature_assets.compute_machine_features

    def every_row_twice(*args, **kwargs):  # a join gone wrong upstream
        features = real(*args, **kwargs)
        return features.unionByName(features)

    monkeypatch.setattr(feature_assets, "compute_machine_features", every_row_twice)
    result = platform.run(FEATURES, DAYS[0], DAYS[-1], raise_on_error=False)
    assert not result.success
    (evaluation,) = [
        e for e in result.get_asset_check_evaluations() if e.check_name == "machine_features_valid"
    ]
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    rows = 24 * 2 * 6 * 2  # 24 hourly grid rows a day, 6 machines, 2 days, every row twice
    assert evaluation.description == (
        f"failed: duplicate (machineID, datetime): {rows // 2} (rows checked: {rows})"
    )
    assert evaluation.metadata["reason"].value.startswith("duplicate (machineID, datetime)")

    # Later runs read the stored table: training and scoring refuse it, naming check and reason.
    tables = platform.resources["tables"]
    with pytest.raises(
        FailedCheckError,
        match=r"partition 2015-01-01 \(and 1 more day\(s\)\) "
        r"failed its blocking check machine_features_valid: failed: duplicate",
    ):
        read_window(tables, "machine_features", DAYS)
    with pytest.raises(FailedCheckError, match="machine_features_valid"):
        _load_for_scoring(platform, DAYS[-1])

    # The cause is fixed and the partitions re-materialized with their check: the block lifts.
    monkeypatch.setattr(feature_assets, "compute_machine_features", real)
    result = platform.run(FEATURES, DAYS[0], DAYS[-1])
    assert all(e.passed for e in result.get_asset_check_evaluations())
    assert read_window(tables, "machine_features", DAYS).count() == rows // 2
    assert _load_for_scoring(platform, DAYS[-1]).count() == rows // 4


def test_blocking_result_counts_rules_and_repeated_keys_in_one_pass(spark):
    rows = [
        (1, "2015-01-01 00:00:00", 1.0),
        (1, "2015-01-01 00:00:00", 2.0),  # machine 1's key, a second time
        (1, "2015-01-01 00:00:00", 3.0),  # ... and a third
        (2, "2015-01-01 00:00:00", None),
        (None, "2015-01-01 00:00:00", 4.0),  # a null key is a broken rule, not a duplicate
        (None, "2015-01-01 00:00:00", 5.0),
    ]
    df = spark.createDataFrame(rows, "machineID int, datetime string, volt double")
    rules = {"machineID": F.col("machineID").isNull(), "volt": F.col("volt").isNull()}
    result = blocking_result(df, rules)
    assert not result.passed
    assert result.metadata["violations"].value == {
        "machineID": 2,
        "volt": 1,
        "duplicate (machineID, datetime)": 2,
    }
    assert result.description == (
        "failed: duplicate (machineID, datetime): 2; machineID null: 2; volt null: 1 "
        "(rows checked: 6)"
    )
    clean = blocking_result(df.where("volt IN (1.0, 4.0)").fillna(3, "machineID"), rules)
    assert clean.passed and clean.metadata["rows_checked"].value == 2
