"""Secrets come from the environment only and never reach what Dagster or MLflow store.

A real run (raw -> features -> labels -> a trained and registered model, with real Spark and
MLflow) happens with sentinel values in DATABRICKS_HOST/_TOKEN and the MLflow credential
variables; then every byte the Dagster instance (event log: run logs, event metadata; run
storage: run config and tags) and MLflow (tracking store, registry, artifacts) wrote is searched
for them, and so are the structured records (events, run config, MLflow params and tags).
A control event that does carry the token proves the search finds it.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from dagster._serdes import serialize_value

from pdm_assets.resources.databricks import DatabricksSettings, forwarded_env
from pdm_assets.resources.tracking import MlflowTracking, without_credentials
from pdm_assets_tests.reliability.conftest import SECRETS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

TOKEN = SECRETS["DATABRICKS_TOKEN"]
HOST = SECRETS["DATABRICKS_HOST"]
MLFLOW_TOKEN = SECRETS["MLFLOW_TRACKING_TOKEN"]
MLFLOW_PASSWORD = SECRETS["MLFLOW_TRACKING_PASSWORD"]
SENTINELS = (TOKEN, HOST.removeprefix("https://"), MLFLOW_TOKEN, MLFLOW_PASSWORD)
SMALL_FOREST = {
    "ops": {
        "failure_model": {"config": {"num_trees": 4, "max_depth": 4, "min_threshold_failures": 0}}
    }
}


def files_containing(root: Path, needles=SENTINELS) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            hits += [f"{path}: {n}" for n in needles if n.encode() in data]
    return hits


def records_containing(instance: dg.DagsterInstance, needles=SENTINELS) -> list[str]:
    """Every run (config, tags) and every event of it (messages, metadata), serialized."""
    hits = []
    for run in instance.get_runs():
        texts = [serialize_value(run)]
        texts += [serialize_value(e) for e in instance.all_logs(run.run_id)]
        hits += [f"run {run.run_id}: {n}" for t in texts for n in needles if n in t]
    return hits


def mlflow_containing(tracking_uri: str, needles=SENTINELS) -> list[str]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    texts = []
    for exp in client.search_experiments():
        for run in client.search_runs([exp.experiment_id]):
            texts += [repr(run.data.params), repr(run.data.tags), repr(run.info)]
    for model in client.search_registered_models():
        texts.append(repr(model.tags))
        for version in client.search_model_versions(f"name='{model.name}'"):
            texts += [repr(version.tags), version.source or "", version.run_id or ""]
    return [n for t in texts for n in needles if n in t]


def test_a_real_run_stores_no_secret_anywhere(january):
    platform, data = january  # raw, features and labels were built with the sentinels set
    instance = platform.instance
    model = platform.run(["failure_model"], partition_key="2015-02-01", run_config=SMALL_FOREST)
    assert model.success
    record = platform.store.read_record("failure_model", "2015-02-01")
    tracking_uri = platform.resources["mlflow_tracking"].tracking_uri
    assert tracking_uri.startswith("sqlite:///" + str(data))

    assert len(instance.get_runs()) == 4
    assert records_containing(instance) == []
    assert files_containing(Path(instance.root_directory)) == []
    assert files_containing(data) == []  # tables, the MLflow store and its artifacts
    assert mlflow_containing(tracking_uri) == []
    assert mlflow_registered_versions(tracking_uri) == [str(record["version"])]  # really searched

    # Control: an event that carries the token is found by the same searches.
    instance.report_runless_asset_event(
        dg.AssetMaterialization("leak_probe", metadata={"oops": TOKEN})
    )
    probe = instance.fetch_materializations(dg.AssetKey("leak_probe"), limit=1).records[0]
    assert TOKEN in serialize_value(probe.event_log_entry)
    assert any(TOKEN in h for h in files_containing(Path(instance.root_directory)))


def mlflow_registered_versions(tracking_uri: str) -> list[str]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    versions = client.search_model_versions("name='pdm_failure_model'")
    return sorted((str(v.version) for v in versions), key=int)  # an int or a str, by MLflow version


def test_databricks_credentials_are_env_references_never_values(monkeypatch):
    """The launcher is configured with ``{"env": ...}`` (resolved when a step starts, not
    stored), the forwarded environment holds only PDM_* settings, and the Databricks settings
    have no field for a token."""
    from pdm_assets.resources import databricks

    monkeypatch.setenv("DATABRICKS_HOST", HOST)
    monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)
    monkeypatch.setenv("PDM_DATABRICKS_CLUSTER_ID", "0101-000000-abcdef")
    settings = DatabricksSettings.from_env()
    assert not any(s in repr(settings) for s in SENTINELS)
    assert "DATABRICKS_TOKEN" not in forwarded_env() and "DATABRICKS_HOST" not in forwarded_env()

    captured = {}

    class Launcher:
        @staticmethod
        def configured(fn):
            captured["config"] = fn(None)
            return "launcher"

    monkeypatch.setattr(databricks, "stage_code_package", lambda _dir=None: "/tmp/code")
    from pdm_assets.resources import databricks_launcher

    monkeypatch.setattr(databricks_launcher, "reporting_databricks_step_launcher", lambda: Launcher)
    assert databricks.databricks_step_launcher(settings) == "launcher"
    config = captured["config"]
    assert config["databricks_host"] == {"env": "DATABRICKS_HOST"}
    assert config["databricks_token"] == {"env": "DATABRICKS_TOKEN"}
    assert not any(s in repr(config) for s in SENTINELS)


def test_a_tracking_uri_with_credentials_is_shown_without_them():
    uri = f"https://pdm-bot:{MLFLOW_PASSWORD}@mlflow.example.com/"
    assert without_credentials(uri) == "https://mlflow.example.com/"
    tracking = MlflowTracking(tracking_uri=uri)
    shown = [tracking.ui_base, tracking.run_url("1", "r"), tracking.version_url("2")]
    shown.append(tracking.ui_hint())
    assert all(MLFLOW_PASSWORD not in s and "pdm-bot" not in s for s in shown), shown
    assert without_credentials("sqlite:////tmp/x/mlflow.db") == "sqlite:////tmp/x/mlflow.db"
    assert without_credentials("databricks") == "databricks"
