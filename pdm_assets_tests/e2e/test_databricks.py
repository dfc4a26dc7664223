"""PDM_DEPLOYMENT=databricks through dagster-databricks' real step launcher, against the stand-in.

The runs go through ``execute_job`` on a reconstructable job (step launchers cannot run inside
``materialize``), pointing at ``pdm_assets.definitions:build_definitions`` like a code location
does, so the remote step rebuilds the same definitions from the code the launcher shipped.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from dagster._core.definitions.reconstruct import ReconstructableJob, ReconstructableRepository

from pdm_assets.partitions import partition_range_tags
from pdm_assets_tests.e2e.deployment_runs import (
    FEATURES,
    FIRST_DAY,
    HISTORY_START,
    LAST_LABEL_DAY,
    LAST_RAW_DAY,
    run_stages,
)
from pdm_assets_tests.fakes.databricks import CLUSTER_ID, FakeDatabricks

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
RAW_TABLES = ["machines", "raw_telemetry", "raw_errors", "raw_maintenance", "raw_failures"]


@pytest.fixture
def standin(tmp_path):
    fake = FakeDatabricks(tmp_path / "databricks").start()
    try:
        yield fake
    finally:
        fake.stop()


def _settings(monkeypatch, tmp_path: Path, **env: str) -> None:
    for name in ["DATABRICKS_RUNTIME_VERSION", "MLFLOW_TRACKING_URI", "PDM_SPARK_MASTER"]:
        monkeypatch.delenv(name, raising=False)
    common = {
        "PDM_DATA_DIR": str(tmp_path / "data"),
        "PDM_MACHINES": "4",
        "PDM_SOURCE": "simulator",
        "PDM_START_DATE": FIRST_DAY,
        "PDM_HISTORY_START": HISTORY_START,
        "PDM_TABLE_FORMAT": "parquet",
        "PDM_MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }
    for name, value in {**common, **env}.items():
        monkeypatch.setenv(name, value)


def _use_databricks(monkeypatch, tmp_path: Path, standin: FakeDatabricks, **env: str) -> None:
    databricks = {
        "PDM_DEPLOYMENT": "databricks",
        "DATABRICKS_HOST": standin.host,
        "DATABRICKS_TOKEN": standin.token,
        "PDM_DATABRICKS_CLUSTER_ID": CLUSTER_ID,
        "PDM_DATABRICKS_POLL_SECONDS": "0.5",
        # The stand-in's DBFS folder as Spark sees it (it has no dbfs: filesystem).
        "PDM_TABLES_ROOT": (standin.dbfs / "pdm" / "tables").as_uri(),
    }
    _settings(monkeypatch, tmp_path, **{**databricks, **env})


def _execute(instance: dg.DagsterInstance, selection: list[str], first: str, last: str):
    """One run of ``selection`` over a day range, as the webserver would launch it."""
    # Dagster keeps the last loaded definition per job; the environment changed since.
    ReconstructableJob.get_definition.cache_clear()
    ReconstructableJob.get_repository_definition.cache_clear()
    job = (
        ReconstructableRepository.for_module("pdm_assets.definitions", "build_definitions")
        .get_reconstructable_job("__ASSET_JOB")
        .get_subset(
            asset_selection=frozenset(dg.AssetKey(k) for k in selection),
            asset_check_selection=frozenset(),
        )
    )
    return dg.execute_job(job, instance=instance, tags=partition_range_tags(first, last))


def _table(spark, root: str, table: str, last: str) -> pd.DataFrame:
    from pdm_assets.resources.storage import PartitionedTableStore

    days = pd.date_range(FIRST_DAY, last).strftime("%Y-%m-%d").tolist()
    df = PartitionedTableStore(spark, root).read(table, days).toPandas()
    return df.sort_values(["machineID", "datetime"]).reset_index(drop=True)


def _failure_messages(result) -> list[str]:
    return [
        str(e.event_specific_data.error)
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.STEP_FAILURE
    ]


def test_features_and_labels_run_remotely_and_equal_the_local_tables(
    standin, tmp_path, monkeypatch, spark
):
    # The local deployment: the reference tables, and the raw days the remote steps read.
    reference = tmp_path / "reference"
    _settings(monkeypatch, tmp_path, PDM_DEPLOYMENT="local", PDM_TABLES_ROOT=reference.as_uri())
    run_stages(["machines", "raw", "features", "labels"])
    remote_root = standin.dbfs / "pdm" / "tables"
    for table in RAW_TABLES:  # landed there by the ingestion job
        shutil.copytree(reference / table, remote_root / table)

    _use_databricks(monkeypatch, tmp_path, standin)
    with dg.instance_for_test() as instance:
        features = _execute(instance, FEATURES, FIRST_DAY, LAST_RAW_DAY)
        assert features.success, _failure_messages(features)
        labels = _execute(instance, ["failure_labels"], FIRST_DAY, LAST_LABEL_DAY)
        assert labels.success, _failure_messages(labels)
        logs = [entry for run in (features, labels) for entry in instance.all_logs(run.run_id)]

    # One Databricks run per Spark step, on the existing cluster, shipping the code zip.
    submitted = standin.submitted()
    assert len(submitted) == 3
    for request in submitted:
        task = request["tasks"][0]
        assert task["existing_cluster_id"] == CLUSTER_ID
        assert task["spark_python_task"]["python_file"].endswith("databricks_step_main.py")
        assert any(p.endswith("/code.zip") for p in task["spark_python_task"]["parameters"])
        libraries = {lib["pypi"]["package"].split("==")[0] for lib in task["libraries"]}
        assert {"dagster", "dagster-databricks", "dagster-pyspark", "databricks-sdk"} <= libraries
    zips = list(standin.dbfs.rglob("code.zip"))
    assert len(zips) == 3
    names = zipfile.ZipFile(zips[0]).namelist()
    assert "pdm_assets/definitions.py" in names
    assert not [n for n in names if n.startswith((".venv", "data/", "pdm_assets_tests"))]
    # The remote steps imported the shipped package, not this checkout.
    for run in standin.runs.values():
        assert run.result_state == "SUCCESS", run.log[-3000:]
        loaded_from = [line for line in run.log.splitlines() if "pdm_assets loaded from" in line]
        assert loaded_from and str(Path(__file__).parents[2]) not in loaded_from[0], run.log

    # The Dagster runs show the remote steps' events (from another process) and their logs.
    remote = [
        e
        for e in logs
        if e.is_dagster_event
        and e.dagster_event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
        and e.dagster_event.pid != os.getpid()
    ]
    assert {e.dagster_event.asset_key.to_user_string() for e in remote} == {
        *FEATURES,
        "failure_labels",
    }
    run_urls = [
        e.dagster_event.engine_event_data.metadata["databricks_run_url"].value
        for e in logs
        if e.is_dagster_event
        and e.dagster_event.event_type == dg.DagsterEventType.ENGINE_EVENT
        and "databricks_run_url" in (e.dagster_event.engine_event_data.metadata or {})
    ]
    assert len(run_urls) == 3 and all(u.startswith(f"{standin.host}/#job/") for u in run_urls)
    messages = [e.user_message for e in logs]
    assert any("Captured stdout for step machine_features" in m for m in messages)
    assert any("Waiting for Databricks run" in m for m in messages)

    for table, last in [("machine_features", LAST_RAW_DAY), ("failure_labels", LAST_LABEL_DAY)]:
        remote_table = _table(spark, remote_root.as_uri(), table, last)
        local_table = _table(spark, reference.as_uri(), table, last)
        assert len(remote_table) > 0
        pd.testing.assert_frame_equal(remote_table, local_table, check_exact=False, rtol=1e-12)


def test_a_failing_remote_step_fails_the_run_with_the_remote_error(standin, tmp_path, monkeypatch):
    _use_databricks(monkeypatch, tmp_path, standin)  # nothing stored: inputs are missing
    with dg.instance_for_test() as instance:
        result = _execute(instance, ["machine_features"], "2015-01-02", "2015-01-02")
    assert not result.success
    [message] = _failure_messages(result)
    # The remote IO manager's own error, raised by the shipped code on the cluster.
    assert "TableStoreError: partition(s) 2015-01-01" in message, message
    assert "not stored under file://" in message and "materialize it first" in message
    assert "/pdm_assets/resources/storage.py" in message
    assert str(Path(__file__).parents[2] / "pdm_assets") not in message
    assert len(standin.submitted()) == 1


def test_a_wrong_token_is_refused_and_says_so(standin, tmp_path, monkeypatch):
    _use_databricks(monkeypatch, tmp_path, standin, DATABRICKS_TOKEN="dapi-wrong")
    with dg.instance_for_test() as instance:
        result = _execute(instance, ["machine_features"], "2015-01-02", "2015-01-02")
    assert not result.success
    [message] = _failure_messages(result)
    assert "Invalid access token" in message, message
    assert standin.submitted() == [] and standin.requests == []
