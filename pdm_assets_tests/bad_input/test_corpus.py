"""Every bad-input case against the CSV landing zone: the policy, the message, and that what was
stored before (earlier raw days, their features, the inventory) is untouched.

One landing zone and one Dagster instance for the module: days 1-3 are landed and stored, the
features of days 1-2 computed, then each case breaks day 3 (or the inventory), is read through
the raw source (most cases) or through ``dg.materialize`` (a few), and the files are restored.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from pdm_assets.landing import day_path, land_simulated_days, machines_path
from pdm_assets.resources.sources import RawDataSource
from pdm_assets.simulator import FleetSimulator
from pdm_assets.transforms.validation import ValidationError
from pdm_assets_tests.assets.conftest import Platform
from pdm_assets_tests.bad_input.cases import CASES, DAY, MACHINES, TELEMETRY_ROWS, Case, set_field

RAW = ["raw_telemetry", "raw_errors", "raw_maintenance", "raw_failures"]
FEATURES = ["component_replacements", "machine_features"]
FIRST, BROKEN = "2015-01-01", DAY.isoformat()
EARLIER = ["2015-01-01", "2015-01-02"]
DAILY = ["telemetry", "errors", "maintenance", "failures"]


@dataclass
class Zone:
    landing: Path
    pristine: Path
    platform: Platform

    def restore(self) -> None:
        for table in DAILY:
            src = day_path(self.pristine, table, DAY)
            shutil.copyfile(src, day_path(self.landing, table, DAY))
        shutil.copyfile(machines_path(self.pristine), machines_path(self.landing))

    def clean_rows(self, table: str) -> int:
        return len(day_path(self.pristine, table, DAY).read_text().splitlines()) - 1


def stamps(root: str, tables: dict[str, list[str | None]]) -> dict[str, tuple[int, int]]:
    """(size, mtime) of every stored file of the given partitions: a rewrite changes them."""
    out = {}
    for table, keys in tables.items():
        for key in keys:
            folder = Path(root, table, "data" if key is None else f"dt={key}")
            assert folder.is_dir(), folder
            for path in sorted(folder.rglob("*")):
                stat = path.stat()
                out[str(path)] = (stat.st_size, stat.st_mtime_ns)
    return out


EARLIER_TABLES = {
    **{t: EARLIER for t in RAW},
    "machine_features": EARLIER,
    "component_replacements": EARLIER,
}


@pytest.fixture(scope="module")
def zone(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_input")
    landing, pristine = root / "landing", root / "pristine"
    sim = FleetSimulator(n_machines=MACHINES, seed=42)
    land_simulated_days(landing, sim, date(2015, 1, 1), date(2015, 1, 4), history=False)
    shutil.copytree(landing, pristine)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PDM_DATA_DIR", str(root / "data"))
        mp.setenv("PDM_MACHINES", str(MACHINES))
        mp.setenv("PDM_SOURCE", "landing")
        mp.setenv("PDM_LANDING_DIR", str(landing))
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        with dg.instance_for_test() as instance:
            platform = Platform(instance)
            for selection, first, last in [
                (["machines"], None, None),
                (RAW, FIRST, BROKEN),
                (FEATURES, FIRST, EARLIER[-1]),
            ]:
                started = time.monotonic()
                assert platform.run(selection, first, last, checks=False).success
                print(f"setup {selection}: {time.monotonic() - started:.1f} s")
            zone = Zone(landing, pristine, platform)
            before = stamps(platform.store.root, {**EARLIER_TABLES, "machines": [None]})
            yield zone
            # After every case: nothing stored before day 3 was rewritten.
            assert stamps(platform.store.root, {**EARLIER_TABLES, "machines": [None]}) == before


@pytest.fixture
def broken(zone):
    yield zone
    zone.restore()


def _read(case: Case, zone: Zone, spark):
    source = RawDataSource(kind="landing", landing_dir=str(zone.landing))
    if case.table == "machines":
        return source.read_machines(spark), None
    return source.read_partition(spark, case.table, [DAY])


def test_the_corpus_has_every_required_kind():
    assert len(CASES) >= 25
    assert len({c.name for c in CASES}) == len(CASES)
    assert {c.table for c in CASES} == {*DAILY, "machines"}
    assert {c.policy for c in CASES} == {"reject", "quarantine", "accept"}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_case(case: Case, broken: Zone, spark, monkeypatch):
    case.break_files(broken.landing)
    if case.while_reading is not None:  # the writer appends after the reader has started
        real = RawDataSource._read_csv

        def read_then_grow(*args, **kwargs):
            frame = real(*args, **kwargs)
            case.while_reading(broken.landing)
            return frame

        monkeypatch.setattr(RawDataSource, "_read_csv", staticmethod(read_then_grow))

    if case.policy == "reject":
        with pytest.raises(ValidationError) as err:
            _read(case, broken, spark)
        message = str(err.value)
        assert str(case.file(broken.landing)) in message, message
        if case.line is not None:
            assert f"line {case.line}" in message, message
        if case.column is not None:
            assert f"column '{case.column}'" in message, message
        for fragment in case.message:
            assert fragment in message, message
        return

    good, rejected = _read(case, broken, spark)
    clean = TELEMETRY_ROWS if case.table == "telemetry" else broken.clean_rows(case.table)
    want = case.rows if case.rows is not None else clean + case.extra_rows
    assert good.count() == want
    if case.policy == "accept":
        assert rejected is None
        if case.rows == TELEMETRY_ROWS:  # same values as the clean file, exactly
            stored = broken.platform.store.read(f"raw_{case.table}", [BROKEN])
            assert sorted(good.collect()) == sorted(stored.drop("dt").collect())
        return
    rows = rejected.collect()
    assert len(rows) == case.rejected
    for row in rows:
        assert row["table"] == case.table and row["day"] == DAY
        assert row["source"] == str(case.file(broken.landing))
        assert all(f in row["reason"] for f in case.message), row["reason"]
        assert row["record"].startswith('{"datetime":"2015-01-03')
        if case.line is not None:
            assert row["line"] == case.line
        if case.column is not None:
            assert row["column"] == case.column
            assert (row["value"] is None) == ("missing value" in case.message)


def _failure_message(result) -> str:
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    return failure.step_failure_data.error.to_string()


def test_rejected_day_fails_its_run_and_keeps_the_stored_version(broken):
    platform = broken.platform
    stored = {"raw_telemetry": [BROKEN]}
    before = stamps(platform.store.root, stored)
    set_field("telemetry", 5, "volt", "abc")(broken.landing)
    result = platform.run(["raw_telemetry"], BROKEN, BROKEN, raise_on_error=False)
    assert not result.success
    message = _failure_message(result)
    assert f"telemetry/{BROKEN}.csv" in message
    assert "line 5, column 'volt': cannot parse value as double" in message
    assert stamps(platform.store.root, stored) == before
    assert platform.store.read("raw_telemetry", [BROKEN]).count() == TELEMETRY_ROWS


def test_quarantined_rows_are_stored_with_their_reason_and_cleared_by_a_clean_rerun(broken):
    platform = broken.platform
    set_field("telemetry", 12, "volt", "9999")(broken.landing)
    result = platform.run(["raw_telemetry"], BROKEN, BROKEN)
    assert result.success
    (mat,) = result.asset_materializations_for_node("raw_telemetry")
    assert mat.metadata["rejected_rows"].value == 1
    assert mat.metadata["dagster/row_count"].value == TELEMETRY_ROWS - 1
    rejected = platform.store.read("rejected_rows/telemetry", [BROKEN]).collect()
    assert [(r["line"], r["column"], r["value"]) for r in rejected] == [(12, "volt", "9999.0")]
    assert "sensor reading out of range" in rejected[0]["reason"]
    assert platform.store.read("raw_telemetry", [BROKEN]).count() == TELEMETRY_ROWS - 1

    broken.restore()  # the corrected file arrives: all rows stored, nothing set aside any more
    assert platform.run(["raw_telemetry"], BROKEN, BROKEN).success
    assert platform.store.read("rejected_rows/telemetry", [BROKEN]).count() == 0
    assert platform.store.read("raw_telemetry", [BROKEN]).count() == TELEMETRY_ROWS


def test_bad_inventory_fails_and_keeps_the_stored_machines(broken):
    platform = broken.platform
    before = stamps(platform.store.root, {"machines": [None]})
    set_field("machines", 3, "age", "")(broken.landing)
    result = platform.run(["machines"], raise_on_error=False)
    assert not result.success
    message = _failure_message(result)
    assert "machines.csv" in message and "line 3, column 'age': missing value" in message
    assert stamps(platform.store.root, {"machines": [None]}) == before
    assert os.path.isdir(platform.store.partition_path("machines", None))
