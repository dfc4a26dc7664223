"""The comparison benchmark's --quick size runs end to end and prints every field it promises."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.compare import FIELDS  # the columns the comparison promises

ROOT = Path(__file__).resolve().parents[1]
COMPARE = ROOT / "benchmarks" / "compare.py"
STAGES = ("ingest", "features+labels", "training", "scoring", "end to end")


@pytest.mark.slow
@pytest.mark.timeout(900)  # ~60-90 s on a quiet 2-core machine; much more when it is shared
def test_compare_quick_prints_every_stage_and_field(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    for name in ("PDM_DATA_DIR", "PDM_TABLES_ROOT", "PDM_MACHINES", "PDM_START_DATE"):
        env.pop(name, None)
    proc = subprocess.run(
        [sys.executable, str(COMPARE), "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=880,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    lines = proc.stdout.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["trees"] == 5 and summary["depth"] == 5
    (size,) = summary["sizes"]
    assert (size["machines"], size["days"]) == (2, 35)
    assert set(size["stages"]) == set(STAGES)
    for stage in STAGES:
        row = size["stages"][stage]
        assert set(FIELDS) <= set(row), (stage, row)
        assert row["reference_s"] > 0 and row["platform_s"] > 0, (stage, row)
        assert row["ratio"] == pytest.approx(row["reference_s"] / row["platform_s"], rel=0.1)
        assert row["platform_jvm_peak_mb"] > 0 and row["reference_jvm_peak_mb"] > 0, (stage, row)
        assert row["platform_python_peak_mb"] > 0 and row["reference_python_peak_mb"] > 0
    # Both sides worked on real rows: the reference labelled, trained and scored some.
    rows = size["reference_rows"]
    assert rows["feature_rows"] > 0 and rows["training_rows"] > 0 and rows["scored_rows"] > 0
    assert {"raw_telemetry", "machine_features", "failure_model", "failure_scores"} <= set(
        size["platform_steps"]
    )
    # The printed table: a row per stage, and its header.
    table = proc.stdout
    assert "reference s" in table and "plat JVM MB" in table
    for stage in STAGES:
        assert any(line.startswith(stage) for line in lines), stage
