"""Shared plumbing for the benchmarks: a throwaway data dir, real Dagster runs, step timings."""

import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg

from pdm_assets.partitions import materialize_days

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


class Bench:
    """Runs asset selections into a fresh data directory and records wall and step times."""

    def __init__(
        self, machines: int, data_dir: str | None = None, env: dict[str, str] | None = None
    ):
        """``env`` overrides the settings (e.g. a landing-zone source) before the definitions
        are built."""
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="pdm-bench-")
        os.environ.update(
            {
                "PDM_DATA_DIR": self.data_dir,
                "PDM_MACHINES": str(machines),
                "PDM_SOURCE": "simulator",
                **(env or {}),
            }
        )
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        from pdm_assets.definitions import build_definitions

        self.defs = build_definitions()
        self.assets = [a for a in self.defs.assets if isinstance(a, dg.AssetsDefinition)]
        self.instance = dg.DagsterInstance.ephemeral()
        self.rows: list[dict] = []

    def run(self, label, selection, first=None, last=None, partition_key=None, run_config=None):
        config = {**QUIET, **(run_config or {})}
        start = time.perf_counter()
        result = materialize_days(
            self.assets,
            selection,
            self.instance,
            self.defs.resources,
            first,
            last,
            partition_key=partition_key,
            run_config=config,
        )
        seconds = time.perf_counter() - start
        steps = step_seconds(self.instance, result)
        self.rows.append({"stage": label, "seconds": round(seconds, 2), "steps": steps})
        print(
            f"{label:<44}{seconds:9.1f} s   " + ", ".join(f"{k} {v:.1f}" for k, v in steps.items())
        )
        sys.stdout.flush()
        return seconds, steps

    def finish(self, **extra) -> dict:
        summary = {
            "stages": {r["stage"]: r["seconds"] for r in self.rows},
            "python_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "jvm_peak_rss_mb": jvm_peak_rss_mb(),
            **extra,
        }
        print(json.dumps(summary))
        return summary


def step_seconds(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> dict:
    """Each step's duration, from the instance's step statistics of the run."""
    return {
        stat.step_key: round(stat.end_time - stat.start_time, 2)
        for stat in instance.get_run_step_stats(result.run_id)
        if stat.start_time and stat.end_time
    }


def jvm_peak_rss_mb() -> int | None:
    """The Spark driver JVM's high-water mark (it is a child process, still alive)."""
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is None:
        return None
    pid = session.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    status = Path(f"/proc/{pid}/status")
    for line in status.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return None
