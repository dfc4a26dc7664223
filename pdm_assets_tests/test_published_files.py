"""The whole platform on the five published Azure PdM files, with no code change.

The real files cannot be downloaded here, so the simulator writes a fleet in their exact layout
(``PdM_*.csv``, the Kaggle copy's ``1/1/2015 6:00:00 AM`` datetimes, maintenance starting a year
before the telemetry). The demo then imports them and runs every asset through Dagster.
"""

from datetime import date, timedelta

import pandas as pd
import pytest

from pdm_assets.demo import run_demo, use_published_files
from pdm_assets.landing import export_published
from pdm_assets.simulator import FleetSimulator
from pdm_assets.transforms.model import ModelParams
from pdm_assets_tests.fresh_modules import fresh_asset_modules

START = date(2015, 1, 1)
DAYS = 40  # the model month is February: scores from 02-04, one evaluated day (02-07)
MACHINES = 20


@pytest.fixture
def fresh_assets():
    """The demo imports the asset modules after use_published_files (see fresh_modules.py)."""
    with fresh_asset_modules():
        yield


def test_demo_runs_on_the_published_files(spark, tmp_path, monkeypatch, fresh_assets):
    for name, value in {
        "PDM_DATA_DIR": str(tmp_path / "data"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "PDM_SOURCE": "simulator",  # use_published_files switches it; monkeypatch restores it
        "PDM_START_DATE": "2014-06-01",  # wrong on purpose: the files' first day must win
        "PDM_MACHINES": "3",  # ignored: the fleet is whatever PdM_machines.csv lists
        "PDM_END_DATE": "",  # set by use_published_files to the files' last day
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    sim = FleetSimulator(n_machines=MACHINES, seed=11)
    paths = export_published(
        tmp_path / "published", sim, START, START + timedelta(days=DAYS), us_dates=True
    )
    assert [p.name for p in paths.values()] == [
        "PdM_telemetry.csv",
        "PdM_errors.csv",
        "PdM_maint.csv",
        "PdM_failures.csv",
        "PdM_machines.csv",
    ]
    assert paths["telemetry"].read_text().splitlines()[1].startswith("1/1/2015 12:00:00 AM,1,")

    summary = use_published_files(tmp_path / "published")
    assert (summary["first_day"], summary["days"]) == ("2015-01-01", DAYS)
    # A fixed period: the partitions end with the files, not at yesterday.
    from pdm_assets.partitions import daily_partitions

    assert daily_partitions().get_last_partition_key() == summary["last_day"]
    lines: list[str] = []
    plan = run_demo(days=summary["days"], trees=5, echo=lines.append, heartbeat_seconds=2)

    store = _store()
    # Raw values survive the published format exactly (floats are written with repr).
    day = date(2015, 2, 5)
    raw = store.read("raw_telemetry", [day.isoformat()]).toPandas()
    expected = sim.telemetry(day, day + timedelta(days=1))
    key = ["datetime", "machineID"]
    pd.testing.assert_frame_equal(
        raw[expected.columns].sort_values(key).reset_index(drop=True),
        expected.sort_values(key).reset_index(drop=True),
        check_dtype=False,
    )
    # Every component's last replacement comes from the 2014 part of PdM_maint.csv.
    machines = store.read("machines").toPandas().set_index("machineID").sort_index()
    history = sim.maintenance(sim.history_start, START)
    last_replaced = history.groupby(["machineID", "comp"])["datetime"].max().unstack()
    assert len(machines) == MACHINES
    for comp in ("comp1", "comp2", "comp3", "comp4"):
        got = pd.to_datetime(machines[f"{comp}_last_replacement"]).dt.tz_localize(None)
        assert (got.values == last_replaced[comp].reindex(machines.index).values).all(), comp

    # Scores of every day after the model month's start use the version the model recorded.
    (month,) = plan.model_months
    record = store.read_record("failure_model", month.isoformat())
    score_days = [
        (plan.score_first + timedelta(days=i)).isoformat()
        for i in range((plan.last - plan.score_first).days + 1)
    ]
    assert store.stored_partitions("failure_scores") == score_days
    scores = store.read("failure_scores", score_days).toPandas()
    assert set(scores["model_version"].astype(str)) == {str(record["version"])}
    assert scores["machineID"].nunique() == MACHINES
    assert store.stored_partitions("score_evaluation")[-1] == plan.label_last.isoformat()

    text = "\n".join(lines)
    assert "Fleet from the landing zone" in text
    assert f"Maintenance alerts for {plan.last}" in text
    assert "PDM_SOURCE=landing PDM_LANDING_DIR" not in text  # only settings that were set
    assert "PDM_SOURCE=landing PDM_START_DATE=2015-01-01" in text

    # Each stage says what starts (job and partitions), and long ones show progress meanwhile.
    assert f"> raw: raw_job, {DAYS} daily partitions, {plan.first} .. {plan.last}" in text
    assert any(line.startswith("    ... ") and " s, " in line for line in lines), text
    assert "does not point to the current DFS" not in text
    matrix = text.split("hold-out confusion matrix")[1].splitlines()[1:6]
    assert "|" not in "".join(matrix) and matrix[0].split()[-1] == "comp4", matrix
    # The runs list names each run's job, and a range run carries its range.
    import dagster as dg

    from pdm_assets.partitions import RANGE_END_TAG, RANGE_START_TAG

    with dg.DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        runs = {run.job_name: run for run in instance.get_runs()}
        model_meta = (
            instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey("failure_model")), limit=1
            )
            .records[0]
            .asset_materialization.metadata
        )
    # The public sample's size is a small fleet: a 14-day hold-out holds a handful of failures,
    # so the levels come from out-of-fold scores of the window.
    assert model_meta["holdout_failures"].value >= 5
    assert model_meta["threshold_folds"].value == ModelParams.threshold_folds == 8
    # Deployed: the fold models' trees as one forest (the demo trains 5 trees per fit).
    assert ModelParams.deploy_fold_forest and model_meta["deployed_trees"].value == 8 * 5
    assert set(runs) == {
        "machines_job",
        "raw_job",
        "features_job",
        "labels_job",
        "model_job",
        "scores_job",
        "evaluation_job",
    }
    assert runs["raw_job"].tags[RANGE_START_TAG] == plan.first.isoformat()
    assert runs["raw_job"].tags[RANGE_END_TAG] == plan.last.isoformat()


def _store():
    from pdm_assets.resources.deployments import build_resources

    return build_resources()["tables"].store()
