"""The stand-in's existing cluster: one warm driver JVM that outlives a cancelled task.

A cancelled task's process is killed with its SparkContext still active in the shared driver;
the next task must still get a working context, on the same JVM.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest

from pdm_assets_tests.fakes.databricks import CLUSTER_ID, FakeDatabricks

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

TASK = """
import sys, time
from pyspark import SparkContext
pid = SparkContext._jvm.java.lang.ProcessHandle.current().pid()
print(f"task {sys.argv[1]} on driver JVM {pid}:", sc.parallelize(range(10)).count(), flush=True)
if sys.argv[1] == "hang":
    time.sleep(600)
"""


def _call(fake: FakeDatabricks, method: str, path: str, body: dict[str, Any] | None = None):
    url = f"{fake.host}{path}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {fake.token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _submit(fake: FakeDatabricks, mode: str) -> int:
    task = {
        "task_key": mode,
        "existing_cluster_id": CLUSTER_ID,
        "spark_python_task": {"python_file": "dbfs:/task.py", "parameters": [mode]},
    }
    return _call(fake, "POST", "/api/2.2/jobs/runs/submit", {"tasks": [task]})["run_id"]


def _wait(condition, what: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def _log(fake: FakeDatabricks, run_id: int) -> str:
    path = fake.root / "runs" / str(run_id) / "driver.log"
    return path.read_text() if path.exists() else ""


def _state(fake: FakeDatabricks, run_id: int) -> dict[str, Any]:
    return _call(fake, "GET", f"/api/2.2/jobs/runs/get?run_id={run_id}")["state"]


def test_a_task_after_a_cancelled_one_runs_on_the_same_warm_driver(tmp_path):
    with FakeDatabricks(tmp_path) as fake:
        (fake.dbfs / "task.py").write_text(TASK)
        hanging = _submit(fake, "hang")
        _wait(lambda: "task hang on driver JVM" in _log(fake, hanging), "the first task's job")
        _call(fake, "POST", "/api/2.2/jobs/runs/cancel", {"run_id": hanging})
        _wait(lambda: _state(fake, hanging)["life_cycle_state"] == "TERMINATED", "the cancel")
        assert _state(fake, hanging)["result_state"] == "CANCELED"

        after = _submit(fake, "after")
        _wait(lambda: _state(fake, after)["life_cycle_state"] == "TERMINATED", "the next task")
        log = _log(fake, after)
        assert _state(fake, after)["result_state"] == "SUCCESS", log[-3000:]
        assert "stopping a SparkContext left by an earlier task" in log
        first_jvm = _log(fake, hanging).split("on driver JVM ")[1].split(":")[0]
        assert f"task after on driver JVM {first_jvm}: 10" in log
