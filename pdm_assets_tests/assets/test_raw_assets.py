"""Raw assets through real Dagster: simulator and CSV sources, validation, untouched history."""

from datetime import date

import pandas as pd
import pytest

from pdm_assets.landing import day_path, land_simulated_days
from pdm_assets.simulator import FleetSimulator

RAW = ["raw_telemetry", "raw_errors", "raw_maintenance", "raw_failures"]
FIRST, LAST = "2015-01-01", "2015-01-03"


def _stored(platform, table, days):
    df = platform.store.read(table, days).toPandas()
    return df.sort_values(list(df.columns)).reset_index(drop=True)


def _expected(sim, table, start, end):
    df = getattr(sim, table)(start, end)
    return df.sort_values(list(df.columns)).reset_index(drop=True)


def _assert_tables_equal(got: pd.DataFrame, want: pd.DataFrame):
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want)
    for col in want.columns:
        if pd.api.types.is_float_dtype(want[col]):
            assert (got[col] - want[col]).abs().max() <= 1e-9, col
        else:
            assert list(got[col].astype(str)) == list(want[col].astype(str)), col


def _days():
    return [FIRST, "2015-01-02", LAST]


def test_single_run_backfill_stores_each_day_with_its_own_row_count(platform):
    result = platform.run(["machines"])
    assert result.success
    result = platform.run(RAW, FIRST, LAST)
    assert result.success
    # One run covered the whole range.
    assert len(platform.instance.get_run_records()) == 2
    sim = FleetSimulator(n_machines=6, seed=42)
    for table in ["telemetry", "errors", "maintenance", "failures"]:
        want = _expected(sim, table, date(2015, 1, 1), date(2015, 1, 4))
        _assert_tables_equal(_stored(platform, f"raw_{table}", _days()), want)
    counts = {
        m.partition: m.metadata["dagster/row_count"].value
        for m in result.asset_materializations_for_node("raw_telemetry")
    }
    assert counts == {d: 6 * 24 for d in _days()}
    error_counts = {
        m.partition: m.metadata["dagster/row_count"].value
        for m in result.asset_materializations_for_node("raw_errors")
    }
    errors = sim.errors(date(2015, 1, 1), date(2015, 1, 4))
    by_day = errors["datetime"].dt.strftime("%Y-%m-%d").value_counts().to_dict()
    assert error_counts == {d: by_day.get(d, 0) for d in _days()}


def test_machines_keep_replacements_older_than_the_partitions(platform):
    assert platform.run(["machines"]).success
    machines = platform.store.read("machines").toPandas().set_index("machineID").sort_index()
    sim = FleetSimulator(n_machines=6, seed=42)
    history = sim.maintenance(sim.history_start, date(2015, 1, 1))
    assert len(history) > 0
    last = history.groupby(["machineID", "comp"])["datetime"].max()
    for (machine, comp), when in last.items():
        assert machines.loc[machine, f"{comp}_last_replacement"] == when
    assert list(machines["model"]) == list(sim.machines()["model"])


def test_csv_landing_zone_round_trip_equals_the_simulator(platform, tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    sim = FleetSimulator(n_machines=6, seed=42)
    land_simulated_days(landing, sim, date(2015, 1, 1), date(2015, 1, 4))
    monkeypatch.setenv("PDM_SOURCE", "landing")
    monkeypatch.setenv("PDM_LANDING_DIR", str(landing))
    platform.resources = type(platform)(platform.instance).resources
    assert platform.run(["machines"]).success
    assert platform.run(RAW, FIRST, LAST).success
    for table in ["telemetry", "errors", "maintenance", "failures"]:
        want = _expected(sim, table, date(2015, 1, 1), date(2015, 1, 4))
        _assert_tables_equal(_stored(platform, f"raw_{table}", _days()), want)
    machines = platform.store.read("machines").toPandas().sort_values("machineID")
    assert list(machines["age"]) == list(sim.machines()["age"])
    assert machines["comp1_last_replacement"].notna().any()


def test_bad_file_fails_its_partition_and_leaves_stored_days_identical(
    platform, tmp_path, monkeypatch
):
    landing = tmp_path / "landing"
    sim = FleetSimulator(n_machines=6, seed=42)
    land_simulated_days(landing, sim, date(2015, 1, 1), date(2015, 1, 4))
    monkeypatch.setenv("PDM_SOURCE", "landing")
    monkeypatch.setenv("PDM_LANDING_DIR", str(landing))
    platform.resources = type(platform)(platform.instance).resources
    assert platform.run(["machines"]).success
    assert platform.run(["raw_telemetry"], FIRST, LAST).success
    before = _stored(platform, "raw_telemetry", _days())

    # A corrected delivery of day 2 arrives broken: a sensor reading that is not a number.
    path = day_path(landing, "telemetry", date(2015, 1, 2))
    lines = path.read_text().splitlines()
    fields = lines[5].split(",")
    fields[2] = "not-a-number"
    lines[5] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")

    result = platform.run(["raw_telemetry"], "2015-01-02", "2015-01-02", raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.error.to_string()
    assert "2015-01-02.csv" in message
    assert "volt" in message and "line 6" in message
    assert _stored(platform, "raw_telemetry", _days()).equals(before)


@pytest.mark.parametrize("missing_table", ["telemetry", "failures"])
def test_missing_day_file_is_named(platform, tmp_path, monkeypatch, missing_table):
    landing = tmp_path / "landing"
    land_simulated_days(landing, FleetSimulator(n_machines=6), date(2015, 1, 1), date(2015, 1, 3))
    day_path(landing, missing_table, date(2015, 1, 2)).unlink()
    monkeypatch.setenv("PDM_SOURCE", "landing")
    monkeypatch.setenv("PDM_LANDING_DIR", str(landing))
    platform.resources = type(platform)(platform.instance).resources
    result = platform.run([f"raw_{missing_table}"], FIRST, "2015-01-02", raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "2015-01-02" in failure.step_failure_data.error.to_string()
