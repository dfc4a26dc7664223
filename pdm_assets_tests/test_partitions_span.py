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
