"""Corrections re-flow to the end: after corrected files on old days, every table equals a
from-scratch run on the corrected files, exactly the planned partitions were rewritten (days
before the correction never), and each phase is one run per contiguous range.

History: 51 days (2026-01-01 .. 02-20) of a 3-machine simulated fleet in a CSV landing zone,
February's model, its scores (02-04 .. 02-20) and their evaluation. Delivery 1 corrects the
maintenance file of 01-20 (a replacement recorded late); delivery 2 the telemetry of 02-06 (one
mistyped reading) and the failures of 02-16 (a failure reported late). The scenario
(``reflow_scenario.py``) runs in this session's Spark, with the asset modules imported anew for
its dates (partitions are fixed when the code loads; see fresh_modules.py).

The scenario takes about 1.5 minutes on 2 quiet cores; the planner it drives is covered fast by
``pdm_assets_tests/test_reflow_plan.py``.
"""

from __future__ import annotations

import importlib
import json
import sys

import pytest

from pdm_assets_tests.fresh_modules import in_session_with

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
SCENARIO = "pdm_assets_tests.reliability.reflow_scenario"


@pytest.fixture(scope="module")
def report(tmp_path_factory, spark):
    work = tmp_path_factory.mktemp("reflow")
    settings = {
        "PDM_START_DATE": "2026-01-01",
        "PDM_END_DATE": "2026-02-20",
        "PDM_MACHINES": "3",
        "PDM_SOURCE": "landing",
        "PDM_AUTOMATION": "off",
        # Each deployment of the scenario points these at its own folders; restored after.
        "PDM_DATA_DIR": str(work),
        "PDM_LANDING_DIR": str(work / "landing"),
    }
    with in_session_with(settings, SCENARIO):
        scenario = importlib.import_module(SCENARIO)
        out = json.loads(json.dumps(scenario.main(work), default=str))
    print(json.dumps(out["seconds"]), file=sys.stderr)
    return out


def jobs(runs):
    return [(r["job"], r["first"], r["last"]) for r in runs]


def test_every_table_equals_a_from_scratch_run_on_the_corrected_files(report):
    assert report["diffs"] == {}
    assert all(report["rows"][t] > 0 for t in report["rows"]), report["rows"]
    # Not vacuous: the maintenance correction changed features after D+7 (beyond any window).
    assert report["feature_rows_changed_after_d_plus_7"] > 0


def test_a_maintenance_correction_reflows_to_the_newest_day_in_five_runs(report):
    delivery = report["deliveries"][0]
    assert delivery["name"] == "maintenance"
    assert jobs(delivery["runs"]) == [
        ("raw_job", "2026-01-20", "2026-01-20"),
        ("features_job", "2026-01-20", "2026-02-20"),
        ("model_job", "2026-02-01", "2026-02-01"),  # its window (01-01..01-29) holds 01-20
        ("scores_job", "2026-02-04", "2026-02-20"),
        ("evaluation_job", "2026-02-07", "2026-02-18"),
    ]


def test_telemetry_and_failure_corrections_reflow_through_their_windows_only(report):
    delivery = report["deliveries"][1]
    assert jobs(delivery["runs"]) == [
        ("raw_job", "2026-02-06", "2026-02-06"),
        ("raw_job", "2026-02-16", "2026-02-16"),
        ("features_job", "2026-02-06", "2026-02-13"),  # D..D+7: the 7-day feature lookback
        ("labels_job", "2026-02-14", "2026-02-16"),  # D-2..D: the 48 h look-ahead
        ("scores_job", "2026-02-06", "2026-02-13"),
        # scores 02-06..02-13 reach evaluations 02-06..02-16 (lookback D-3..D), of which 02-07 is
        # the first with three scored days before it; labels 02-14..02-16
        ("evaluation_job", "2026-02-07", "2026-02-16"),
    ]


@pytest.mark.parametrize(("index", "day"), [(0, "2026-01-20"), (1, "2026-02-06")])
def test_exactly_the_planned_partitions_were_rewritten_none_before_d(report, index, day):
    """Compared by the (file, mtime) pairs of every ``dt=`` folder of every daily table."""
    delivery = report["deliveries"][index]
    assert delivery["rewritten"] == delivery["expected"]
    rewritten = [d for days in delivery["rewritten"].values() for d in days]
    assert rewritten and min(rewritten) == day
