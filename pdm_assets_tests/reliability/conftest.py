"""Writers in real processes: the raw_telemetry asset from the simulator, into a given data dir."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest

from pdm_assets.automation import jobs
from pdm_assets.resources.storage import PHASE_HOOK_ENV, PartitionedTableStore
from pdm_assets.simulator import FleetSimulator
from pdm_assets_tests.spark_conf import spark_conf_env

FIRST, LAST = date(2015, 1, 1), date(2015, 1, 3)
DAYS = [(FIRST + timedelta(days=i)).isoformat() for i in range((LAST - FIRST).days + 1)]
MACHINES = 200  # 4,800 readings a day
TABLE = "raw_telemetry"


def writer_env(data_dir: Path, seed: int, hook: str | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "PDM_DATA_DIR": str(data_dir),
        "PDM_SOURCE": "simulator",
        "PDM_MACHINES": str(MACHINES),
        "PDM_SEED": str(seed),
        "PDM_SPARK_MASTER": "local[1]",
        "PDM_SPARK_CONF": spark_conf_env(short_lived=True),
    }
    env.pop(PHASE_HOOK_ENV, None)
    env.pop("PDM_TABLES_ROOT", None)
    if hook:
        env[PHASE_HOOK_ENV] = hook
    return env


def start_writer(data_dir: Path, seed: int, days=(DAYS[0], DAYS[-1]), hook=None):
    """The writer in a session of its own, so that a kill takes its JVM down with it."""
    return subprocess.Popen(
        [sys.executable, "-m", "pdm_assets_tests.reliability.writer", *days],
        env=writer_env(data_dir, seed, hook),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)  # the group this test started: the writer and its JVM
    proc.wait(timeout=30)


def wait_for(condition, proc: subprocess.Popen, what: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(
                f"writer exited ({proc.returncode}) before {what}:\n{proc.stdout.read()}"
            )
        if time.monotonic() > deadline:
            kill(proc)
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def signature(store: PartitionedTableStore, days=DAYS) -> dict[str, tuple[int, float]]:
    """Per stored day: rows and the sum of volt (which tells the seeds apart)."""
    rows = (
        store.read(TABLE, list(days))
        .selectExpr("date_format(datetime, 'yyyy-MM-dd') AS day", "volt")
        .groupBy("day")
        .agg({"*": "count", "volt": "sum"})
        .collect()
    )
    return {r["day"]: (r["count(1)"], r["sum(volt)"]) for r in rows}


def expected_signature(seed: int, days=DAYS) -> dict[str, tuple[int, float]]:
    sim = FleetSimulator(n_machines=MACHINES, seed=seed)
    first, last = date.fromisoformat(days[0]), date.fromisoformat(days[-1])
    tel = sim.telemetry(first, last + timedelta(days=1))
    by_day = tel.groupby(tel["datetime"].dt.strftime("%Y-%m-%d"))["volt"].agg(["count", "sum"])
    return {d: (int(r["count"]), float(r["sum"])) for d, r in by_day.iterrows()}


def is_version(got: dict[str, tuple[int, float]], want: dict[str, tuple[int, float]]) -> bool:
    """Same days, same row counts, same volt sums (up to summation order)."""
    return got.keys() == want.keys() and all(
        got[d][0] == want[d][0] and abs(got[d][1] - want[d][1]) < 1e-3 for d in want
    )


@pytest.fixture(scope="module")
def versions():
    """What seed 1 (the stored version) and seed 2 (the new one) look like, per day."""
    return {1: expected_signature(1), 2: expected_signature(2)}


# --- a small trained history, with sentinel secrets in the environment ---------------------------
SECRETS = {
    "DATABRICKS_HOST": "https://sentinel-host-4b7d.cloud.databricks.com",
    "DATABRICKS_TOKEN": "dapi-SENTINEL-0f9e8d7c6b5a4f3e2d1c",
    "MLFLOW_TRACKING_TOKEN": "mlflow-SENTINEL-token-91ab",
    "MLFLOW_TRACKING_USERNAME": "pdm-bot",
    "MLFLOW_TRACKING_PASSWORD": "mlflow-SENTINEL-password-52cd",
}
JANUARY_FEATURES = [*jobs.RAW_ASSETS, *jobs.FEATURE_ASSETS]


def january_env(data_dir: Path) -> dict[str, str]:
    """3 machines from the simulator, a local deployment, and the sentinel secrets."""
    return {
        "PDM_DATA_DIR": str(data_dir),
        "PDM_MACHINES": "3",
        "PDM_SOURCE": "simulator",
        "PDM_DEPLOYMENT": "local",
        **SECRETS,
    }


@pytest.fixture(scope="package")
def january(tmp_path_factory, spark):
    """Features of 2015-01-01..01-31 and labels to 01-29 (the window of February's model), built
    in this process by real runs while the sentinel secrets are set."""
    import dagster as dg

    from pdm_assets_tests.assets.conftest import Platform

    data = tmp_path_factory.mktemp("january") / "data"
    with pytest.MonkeyPatch.context() as env, dg.instance_for_test() as instance:
        for key, value in january_env(data).items():
            env.setenv(key, value)
        for key in ("MLFLOW_TRACKING_URI", "PDM_MLFLOW_TRACKING_URI", "PDM_TABLES_ROOT"):
            env.delenv(key, raising=False)
        platform = Platform(instance)
        assert platform.run(["machines"]).success
        assert platform.run(JANUARY_FEATURES, "2015-01-01", "2015-01-31").success
        assert platform.run(["failure_labels"], "2015-01-01", "2015-01-29").success
        yield platform, data
