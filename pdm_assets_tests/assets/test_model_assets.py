"""Monthly models in MLflow, daily scores with the recorded version, alerts and evaluation."""

from datetime import date, datetime

import dagster as dg
import mlflow
import mlflow.spark
import pandas as pd
import pytest
from pyspark.sql import functions as F

from pdm_assets.partitions import model_partition_for_day, training_window
from pdm_assets.transforms.act_confirmation import ActConfirmation
from pdm_assets_tests.assets.conftest import SMALL_FOREST_TREES, train_model


@pytest.fixture
def history(model_history):
    return model_history


def test_training_window_ends_one_horizon_before_the_period():
    w = training_window(datetime(2015, 3, 1), date(2015, 1, 1), 48)
    assert (w.first_day, w.last_day) == (date(2015, 1, 1), date(2015, 2, 26))
    # A row at T is in only if T + 48 h < 2015-03-01 (hourly rows: 02-26 23:00 is, 02-27 00:00 not).
    w36 = training_window(datetime(2015, 3, 1), date(2015, 1, 1), 36)
    assert w36.last_day == date(2015, 2, 27)
    year = training_window(datetime(2016, 6, 1), date(2015, 1, 1), 48)
    assert year.first_day == date(2015, 6, 1)


def test_model_partition_records_its_window_and_rows(history):
    record = history.store.read_record("failure_model", "2015-03-01")
    assert record["window_first_day"] == "2015-01-01"
    assert record["window_last_day"] == "2015-02-26"
    run = mlflow.get_run(record["run_id"])
    assert run.data.tags["dagster.partition"] == "2015-03-01"
    assert run.data.params["window_last_day"] == "2015-02-26"
    # Exactly the rows whose label horizon ended before March: a moved cutoff changes the count.
    features = history.store.read("machine_features", [f"2015-02-{d:02d}" for d in range(1, 29)])
    # Hourly rows: the last usable one is 02-26 23:00 (+ 48 h < 03-01 00:00).
    usable = features.where(F.col("datetime") < F.lit(datetime(2015, 2, 27))).count()
    january = 12 * 24 * 31
    client = mlflow.MlflowClient()
    version = client.get_model_version(record["model_name"], record["version"])
    assert version.tags["dagster.partition"] == "2015-03-01"
    meta = (
        history.instance.fetch_materializations(
            dg.AssetRecordsFilter(
                asset_key=dg.AssetKey("failure_model"), asset_partitions=["2015-03-01"]
            ),
            limit=1,
        )
        .records[0]
        .asset_materialization.metadata
    )
    used = meta["training_rows"].value + meta["holdout_rows"].value
    gap_rows = 12 * 48  # the 48 h between training and hold-out
    assert used + gap_rows == january + usable
    assert (
        "| comp1 |" in meta["confusion_matrix"].value or "comp1" in meta["confusion_matrix"].value
    )
    assert meta["model_version"].value == record["version"]
    # Two alert levels chosen on the hold-out: in the record, the metadata and MLflow.
    assert record["alert_threshold"] == record["watch_threshold"] <= record["act_threshold"]
    assert "| watch |" in meta["alert_levels"].value and "| act" in meta["alert_levels"].value
    # Whether act alerts need their component's confirming error, and which: record and UI agree.
    confirmation = record["act_confirmation"]
    assert (confirmation is not None) == ("| act (confirmed) |" in meta["alert_levels"].value)
    assert meta["act_confirmation"].value == (
        "none (risk alone)"
        if confirmation is None
        else ActConfirmation.from_record(confirmation).describe()
    )
    assert run.data.metrics["act_threshold"] == pytest.approx(record["act_threshold"])
    assert run.data.metrics["watch_threshold"] == pytest.approx(record["watch_threshold"])
    # Where the levels were measured: on the hold-out (1), not out of fold.
    assert meta["threshold_folds"].value == 1 and run.data.params["min_threshold_failures"] == "0"
    assert "out-of-fold" not in meta["alert_levels"].value
    assert meta["deployed_trees"].value == SMALL_FOREST_TREES  # the hold-out's model, as fitted
    # The run's time, split: fits and evaluation, then MLflow logging (both do real work).
    assert meta["fit_seconds"].value > 0 and meta["mlflow_log_seconds"].value > 0


def test_scores_use_the_version_each_period_recorded(history):
    # 03-02 and 03-03 belong to February's model (the month of D - 3 days), the rest to March's.
    assert model_partition_for_day(date(2015, 3, 3), 48) == "2015-02-01"
    result = history.run(["failure_scores", "maintenance_alerts"], "2015-03-02", "2015-03-06")
    assert result.success
    feb = history.store.read_record("failure_model", "2015-02-01")["version"]
    mar = history.store.read_record("failure_model", "2015-03-01")["version"]
    assert feb != mar
    scores = history.store.read("failure_scores", [f"2015-03-0{d}" for d in range(2, 7)])
    by_day = {
        r["day"]: r["versions"]
        for r in scores.groupBy(F.date_format("datetime", "yyyy-MM-dd").alias("day"))
        .agg(F.collect_set("model_version").alias("versions"))
        .collect()
    }
    assert by_day == {
        "2015-03-02": [feb],
        "2015-03-03": [feb],
        "2015-03-04": [mar],
        "2015-03-05": [mar],
        "2015-03-06": [mar],
    }
    pdf = scores.toPandas()
    probabilities = pdf[["p_none", "p_comp1", "p_comp2", "p_comp3", "p_comp4"]].sum(axis=1)
    assert (probabilities - 1).abs().max() < 1e-9
    component_max = pdf[["p_comp1", "p_comp2", "p_comp3", "p_comp4"]].max(axis=1)
    assert (component_max - pdf["risk"]).abs().max() < 1e-12


def test_registered_version_loads_back_with_the_same_predictions(history):
    assert history.run(["failure_scores"], "2015-03-05", "2015-03-05").success
    record = history.store.read_record("failure_model", "2015-03-01")
    model = mlflow.spark.load_model(f"models:/{record['model_name']}/{record['version']}")
    features = history.store.read("machine_features", ["2015-03-05"])
    again = model.transform(features).select("machineID", "datetime", "probability").toPandas()
    stored = history.store.read("failure_scores", ["2015-03-05"]).toPandas()
    merged = stored.merge(again, on=["machineID", "datetime"])
    assert len(merged) == len(stored) == 12 * 24  # 12 machines, hourly rows
    for i, name in enumerate(["p_none", "p_comp1", "p_comp2", "p_comp3", "p_comp4"]):
        assert (merged[name] - merged["probability"].map(lambda v, i=i: v[i])).abs().max() < 1e-12


def test_alerts_are_ranked_explained_and_above_threshold(history):
    result = history.run(
        ["maintenance_alerts"],
        "2015-03-04",
        "2015-03-06",
        run_config=dg.RunConfig(ops={"maintenance_alerts": {"config": {"threshold": 0.05}}}),
    )
    assert result.success
    alerts = history.store.read(
        "maintenance_alerts", ["2015-03-04", "2015-03-05", "2015-03-06"]
    ).toPandas()
    assert len(alerts) > 0
    alerts["day"] = alerts["datetime"].dt.strftime("%Y-%m-%d")
    for _, day in alerts.groupby("day"):
        day = day.sort_values("rank")
        assert list(day["rank"]) == list(range(1, len(day) + 1))
        # act episodes first, each level by risk
        act_first = list(day["level"].map({"act": 0, "watch": 1}))
        assert act_first == sorted(act_first)
        for _, level in day.groupby("level"):
            assert list(level["risk"]) == sorted(level["risk"], reverse=True)
        # one open episode per machine and component on a day
        assert not day.duplicated(["machineID", "component"]).any()
        assert (day["alerts"] >= 1).all() and day["episode_id"].is_unique
    assert (alerts["risk"] >= 0.05).all()
    assert alerts["component"].isin(["comp1", "comp2", "comp3", "comp4"]).all()
    assert alerts["explanation"].str.contains("σ").all()


def test_remodelling_a_period_registers_a_new_version_and_leaves_old_scores_stale(history):
    assert history.run(["failure_scores"], "2015-03-06", "2015-03-06").success
    before = history.store.read_record("failure_model", "2015-03-01")["version"]
    assert train_model(history, "2015-03-01").success
    after = history.store.read_record("failure_model", "2015-03-01")["version"]
    assert int(after) > int(before)
    # The stored scores still name the old version: visibly out of date until re-scored.
    versions = {
        r[0]
        for r in history.store.read("failure_scores", ["2015-03-06"])
        .select("model_version")
        .distinct()
        .collect()
    }
    assert versions == {before}
    from dagster._core.definitions.data_version import StaleStatus
    from dagster._utils.test.data_versions import get_stale_status_resolver

    resolver = get_stale_status_resolver(history.instance, history.assets)
    status = resolver.get_status(dg.AssetKey("failure_scores"), "2015-03-06")
    assert status == StaleStatus.STALE


def test_score_evaluation_matches_a_count_from_the_stored_tables(history):
    assert history.run(["failure_scores", "maintenance_alerts"], "2015-03-02", "2015-03-06").success
    assert history.run(["score_evaluation"], "2015-03-05", "2015-03-06").success
    evaluation = history.store.read("score_evaluation", ["2015-03-05"]).toPandas().iloc[0]
    scores = history.store.read("failure_scores", ["2015-03-05"]).toPandas()
    labels = history.store.read("failure_labels", ["2015-03-05"]).toPandas()
    joined = scores.merge(labels, on=["machineID", "datetime"])
    alerted = joined["risk"] >= joined["alert_threshold"]
    failing = joined["label"] != "none"
    tp = int((alerted & failing).sum())
    if alerted.sum():
        assert evaluation["alert_precision"] == pytest.approx(tp / alerted.sum())
    if failing.sum():
        assert evaluation["alert_recall"] == pytest.approx(tp / failing.sum())
    assert set(evaluation.index) >= {
        "alert_precision",
        "alert_recall",
        "macro_f1",
        "failures_published_24h_ahead",
        "median_published_lead_h",
        "top_k_precision",
    }
    assert pd.notna(evaluation["false_alarms_per_machine_month"])
