"""The code location loads cheaply, with the pinned integration versions."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import dagster as dg

ROOT = Path(__file__).resolve().parents[1]


def test_pinned_integration_pair_is_installed():
    # Left loose, pip backtracks to a 2021-era dagster-databricks 0.11 without saying so.
    assert version("dagster-databricks") == "0.29.27"
    assert version("dagster-pyspark") == "0.29.27"
    assert version("dagster") == "1.13.27"
    assert int(version("pyspark").split(".")[0]) == 4
    assert int(version("mlflow").split(".")[0]) == 3
    assert int(version("pandas").split(".")[0]) < 3


def test_importing_definitions_starts_no_spark():
    # Import time is a benchmark matter (benchmarks/), not a timed test: it varies with load.
    code = (
        "import pdm_assets.definitions as d; "
        "from pyspark.sql import SparkSession; "
        "assert SparkSession.getActiveSession() is None, 'a SparkSession was started'; "
        "assert SparkSession._instantiatedSession is None, 'a SparkSession was built'; "
        "print(len(d.defs.assets))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.strip().splitlines()[-1]) > 0


def test_definitions_are_loadable():
    from pdm_assets.definitions import defs

    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"raw_telemetry", "raw_errors", "raw_maintenance", "raw_failures", "machines"} <= keys
    daily = graph.get(dg.AssetKey("raw_telemetry")).partitions_def
    assert isinstance(daily, dg.DailyPartitionsDefinition)
    assert daily.get_first_partition_key() == "2015-01-01"
