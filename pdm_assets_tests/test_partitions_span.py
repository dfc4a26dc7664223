"""How far the partitions run: to yesterday for a live fleet, to PDM_END_DATE for fixed data."""

from datetime import UTC, date, datetime, timedelta

import pytest

from pdm_assets.partitions import daily_partitions, label_partitions, monthly_partitions


@pytest.fixture
def fixed_2015(monkeypatch):
    monkeypatch.setenv("PDM_START_DATE", "2015-01-01")
    monkeypatch.setenv("PDM_END_DATE", "2015-12-31")
    monkeypatch.setenv("PDM_HORIZON_HOURS", "48")


def test_fixed_data_ends_its_partitions_with_the_data(fixed_2015):
    daily = daily_partitions()
    assert daily.get_last_partition_key() == "2015-12-31"
    assert len(daily.get_partition_keys()) == 365
    # Labels still end one horizon early, models with the month of the last day.
    assert label_partitions().get_last_partition_key() == "2015-12-29"
    assert monthly_partitions().get_partition_keys()[-1] == "2015-12-01"
    assert len(monthly_partitions().get_partition_keys()) == 12


def test_a_live_fleet_runs_to_yesterday(monkeypatch):
    monkeypatch.setenv("PDM_START_DATE", "2015-01-01")
    monkeypatch.delenv("PDM_END_DATE", raising=False)
    monkeypatch.setenv("PDM_HORIZON_HOURS", "48")
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    assert daily_partitions().get_last_partition_key() == yesterday.isoformat()
    assert (
        label_partitions().get_last_partition_key() == (yesterday - timedelta(days=2)).isoformat()
    )
    this_month = datetime.now(UTC).date().replace(day=1)
    assert monthly_partitions().get_last_partition_key() == this_month.isoformat()


def test_end_date_is_read_when_asked(monkeypatch):
    from pdm_assets.settings import load_settings

    monkeypatch.setenv("PDM_END_DATE", "2015-06-30")
    assert load_settings().end == date(2015, 6, 30)
    monkeypatch.setenv("PDM_END_DATE", "")
    assert load_settings().end is None


@pytest.fixture
def simulated_defaults(monkeypatch, tmp_path):
    for name in ("PDM_START_DATE", "PDM_END_DATE", "PDM_HISTORY_START", "PDM_SOURCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PDM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PDM_HORIZON_HOURS", "48")
    return tmp_path


def test_the_simulated_demo_is_a_live_fleet_ending_yesterday(simulated_defaults):
    from pdm_assets.demo import DemoPlan, use_live_fleet

    settings = use_live_fleet(days=150)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    keys = daily_partitions().get_partition_keys()
    assert (keys[0], keys[-1], len(keys)) == (settings.start_date, yesterday.isoformat(), 150)
    assert DemoPlan.for_days(settings.start, 150, 48).last == yesterday
    # A later process (dagster dev, the CLI) reads the saved window: same partitions, no settings.
    assert (simulated_defaults / "fleet_window.json").exists()
    assert daily_partitions().get_partition_keys() == keys
    assert settings.history_start_date == settings.start - timedelta(days=365)


def test_explicit_dates_and_other_sources_keep_their_window(simulated_defaults, monkeypatch):
    from pdm_assets.demo import use_live_fleet

    monkeypatch.setenv("PDM_START_DATE", "2015-01-01")
    assert use_live_fleet(days=30).start_date == "2015-01-01"
    monkeypatch.delenv("PDM_START_DATE")
    monkeypatch.setenv("PDM_SOURCE", "landing")
    assert use_live_fleet(days=30).start_date == "2015-01-01"
    assert not (simulated_defaults / "fleet_window.json").exists()


def test_a_damaged_window_file_names_itself(simulated_defaults):
    from pdm_assets.settings import load_settings

    (simulated_defaults / "fleet_window.json").write_text('{"start_date": "July"}')
    with pytest.raises(ValueError, match=r"fleet_window.json: start_date must be a YYYY-MM-DD"):
        load_settings()


_LIVE_DEFINITIONS = """
import json, sys
from pdm_assets.demo import _check_partitions_not_frozen, use_live_fleet
settings = use_live_fleet(days=40)
_check_partitions_not_frozen()
from pdm_assets.definitions import build_definitions
from pdm_assets.partitions import daily_partitions
defs = build_definitions()
daily = daily_partitions()
graph = defs.resolve_asset_graph()
ends = {}
for key in graph.get_all_asset_keys():
    pdef = graph.get(key).partitions_def
    if isinstance(pdef, type(daily)) and pdef.end_offset == 0 and pdef.end is None:
        ends[key.to_user_string()] = pdef == daily
print(json.dumps({"start": settings.start_date, "same": ends}))
"""


def test_a_live_window_reaches_every_daily_asset_built_after_it(simulated_defaults):
    """make demo once failed: assets imported before the window kept the old partitions."""
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _LIVE_DEFINITIONS], capture_output=True, text=True, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    assert result["start"] == (yesterday - timedelta(days=39)).isoformat()
    assert {"raw_telemetry", "machine_features", "failure_scores", "maintenance_alerts"} <= set(
        result["same"]
    )
    assert all(result["same"].values()), result["same"]


def test_the_demo_refuses_asset_modules_frozen_under_another_window(simulated_defaults):
    import pdm_assets.assets.daily  # noqa: F401  (frozen under this process's first settings)
    from pdm_assets.demo import _check_partitions_not_frozen, use_live_fleet

    use_live_fleet(days=40)
    with pytest.raises(RuntimeError, match="imported before the fleet window was set"):
        _check_partitions_not_frozen()


@pytest.mark.parametrize("day", [1, 4, 8, 9, 20])
def test_the_demo_always_evaluates_some_days_whatever_the_last_day(day):
    from pdm_assets.demo import DemoPlan

    last = date(2026, 12, day)
    start = last - timedelta(days=149)
    plan = DemoPlan.for_days(start, 150, 48, models=1)
    # Scores start 3 days into the first model's month; evaluation needs 3 more days of scores
    # and stops at the last labelled day (2 days before the last).
    assert plan.label_last == last - timedelta(days=2)
    assert plan.evaluation_first <= plan.label_last
    # Every scored day's model is trained: the month of day - 3 days.
    scored_months = {
        (plan.score_first + timedelta(days=i) - timedelta(days=3)).replace(day=1)
        for i in range((last - plan.score_first).days + 1)
    }
    assert scored_months == set(plan.model_months)
    # The newest month alone leaves a day to evaluate from the 9th (scores from its 4th,
    # evaluation from its 7th, labels up to the last day - 2); before that, the month before too.
    newest = (last - timedelta(days=3)).replace(day=1)
    previous = (newest - timedelta(days=1)).replace(day=1)
    assert plan.model_months == ([previous, newest] if 4 <= day < 9 else [newest])
