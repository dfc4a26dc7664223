"""What the UI shows per partition after single-run range runs: each day's own path, alert table
and numbers (rounded, numeric so they plot), and a model with a signature in MLflow."""

import math

import dagster as dg
import mlflow
import pytest
from mlflow.models import get_model_info

from pdm_assets.transforms.features import FEATURE_COLUMNS

SCORE_DAYS = ["2015-02-04", "2015-02-05", "2015-02-06", "2015-02-07", "2015-02-08"]
# Evaluation of D reads the scores of D - horizon - 1 day .. D.
EVALUATION_DAYS = ["2015-02-07", "2015-02-08"]


@pytest.fixture(scope="module")
def history(model_history):
    """The shared model history (12 machines) and February's scores, alerts and evaluation,
    each as one range run."""
    every_machine = dg.RunConfig(ops={"maintenance_alerts": {"config": {"threshold": 0.0}}})
    scores = ["failure_scores", "maintenance_alerts"]
    run = model_history.run(scores, SCORE_DAYS[0], SCORE_DAYS[-1], run_config=every_machine)
    assert run.success
    assert model_history.run(["score_evaluation"], EVALUATION_DAYS[0], EVALUATION_DAYS[-1]).success
    return model_history


def metadata(platform, asset: str, partition: str) -> dict:
    records = platform.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1
    ).records
    assert records, f"{asset} {partition} has no materialization"
    return dict(records[0].asset_materialization.metadata)


@pytest.mark.parametrize(
    ("asset", "days"),
    [
        ("machine_features", SCORE_DAYS),
        ("maintenance_alerts", SCORE_DAYS),
        ("failure_scores", SCORE_DAYS),
        ("score_evaluation", EVALUATION_DAYS),
    ],
)
def test_each_partition_of_a_range_run_shows_its_own_path(history, asset, days):
    for day in days:
        path = metadata(history, asset, day)["path"].value
        assert path == history.store.partition_path(asset, day), (asset, day, path)


def test_each_alert_partition_of_a_range_run_has_its_own_alert_table(history):
    tables = set()
    for day in SCORE_DAYS:
        meta = metadata(history, "maintenance_alerts", day)
        stored = history.store.read("maintenance_alerts", [day]).toPandas()
        assert meta["alerts"].value == len(stored) > 0
        table = meta["top_alerts"].value
        assert table.count(f"| {day} ") == min(len(stored), 10), table
        best = stored.sort_values("rank").iloc[0]
        assert f"| 1 | {best.level} | {best.machineID} | {best.component} |" in table
        tables.add(table)
    assert len(tables) == len(SCORE_DAYS)


def _significant_digits_ok(value: float) -> bool:
    return not math.isfinite(value) or value == float(f"{value:.4g}")


@pytest.mark.parametrize(
    ("asset", "day"),
    [
        ("machine_features", "2015-02-05"),
        ("failure_labels", "2015-02-05"),
        ("failure_scores", "2015-02-05"),
        ("maintenance_alerts", "2015-02-05"),
        ("score_evaluation", "2015-02-07"),
        ("failure_model", "2015-02-01"),
    ],
)
def test_metadata_floats_are_rounded_to_four_significant_digits(history, asset, day):
    meta = metadata(history, asset, day)
    floats = {k: v.value for k, v in meta.items() if isinstance(v, dg.FloatMetadataValue)}
    assert floats, f"{asset} has no float metadata"
    assert all(_significant_digits_ok(v) for v in floats.values()), floats


def test_daily_assets_carry_numbers_that_plot(history):
    # The UI plots Int and Float entries per partition.
    scores = metadata(history, "failure_scores", "2015-02-05")
    assert isinstance(scores["mean_risk"], dg.FloatMetadataValue)
    assert isinstance(scores["dagster/row_count"], dg.IntMetadataValue)
    alerts = metadata(history, "maintenance_alerts", "2015-02-05")
    assert isinstance(alerts["alerts"], dg.IntMetadataValue)
    assert isinstance(alerts["max_risk"], dg.FloatMetadataValue)
    evaluation = metadata(history, "score_evaluation", "2015-02-07")
    assert any(isinstance(v, dg.FloatMetadataValue) for v in evaluation.values())


def test_logged_model_has_a_signature_and_an_input_example(history):
    record = history.store.read_record("failure_model", "2015-02-01")
    run = mlflow.get_run(record["run_id"])
    info = get_model_info(f"runs:/{run.info.run_id}/model")
    assert info.signature is not None
    assert info.signature.inputs.input_names() == list(FEATURE_COLUMNS)
    assert info.signature.outputs.input_names() == ["prediction"]
    assert info.saved_input_example_info is not None
