"""PDM_DEPLOYMENT=databricks through dagster-databricks' real step launcher, against the stand-in.

The runs go through ``execute_job`` on a reconstructable job (step launchers cannot run inside
``materialize``), pointing at ``pdm_assets.definitions:build_definitions`` like a code location
does, so the remote step rebuilds the same definitions from the code the launcher shipped.

One stand-in and one pipeline run serve the whole module (``pipeline``): the local deployment
builds the reference tables (and lands the raw days the remote steps read), then features ->
labels -> model -> scores -> alerts run remotely, one Databricks run per Spark step, with MLflow
in the stand-in's DBFS folder (where the remote step logs and registers the model).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest
from dagster._core.definitions.reconstruct import ReconstructableJob, ReconstructableRepository

from pdm_assets.parity import plain_value
from pdm_assets.partitions import partition_range_tags
from pdm_assets_tests.e2e.deployment_runs import (
    FEATURES,
    FIRST_DAY,
    HISTORY_START,
    LAST_TRAINING_DAY,
    MODEL_MONTH,
    RUN_CONFIG,
    SCORE_DAY,
    run_stages,
)
from pdm_assets_tests.fakes.databricks import CLUSTER_ID, FakeDatabricks

# A hard bound for a loaded shared machine; the module takes a few minutes on an idle one.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]
RAW_TABLES = ["machines", "raw_telemetry", "raw_errors", "raw_maintenance", "raw_failures"]
MACHINES = "10"  # enough for failures in the model's training window and hold-out
REMOTE_STEPS = [*FEATURES, "failure_labels", "failure_model", "failure_scores"]
REMOTE_STEPS.append("maintenance_alerts")
# (stage, selection, first, last): what runs through the launcher, in order.
REMOTE_STAGES = [
    ("features", FEATURES, FIRST_DAY, SCORE_DAY),
    ("labels", ["failure_labels"], FIRST_DAY, LAST_TRAINING_DAY),
    ("model", ["failure_model"], MODEL_MONTH, MODEL_MONTH),
    ("scores", ["failure_scores"], SCORE_DAY, SCORE_DAY),
    ("alerts", ["maintenance_alerts"], SCORE_DAY, SCORE_DAY),
]
LAST_DAY = {
    "machine_features": SCORE_DAY,
    "failure_labels": LAST_TRAINING_DAY,
    "failure_scores": SCORE_DAY,
    "maintenance_alerts": SCORE_DAY,
}


@dataclass
class Pipeline:
    """What the module's one local + remote run left behind."""

    standin: FakeDatabricks
    reference: Path  # the local deployment's tables
    remote_root: Path  # the Databricks deployment's tables (in the stand-in's DBFS)
    mlflow_db: Path  # the remote MLflow store (in the stand-in's DBFS)
    results: dict[str, Any] = field(default_factory=dict)
    logs: list[Any] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def _settings(mp: pytest.MonkeyPatch, root: Path, **env: str) -> None:
    for name in ["DATABRICKS_RUNTIME_VERSION", "MLFLOW_TRACKING_URI", "PDM_SPARK_MASTER"]:
        mp.delenv(name, raising=False)
    common = {
        "PDM_DATA_DIR": str(root / "data"),
        "PDM_MACHINES": MACHINES,
        "PDM_SOURCE": "simulator",
        "PDM_START_DATE": FIRST_DAY,
        "PDM_HISTORY_START": HISTORY_START,
        "PDM_TABLE_FORMAT": "parquet",
        "PDM_MLFLOW_TRACKING_URI": f"sqlite:///{root / 'local-mlflow.db'}",
        "PDM_MLFLOW_ARTIFACTS": (root / "local-mlflow-artifacts").as_uri(),
    }
    for name, value in {**common, **env}.items():
        mp.setenv(name, value)


def _use_databricks(
    mp: pytest.MonkeyPatch, root: Path, standin: FakeDatabricks, tables: str = "pdm/tables", **env
) -> None:
    mlflow = standin.dbfs / "pdm" / "mlflow"
    databricks = {
        "PDM_DEPLOYMENT": "databricks",
        "DATABRICKS_HOST": standin.host,
        "DATABRICKS_TOKEN": standin.token,
        "PDM_DATABRICKS_CLUSTER_ID": CLUSTER_ID,
        "PDM_DATABRICKS_POLL_SECONDS": "0.5",
        # The stand-in's DBFS folder as Spark sees it (it has no dbfs: filesystem).
        "PDM_TABLES_ROOT": (standin.dbfs / tables).as_uri(),
        # A store both sides read; on Databricks it is the workspace's own ("databricks").
        "PDM_MLFLOW_TRACKING_URI": f"sqlite:///{mlflow / 'mlflow.db'}",
        "PDM_MLFLOW_ARTIFACTS": (mlflow / "artifacts").as_uri(),
    }
    _settings(mp, root, **{**databricks, **env})


def _execute(
    instance: dg.DagsterInstance,
    selection: list[str],
    first: str,
    last: str,
    run_config: dict[str, Any] | None = None,
):
    """One run of ``selection`` over a partition range, as the webserver would launch it."""
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
    return dg.execute_job(
        job, instance=instance, tags=partition_range_tags(first, last), run_config=run_config
    )


def _failure_messages(result) -> list[str]:
    return [
        str(e.event_specific_data.error)
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.STEP_FAILURE
    ]


@pytest.fixture(scope="module")
def standin(tmp_path_factory) -> Iterator[FakeDatabricks]:
    fake = FakeDatabricks(tmp_path_factory.mktemp("databricks")).start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="module")
def pipeline(standin, tmp_path_factory, spark) -> Iterator[Pipeline]:
    root = tmp_path_factory.mktemp("pipeline")
    done = Pipeline(
        standin,
        reference=root / "reference",
        remote_root=standin.dbfs / "pdm" / "tables",
        mlflow_db=standin.dbfs / "pdm" / "mlflow" / "mlflow.db",
    )
    with pytest.MonkeyPatch.context() as mp:
        # The local deployment: the reference tables, and the raw days the remote steps read.
        t = time.monotonic()
        _settings(mp, root, PDM_DEPLOYMENT="local", PDM_TABLES_ROOT=done.reference.as_uri())
        stages = ["machines", "raw_to_score_day", "features_to_score_day", "training_labels"]
        local = run_stages([*stages, "model", "scores", "alerts"])
        done.timings["local_reference"] = time.monotonic() - t
        done.timings.update({f"local.{k}": v for k, v in local["timings"].items()})
        for table in RAW_TABLES:  # landed there by the ingestion job
            shutil.copytree(done.reference / table, done.remote_root / table)

        _use_databricks(mp, root, standin)
        with dg.instance_for_test() as instance:
            for stage, selection, first, last in REMOTE_STAGES:
                t = time.monotonic()
                result = _execute(instance, selection, first, last, RUN_CONFIG.get(stage))
                done.timings[f"remote.{stage}"] = time.monotonic() - t
                assert result.success, (stage, _failure_messages(result))
                done.results[stage] = result
                done.logs += instance.all_logs(result.run_id)
    print(f"\ndatabricks pipeline: {json.dumps({k: round(v, 1) for k, v in done.timings.items()})}")
    yield done


def _table(spark, root: Path, table: str, last: str) -> pd.DataFrame:
    from pdm_assets.resources.storage import PartitionedTableStore

    first = SCORE_DAY if table in ("failure_scores", "maintenance_alerts") else FIRST_DAY
    days = pd.date_range(first, last).strftime("%Y-%m-%d").tolist()
    df = PartitionedTableStore(spark, root.as_uri()).read(table, days).toPandas()
    if "top_features" in df.columns:  # lists of structs: their plain form, floats to 12 digits
        df["top_features"] = df["top_features"].map(lambda v: repr(_rounded(plain_value(v))))
    keys = ["machineID", "datetime"] + (["component"] if "component" in df.columns else [])
    return df.sort_values(keys).reset_index(drop=True)


def _rounded(value: Any) -> Any:
    """Floats to 12 significant digits: a fleet's z-scores differ in the last bit between
    Spark layouts (summation order)."""
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def _events(logs, event_type) -> list[Any]:
    return [e for e in logs if e.is_dagster_event and e.dagster_event.event_type == event_type]


def test_each_spark_step_is_a_databricks_run_shipping_the_projects_code(pipeline):
    standin = pipeline.standin
    submitted = standin.submitted()
    assert len(submitted) == len(REMOTE_STEPS)
    for request in submitted:
        task = request["tasks"][0]
        assert task["existing_cluster_id"] == CLUSTER_ID
        assert task["spark_python_task"]["python_file"].endswith("databricks_step_main.py")
        assert any(p.endswith("/code.zip") for p in task["spark_python_task"]["parameters"])
        libraries = {lib["pypi"]["package"].split("==")[0] for lib in task["libraries"]}
        assert {"dagster", "dagster-databricks", "dagster-pyspark", "databricks-sdk"} <= libraries
    # One staging folder per step, named after it.
    steps = sorted(p.parent.name for p in standin.dbfs.rglob("code.zip"))
    assert steps == sorted(REMOTE_STEPS)
    names = zipfile.ZipFile(next(standin.dbfs.rglob("code.zip"))).namelist()
    assert "pdm_assets/definitions.py" in names and "pdm_assets/parity.py" in names
    assert not [n for n in names if n.startswith((".venv", "data/", "pdm_assets_tests"))]
    # The remote steps imported the shipped package, not this checkout.
    for run in standin.runs.values():
        assert run.result_state == "SUCCESS", run.log[-3000:]
        loaded_from = [line for line in run.log.splitlines() if "pdm_assets loaded from" in line]
        assert loaded_from and str(Path(__file__).parents[2]) not in loaded_from[0], run.log
    # Every step ran on the existing cluster's one driver JVM, up before the step arrived.
    drivers = {
        line.rsplit(" ", 1)[-1]
        for run in standin.runs.values()
        for line in run.log.splitlines()
        if line.startswith("standin: driver JVM pid ")
    }
    assert len(drivers) == 1, drivers


def test_the_dagster_runs_show_remote_events_logs_run_urls_and_cluster_minutes(pipeline):
    logs, host = pipeline.logs, pipeline.standin.host
    # Materializations written by the remote processes, replayed into the local runs.
    remote = [
        e
        for e in _events(logs, dg.DagsterEventType.ASSET_MATERIALIZATION)
        if e.dagster_event.pid != os.getpid()
    ]
    assert {e.dagster_event.asset_key.to_user_string() for e in remote} == set(REMOTE_STEPS)
    messages = [e.user_message for e in logs]
    for step in REMOTE_STEPS:
        assert any(f"Captured stdout for step {step}" in m for m in messages), step
    assert any("Waiting for Databricks run" in m for m in messages)
    # After each remote run: its URL and cost, from runs/get, as step metadata ...
    reports = [
        e.dagster_event
        for e in _events(logs, dg.DagsterEventType.ENGINE_EVENT)
        if "databricks_cluster_minutes" in (e.dagster_event.engine_event_data.metadata or {})
    ]
    assert sorted(e.step_key for e in reports) == sorted(REMOTE_STEPS)
    for event in reports:
        metadata = event.engine_event_data.metadata
        assert metadata["databricks_run_url"].value.startswith(f"{host}/#job/")
        assert metadata["databricks_state"].value == "TERMINATED SUCCESS"
        assert metadata["databricks_cluster_minutes"].value > 0
        assert metadata["databricks_cluster_id"].value == CLUSTER_ID
        assert "cluster minutes" in event.message
    # ... and per asset partition, as an observation on the asset's page.
    observations = {
        (e.dagster_event.asset_key.to_user_string(), e.dagster_event.partition): e
        for e in _events(logs, dg.DagsterEventType.ASSET_OBSERVATION)
    }
    assert ("failure_scores", SCORE_DAY) in observations
    assert ("failure_model", MODEL_MONTH) in observations
    assert ("machine_features", FIRST_DAY) in observations  # every day of the range run
    scores = observations[("failure_scores", SCORE_DAY)].dagster_event
    url = scores.asset_observation_data.asset_observation.metadata["databricks_run_url"].value
    run_id = int(url.rsplit("/", 1)[1])
    assert pipeline.standin.runs[run_id].request["tasks"][0]["spark_python_task"][
        "python_file"
    ].split("/")[-2] == ("failure_scores")


def test_remote_tables_and_model_equal_the_local_deployments(pipeline, spark):
    for table, last in LAST_DAY.items():
        remote_table = _table(spark, pipeline.remote_root, table, last)
        local_table = _table(spark, pipeline.reference, table, last)
        assert len(remote_table) > 0, table
        pd.testing.assert_frame_equal(remote_table, local_table, check_exact=False, rtol=1e-12)
    # Training is deterministic: the remote model is the local one (same threshold and scores).
    remote_model = json.loads(
        (pipeline.remote_root / "failure_model" / f"{MODEL_MONTH}.json").read_text()
    )
    local_model = json.loads(
        (pipeline.reference / "failure_model" / f"{MODEL_MONTH}.json").read_text()
    )
    for key in ["alert_threshold", "holdout_macro_f1", "window_first_day", "window_last_day"]:
        assert remote_model[key] == local_model[key], key
    # The remote step logged and registered the model in the store both sides read.
    with sqlite3.connect(pipeline.mlflow_db) as db:
        versions = db.execute("SELECT name, version, run_id FROM model_versions").fetchall()
        metrics = dict(
            db.execute(
                "SELECT key, value FROM metrics WHERE run_uuid = ?", (remote_model["run_id"],)
            )
        )
    assert versions == [("pdm_failure_model", 1, remote_model["run_id"])]
    for level in ("watch_threshold", "act_threshold"):  # both alert levels, as tuned remotely
        assert metrics[level] == pytest.approx(local_model[level]), level
    artifacts = pipeline.standin.dbfs / "pdm" / "mlflow" / "artifacts"
    assert list(artifacts.rglob("MLmodel")), "model artifacts not in the DBFS folder"


def test_parity_command_compares_a_partition_of_both_deployments(pipeline, spark, capsys, tmp_path):
    from pdm_assets.cli import main
    from pdm_assets.parity import compare_partition

    args = ["parity", "--asset", "failure_scores", "--partition", SCORE_DAY]
    args += ["--local-root", pipeline.reference.as_uri()]
    args += ["--against", "databricks", "--against-root", pipeline.remote_root.as_uri()]
    assert main(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"local vs databricks: failure_scores {SCORE_DAY}: equal (")
    report = json.loads(out[-1])
    assert report["equal"] and report["left_rows"] > 0 and report["differing_rows"] == 0
    assert report["max_abs_difference"]["risk"] == 0.0

    # A partition that differs by one risk value is found and named.
    from pyspark.sql import functions as F

    copy = tmp_path / "tampered"
    scores = spark.read.parquet(str(pipeline.remote_root / "failure_scores" / f"dt={SCORE_DAY}"))
    first = scores.orderBy("machineID", "datetime").first()
    is_first = (F.col("machineID") == first.machineID) & (F.col("datetime") == first.datetime)
    tampered_scores = scores.withColumn(
        "risk", F.when(is_first, F.col("risk") + 0.25).otherwise(F.col("risk"))
    )
    tampered_scores.write.parquet(str(copy / "failure_scores" / f"dt={SCORE_DAY}"))
    tampered = compare_partition(
        spark, "failure_scores", SCORE_DAY, pipeline.reference.as_uri(), copy.as_uri()
    )
    assert not tampered.equal and tampered.differing_rows == 1
    assert tampered.max_abs_difference["risk"] == pytest.approx(0.25)
    assert "column risk" in tampered.summary() and "DIFFERENT" in tampered.summary()


def test_a_failing_remote_step_fails_the_run_with_the_remote_error(standin, tmp_path, monkeypatch):
    # An empty tables root: the step's inputs are missing.
    _use_databricks(monkeypatch, tmp_path, standin, tables="empty/tables")
    before = len(standin.submitted())
    with dg.instance_for_test() as instance:
        result = _execute(instance, ["machine_features"], "2015-01-02", "2015-01-02")
        logs = instance.all_logs(result.run_id)
    assert not result.success
    [message] = _failure_messages(result)
    # The remote IO manager's own error, raised by the shipped code on the cluster.
    assert "TableStoreError: partition(s) 2015-01-01" in message, message
    assert "not stored under file://" in message and "materialize it first" in message
    assert "/pdm_assets/resources/storage.py" in message
    assert str(Path(__file__).parents[2] / "pdm_assets") not in message
    assert len(standin.submitted()) == before + 1
    # The failed step's run and cost are still reported (the Databricks run itself ends in
    # SUCCESS: the remote entry point records the step failure as an event and exits normally),
    # but no asset is said to have come from it.
    [report] = [
        e.dagster_event.engine_event_data.metadata
        for e in _events(logs, dg.DagsterEventType.ENGINE_EVENT)
        if "databricks_cluster_minutes" in (e.dagster_event.engine_event_data.metadata or {})
    ]
    assert report["databricks_state"].value.startswith("TERMINATED")
    assert report["databricks_run_url"].value.startswith(f"{standin.host}/#job/")
    assert not _events(logs, dg.DagsterEventType.ASSET_OBSERVATION)


def test_a_wrong_token_is_refused_and_says_so(standin, tmp_path, monkeypatch):
    _use_databricks(monkeypatch, tmp_path, standin, DATABRICKS_TOKEN="dapi-wrong")
    before = (len(standin.submitted()), len(standin.requests))
    with dg.instance_for_test() as instance:
        result = _execute(instance, ["machine_features"], "2015-01-02", "2015-01-02")
    assert not result.success
    [message] = _failure_messages(result)
    assert "Invalid access token" in message, message
    assert (len(standin.submitted()), len(standin.requests)) == before
