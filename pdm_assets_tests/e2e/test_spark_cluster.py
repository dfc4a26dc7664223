"""PDM_DEPLOYMENT=spark-cluster on a real Spark standalone cluster: one master, one worker.

Both are started from the pyspark package's own launcher (``bin/spark-class``), on 127.0.0.1,
and always stopped. The pipeline (inventory, raw, features, labels) runs in a subprocess whose
session is on ``spark://``; its tables go to a folder every executor can read, and must equal
the tables the local deployment writes from the same simulated fleet (meanwhile, in this session).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from pdm_assets_tests.e2e.conftest import free_port, stop_process_group, wait_for
from pdm_assets_tests.e2e.deployment_runs import (
    FIRST_DAY,
    HISTORY_START,
    LAST_LABEL_DAY,
    LAST_RAW_DAY,
    run_stages,
)
from pdm_assets_tests.fresh_modules import in_session_with
from pdm_assets_tests.spark_conf import spark_conf_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
ROOT = Path(__file__).resolve().parents[2]
MACHINES = "4"
START_TIMEOUT = 60
RUN_TIMEOUT = 480  # generous: a loaded 2-core machine is 3-5x slower than an idle one
STAGES = ["machines", "raw", "features", "labels"]


@dataclass
class SparkCluster:
    master_url: str
    master_ui: str
    env: dict[str, str]

    def state(self) -> dict:
        with urllib.request.urlopen(f"{self.master_ui}/json/", timeout=5) as response:
            return json.loads(response.read())


def _alive_workers(cluster: SparkCluster) -> int:
    try:
        return sum(w["state"] == "ALIVE" for w in cluster.state()["workers"])
    except OSError:
        return 0


@pytest.fixture
def spark_cluster(tmp_path) -> Iterator[SparkCluster]:
    import pyspark

    spark_home = Path(pyspark.__file__).parent
    logs = tmp_path / "spark-logs"
    logs.mkdir()
    env = {
        **os.environ,
        "SPARK_HOME": str(spark_home),
        "SPARK_LOG_DIR": str(logs),
        "SPARK_PID_DIR": str(logs),
        "SPARK_WORKER_DIR": str(tmp_path / "spark-work"),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
    }
    port, ui, worker_ui = free_port(), free_port(), free_port()
    spark_class = str(spark_home / "bin" / "spark-class")
    commands = {
        "master": [
            spark_class,
            "org.apache.spark.deploy.master.Master",
            *("--host", "127.0.0.1", "--port", str(port), "--webui-port", str(ui)),
        ],
        "worker": [
            spark_class,
            "org.apache.spark.deploy.worker.Worker",
            *("--cores", "1", "--memory", "1g", "--webui-port", str(worker_ui)),
            f"spark://127.0.0.1:{port}",
        ],
    }
    cluster = SparkCluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{ui}", env)
    processes: dict[str, subprocess.Popen] = {}
    try:
        for name, command in commands.items():
            log = open(logs / f"{name}.out", "w")  # closed when the process ends
            processes[name] = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

        def alive() -> None:
            for name, proc in processes.items():
                if proc.poll() is not None:
                    tail = (logs / f"{name}.out").read_text()[-2000:]
                    raise AssertionError(f"spark {name} exited with {proc.returncode}:\n{tail}")

        wait_for(
            "a worker registered with the master", lambda: _alive_workers(cluster), 60, 1, alive
        )
        yield cluster
    finally:
        for proc in reversed(list(processes.values())):
            stop_process_group(proc, grace_seconds=20)


def _start_pipeline(env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "pdm_assets_tests.e2e.deployment_runs", *STAGES],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _summary(proc: subprocess.Popen, log: Path, deadline: float) -> dict:
    """The run's JSON summary; a timeout or failure shows the end of its log."""
    try:
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        stop_process_group(proc, grace_seconds=20)
        raise AssertionError(f"pipeline timed out:\n{log.read_text()[-4000:]}") from None
    text = log.read_text()
    assert proc.returncode == 0, text[-4000:]
    return json.loads(text.splitlines()[-1])


def _pipeline_env(base: dict[str, str], data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in base.items() if not k.startswith(("PDM_", "MLFLOW_TRACKING"))}
    env.update(
        {
            "PDM_DATA_DIR": str(data_dir),
            "PDM_MACHINES": MACHINES,
            "PDM_SOURCE": "simulator",
            "PDM_START_DATE": FIRST_DAY,
            "PDM_HISTORY_START": HISTORY_START,  # a short maintenance history: less to simulate
            "PDM_SPARK_CONF": spark_conf_env({"spark.default.parallelism": "2"}, short_lived=True),
            **extra,
        }
    )
    return env


def _table(spark, root: Path, table: str, first: str, last: str) -> pd.DataFrame:
    from pdm_assets.resources.storage import PartitionedTableStore

    days = pd.date_range(first, last).strftime("%Y-%m-%d").tolist()
    df = PartitionedTableStore(spark, str(root)).read(table, days).toPandas()
    return df.sort_values(["machineID", "datetime"]).reset_index(drop=True)


def test_pipeline_runs_on_a_standalone_cluster_like_locally(spark_cluster, tmp_path, spark):
    started = time.monotonic()
    shared = tmp_path / "shared"  # the folder every executor can read: tables, MLflow
    cluster_env = _pipeline_env(
        spark_cluster.env,
        shared,
        PDM_DEPLOYMENT="spark-cluster",
        PDM_SPARK_MASTER=spark_cluster.master_url,
    )
    cluster_env["PDM_SPARK_CONF"] += ",spark.executor.memory=768m,spark.cores.max=1"
    # The local reference runs in this session's warm Spark while the cluster works.
    deadline = time.monotonic() + RUN_TIMEOUT
    log = tmp_path / "cluster.log"
    cluster = _start_pipeline(cluster_env, log)
    try:
        with in_session_with(_pipeline_env(os.environ, tmp_path / "local")):
            local_summary = run_stages(STAGES)
        summary = _summary(cluster, log, deadline)
    finally:
        stop_process_group(cluster, grace_seconds=20)

    # The session was on the cluster, and the cluster had a non-driver executor for it.
    assert summary["master"] == spark_cluster.master_url
    assert local_summary["master"] == spark.sparkContext.master
    assert len(summary["executors"]) >= 2, summary["executors"]  # the driver + the worker's
    apps = spark_cluster.state()
    # Active until the master notices the driver is gone, then completed.
    ours = [a for a in apps["activeapps"] + apps["completedapps"] if a["id"] == summary["app_id"]]
    assert ours and ours[0]["cores"] >= 1, apps

    # Same tables as the local deployment, written where the executors could write them.
    for table, last in [("machine_features", LAST_RAW_DAY), ("failure_labels", LAST_LABEL_DAY)]:
        on_cluster = _table(spark, shared / "tables", table, FIRST_DAY, last)
        local_table = _table(spark, tmp_path / "local" / "tables", table, FIRST_DAY, last)
        assert len(on_cluster) > 0
        pd.testing.assert_frame_equal(on_cluster, local_table, check_exact=False, rtol=1e-12)
    print(
        f"\nspark cluster: {json.dumps(summary['timings'])}; local: "
        f"{json.dumps(local_summary['timings'])}; wall {time.monotonic() - started:.1f} s"
    )
