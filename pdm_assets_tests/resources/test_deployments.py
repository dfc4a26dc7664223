"""The deployment switch: one function, three deployments, clear errors for bad settings."""

import json
import shutil
import tempfile
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.step_launcher import StepLauncher

from pdm_assets.definitions import build_assets
from pdm_assets.resources.databricks import DatabricksSettings, forwarded_env, stage_code_package
from pdm_assets.resources.deployments import build_resources

SPARK_ASSETS = {
    "machines",
    "raw_telemetry",
    "raw_errors",
    "raw_maintenance",
    "raw_failures",
    "component_replacements",
    "machine_features",
    "failure_labels",
    "failure_model",
    "failure_scores",
    "maintenance_alerts",
}


def test_spark_assets_require_the_step_launcher():
    required = {
        key.to_user_string()
        for asset in build_assets()
        if "pyspark_step_launcher" in asset.required_resource_keys
        for key in asset.keys
    }
    assert SPARK_ASSETS <= required


def test_local_binds_a_no_op_launcher(monkeypatch):
    monkeypatch.delenv("PDM_DEPLOYMENT", raising=False)
    resources = build_resources()
    launcher = resources["pyspark_step_launcher"]
    assert isinstance(launcher, dg.ResourceDefinition)
    with dg.build_resources({"launcher": launcher}) as built:
        assert built.launcher is None
    assert resources["pyspark"].spark_config["spark.master"].startswith("local")


def test_unknown_deployment_is_named(monkeypatch):
    monkeypatch.setenv("PDM_DEPLOYMENT", "kubernetes")
    with pytest.raises(ValueError, match="unknown PDM_DEPLOYMENT 'kubernetes'"):
        build_resources()


def test_spark_cluster_needs_a_cluster_master(monkeypatch):
    monkeypatch.setenv("PDM_DEPLOYMENT", "spark-cluster")
    monkeypatch.delenv("PDM_SPARK_MASTER", raising=False)
    with pytest.raises(ValueError, match="needs PDM_SPARK_MASTER"):
        build_resources()
    monkeypatch.setenv("PDM_SPARK_MASTER", "sc://127.0.0.1:15002")
    with pytest.raises(ValueError, match="Spark Connect"):
        build_resources()
    monkeypatch.setenv("PDM_SPARK_MASTER", "spark://10.0.0.5:7077")
    conf = build_resources()["pyspark"].spark_config
    assert conf["spark.master"] == "spark://10.0.0.5:7077"
    assert "spark.driver.memory" not in conf  # a cluster's driver is sized by the cluster


def _databricks_env(monkeypatch, **env):
    monkeypatch.setenv("PDM_DEPLOYMENT", "databricks")
    monkeypatch.delenv("DATABRICKS_RUNTIME_VERSION", raising=False)
    for name in ["PDM_DATABRICKS_CLUSTER_ID", "PDM_DATABRICKS_NEW_CLUSTER", "PDM_TABLES_ROOT"]:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def test_databricks_needs_one_cluster_choice(monkeypatch):
    _databricks_env(monkeypatch)
    with pytest.raises(ValueError, match="exactly one of PDM_DATABRICKS_CLUSTER_ID"):
        build_resources()
    _databricks_env(monkeypatch, PDM_DATABRICKS_NEW_CLUSTER="{not json")
    with pytest.raises(ValueError, match="PDM_DATABRICKS_NEW_CLUSTER is not valid JSON"):
        build_resources()


def test_databricks_binds_the_real_launcher_with_delta_and_databricks_mlflow(monkeypatch, tmp_path):
    _databricks_env(
        monkeypatch,
        PDM_DATABRICKS_CLUSTER_ID="0101-000000-abc",
        PDM_DATABRICKS_POLL_SECONDS="2.5",
        DATABRICKS_HOST="https://adb-1.azuredatabricks.net",
        DATABRICKS_TOKEN="dapi-secret",
    )
    resources = build_resources()
    assert resources["tables"].root == "dbfs:/pdm/tables"
    assert resources["tables"].table_format == "delta"
    assert resources["mlflow_tracking"].tracking_uri == "databricks"
    assert resources["mlflow_tracking"].experiment.startswith("/")
    with dg.build_resources({"launcher": resources["pyspark_step_launcher"]}) as built:
        launcher = built.launcher
    assert isinstance(launcher, StepLauncher)
    assert launcher.databricks_host == "https://adb-1.azuredatabricks.net"
    assert launcher.databricks_runner.poll_interval_sec == 2.5
    assert launcher.secrets == []
    # The token is read from the environment at run time, never written into config.
    assert "dapi-secret" not in json.dumps(launcher.env_variables)
    assert launcher.env_variables["PDM_DEPLOYMENT"] == "databricks"
    shipped = Path(launcher.local_dagster_job_package_path)
    assert (shipped / "pdm_assets" / "definitions.py").exists()
    assert not (shipped / ".venv").exists()


def test_on_the_cluster_the_same_function_binds_the_runtime_session(monkeypatch):
    _databricks_env(monkeypatch, PDM_DATABRICKS_CLUSTER_ID="c", DATABRICKS_RUNTIME_VERSION="15.4")
    resources = build_resources()
    assert resources["pyspark"].spark_config == {}
    with dg.build_resources({"launcher": resources["pyspark_step_launcher"]}) as built:
        assert built.launcher is None


def test_code_is_staged_once_per_content(tmp_path):
    with pytest.raises(ValueError, match="would ship an empty package"):
        stage_code_package(str(tmp_path))  # pytest's tmp_path: the launcher skips "pytest"
    root = Path(tempfile.mkdtemp(prefix="pdm-code-", dir="/tmp"))
    try:
        first = stage_code_package(str(root))
        assert stage_code_package(str(root)) == first
        assert not list(root.glob(".*"))  # no half-staged copy left behind
        assert not list(root.rglob("__pycache__"))
        assert (Path(first) / "pdm_assets" / "definitions.py").exists()
    finally:
        shutil.rmtree(root)


def test_only_project_settings_are_forwarded():
    env = forwarded_env({"PDM_MACHINES": "4", "DATABRICKS_TOKEN": "x", "HOME": "/root"})
    assert env == {"PDM_MACHINES": "4", "PDM_DEPLOYMENT": "databricks"}


def test_settings_from_env_new_cluster():
    settings = DatabricksSettings.from_env(
        {"PDM_DATABRICKS_NEW_CLUSTER": '{"spark_version": "15.4.x-scala2.12"}'}
    )
    assert settings.cluster == {"new": {"spark_version": "15.4.x-scala2.12"}}


def _kinds(deployment: str) -> dict[str, set[str]]:
    from pdm_assets.resources.deployments import deployment_assets

    return {
        spec.key.to_user_string(): set(spec.kinds)
        for asset in deployment_assets(build_assets(), deployment)
        for spec in asset.specs
    }


def test_databricks_kind_on_every_remotely_run_asset_only_on_databricks():
    remote = _kinds("databricks")
    assert all("databricks" in remote[name] for name in SPARK_ASSETS)
    assert {"pyspark", "mlflow", "databricks"} <= remote["failure_model"]
    assert not any("databricks" in kinds for kinds in _kinds("local").values())
    assert not any("databricks" in kinds for kinds in _kinds("spark-cluster").values())


def test_definitions_show_the_databricks_kind_when_deployed_there(monkeypatch):
    from pdm_assets.definitions import build_definitions

    _databricks_env(monkeypatch, PDM_DATABRICKS_CLUSTER_ID="0101-000000-abc")
    # Resolving reads the current instance's definitions state: give it a live one, not
    # whatever instance an earlier test left as current.
    with dg.instance_for_test():
        spec = build_definitions().resolve_assets_def("failure_scores").specs_by_key
    assert "databricks" in spec[dg.AssetKey("failure_scores")].kinds


def test_cluster_minutes_from_a_runs_get_answer():
    from pdm_assets.resources.databricks_launcher import run_cost_metadata

    single_task = {
        "run_id": 7,
        "run_page_url": "https://adb-1.azuredatabricks.net/#job/1/run/7",
        "state": {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS"},
        "start_time": 1_000,
        "end_time": 400_000,
        "setup_duration": 240_000,  # a new job cluster starting
        "execution_duration": 150_000,
        "cleanup_duration": 6_000,
        "tasks": [{"cluster_instance": {"cluster_id": "0101-abc"}}],
    }
    metadata = run_cost_metadata(single_task)
    assert metadata["databricks_cluster_minutes"] == 6.6  # 396 s
    assert metadata["databricks_setup_seconds"] == 240.0
    assert metadata["databricks_execution_seconds"] == 150.0
    assert metadata["databricks_state"] == "TERMINATED SUCCESS"
    assert metadata["databricks_cluster_id"] == "0101-abc"
    assert metadata["databricks_run_url"].value.endswith("/run/7")
    # Multi-task runs report run_duration; without durations, end - start.
    assert run_cost_metadata({"run_duration": 90_000})["databricks_cluster_minutes"] == 1.5
    only_times = {"start_time": 0, "end_time": 30_000, "state": {}}
    assert run_cost_metadata(only_times)["databricks_cluster_minutes"] == 0.5
