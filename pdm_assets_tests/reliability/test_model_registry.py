"""The model registry gets exactly one version per completed training run, with real processes.

Two processes train February's model of the same stored history at the same time, against one
MLflow store (sqlite tracking and registry, local artifacts) that neither has used before, so
they also race to create the experiment and the registered model.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from pdm_assets.resources.storage import PartitionedTableStore
from pdm_assets_tests.reliability.conftest import january_env
from pdm_assets_tests.spark_conf import spark_conf_env

pytestmark = []
MONTH = "2015-02-01"


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_two_concurrent_trainings_register_two_versions(january, tmp_path, spark):
    _, data = january
    shared = tmp_path / "data"
    shutil.copytree(data / "tables", shared / "tables")  # no MLflow store yet
    shutil.rmtree(shared / "tables" / "failure_model", ignore_errors=True)
    env = {
        **os.environ,
        **january_env(shared),
        "PDM_SPARK_MASTER": "local[1]",
        "PDM_SPARK_CONF": spark_conf_env(short_lived=True),
    }
    for name in ("MLFLOW_TRACKING_URI", "PDM_MLFLOW_TRACKING_URI", "PDM_TABLES_ROOT"):
        env.pop(name, None)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "pdm_assets_tests.reliability.trainer", MONTH],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=800)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n\n".join(o[-3000:] for o in outputs)
    trained = [
        line.split()[1:] for o in outputs for line in o.splitlines() if line.startswith("trained ")
    ]
    assert len(trained) == 2

    from mlflow import MlflowClient

    uri = f"sqlite:///{shared / 'mlflow' / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    versions = client.search_model_versions("name='pdm_failure_model'")
    # One version per completed run: two versions, numbered 1 and 2, each from its own run.
    # MLflow returns the version as an int or a str depending on its release: compare text.
    assert sorted(str(v.version) for v in versions) == ["1", "2"]
    assert sorted((str(v.version), v.run_id) for v in versions) == sorted(
        (version, run_id) for version, run_id in trained
    )
    runs = {
        r.info.run_id: r
        for r in client.search_runs([client.get_experiment_by_name("pdm-assets").experiment_id])
    }
    assert set(runs) == {run_id for _, run_id in trained}
    for v in versions:
        assert runs[v.run_id].info.status == "FINISHED"
        assert v.tags["dagster.partition"] == MONTH
    # The partition's record is one complete version: the last writer's.
    record = PartitionedTableStore(spark, str(shared / "tables")).read_record(
        "failure_model", MONTH
    )
    assert (str(record["version"]), record["run_id"]) in {(a, b) for a, b in trained}


OPEN_STORE = (
    "import sys; from pdm_assets.resources.tracking import MlflowTracking; "
    "print(MlflowTracking(tracking_uri=f'sqlite:///{sys.argv[1]}/mlflow.db').client())"
)


@pytest.mark.timeout(300)
def test_processes_opening_a_new_mlflow_store_at_once_all_succeed(tmp_path):
    """Without the lock in ``MlflowTracking.client`` one of two processes failed in 4 of 4
    tries ("table _alembic_tmp_model_versions already exists"): both ran MLflow's migrations.
    Three processes race here, once (it was three times: a race that loses every time needs
    no repeats)."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_STORE, str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=240)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], "\n".join(o[-2000:] for o in outputs)
    assert {o.strip().splitlines()[-1] for o in outputs} == {"1"}  # one shared experiment
