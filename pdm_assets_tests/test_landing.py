"""The CSV landing zone end to end: writers, the published-data import, the reader, the CLI."""

from __future__ import annotations

import filecmp
import os
import shutil
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from pdm_assets import schemas
from pdm_assets.cli import main
from pdm_assets.landing import (
    day_files,
    day_path,
    hour_path,
    import_azure,
    land_simulated_days,
    land_simulated_hours,
    landed_days,
    landed_hours,
    write_day_files,
    write_hour_files,
)
from pdm_assets.resources import sources
from pdm_assets.resources.sources import RawDataSource, source_from_settings
from pdm_assets.settings import load_settings
from pdm_assets.simulator import FleetSimulator
from pdm_assets.transforms.validation import ValidationError

START = date(2015, 1, 1)
N_DAYS = 3
DAYS = [START + timedelta(days=i) for i in range(N_DAYS)]
SIM = FleetSimulator(n_machines=5, seed=42)


@pytest.fixture(scope="module")
def landed(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("landing")
    land_simulated_days(root, SIM, START, START + timedelta(days=N_DAYS))
    return root


@pytest.fixture
def landed_copy(landed, tmp_path) -> Path:
    """A private copy for tests that break files."""
    return Path(shutil.copytree(landed, tmp_path / "landing"))


def sorted_frame(df: pd.DataFrame, table: str) -> pd.DataFrame:
    cols = schemas.ALL_TABLES[table].column_names
    keys = [c for c in cols if c in ("datetime", "machineID", "errorID", "comp", "failure")]
    return df[cols].sort_values(keys).reset_index(drop=True)


def assert_same_table(got: pd.DataFrame, expected: pd.DataFrame, table: str) -> None:
    got, expected = sorted_frame(got, table), sorted_frame(expected, table)
    assert len(got) == len(expected)
    for col in got.columns:
        if pd.api.types.is_float_dtype(expected[col]):
            assert (got[col] - expected[col]).abs().max() <= 1e-9 if len(got) else True
        elif col == "datetime":
            assert list(got[col]) == list(pd.to_datetime(expected[col]))
        else:
            assert got[col].astype(str).tolist() == expected[col].astype(str).tolist(), col


def test_simulator_landing_round_trip_is_exact(spark, landed):
    src = RawDataSource(kind="landing", landing_dir=str(landed))
    end = START + timedelta(days=N_DAYS)
    for table in schemas.DAILY_TABLES:
        expected = getattr(SIM, table)(START, end)
        got = src.read_days(spark, table, DAYS)
        assert got.columns == schemas.DAILY_TABLES[table].column_names
        assert_same_table(got.toPandas(), expected, table)
        assert src.available_days(table)[-N_DAYS:] == DAYS
    # The chosen fleet and days have events in every table, so the comparison is not vacuous.
    assert all(len(getattr(SIM, t)(START, end)) > 0 for t in schemas.DAILY_TABLES)

    machines = src.read_machines(spark)
    assert dict(machines.dtypes) == {"machineID": "int", "model": "string", "age": "int"}
    assert_same_table(machines.toPandas(), SIM.machines(), "machines")

    history = src.read_maintenance_before(spark, START).toPandas()
    expected_history = SIM.maintenance(SIM.history_start, START)
    assert len(expected_history) > 100
    assert_same_table(history, expected_history, "maintenance")


def test_simulator_source_reads_the_same_days(spark):
    src = RawDataSource(kind="simulator", n_machines=5, seed=42)
    got = src.read_days(spark, "telemetry", DAYS[1:])
    assert_same_table(
        got.toPandas(), SIM.telemetry(DAYS[1], DAYS[-1] + timedelta(days=1)), "telemetry"
    )
    assert src.available_days("telemetry") == []


def test_simulator_source_generates_long_ranges_a_chunk_at_a_time(spark, monkeypatch):
    """One-day chunks over 5 days with a gap: the same rows as generating each run whole."""
    monkeypatch.setattr(sources, "SIMULATED_CHUNK_ROWS", 24 * 5)
    src = RawDataSource(kind="simulator", n_machines=5, seed=42)
    days = [START + timedelta(days=i) for i in (0, 1, 2, 4, 5)]
    got = src.read_days(spark, "telemetry", days)
    expected = pd.concat(
        [
            SIM.telemetry(START, START + timedelta(days=3)),
            SIM.telemetry(days[3], days[4] + timedelta(days=1)),
        ],
        ignore_index=True,
    )
    assert_same_table(got.toPandas(), expected, "telemetry")


def test_simulated_chunks_are_even_and_never_a_small_remainder():
    year = sources._chunked([(date(2015, 1, 1), date(2016, 1, 1))], 62)
    assert [(b - a).days for a, b in year] == [73] * 5
    assert year[0][0] == date(2015, 1, 1) and year[-1][1] == date(2016, 1, 1)
    assert all(a[1] == b[0] for a, b in zip(year, year[1:], strict=False))
    short = [(date(2015, 1, 1), date(2015, 1, 4))]
    assert sources._chunked(short, 2) == short


def published_files(folder: Path, *, azure_names: bool, us_dates: bool) -> None:
    """A tiny copy of the published data set in one of its two naming and datetime styles."""
    folder.mkdir(parents=True)

    def stamp(text: str) -> str:
        if not us_dates:
            return text
        ts = pd.Timestamp(text)
        return f"{ts.month}/{ts.day}/{ts.year} {ts.strftime('%I').lstrip('0')}:00:00 {ts:%p}"

    tel = ["datetime,machineID,volt,rotate,pressure,vibration"]
    for h in range(25):  # 2015-01-01 06:00 .. 2015-01-02 06:00, like the published range
        when = (pd.Timestamp("2015-01-01 06:00:00") + pd.Timedelta(hours=h)).isoformat(sep=" ")
        for m in (1, 2):
            tel.append(f"{stamp(when)},{m},176.217853015625,418.504078221616,113.07,45.0876857")
    files = {
        "telemetry": tel,
        "errors": ["datetime,machineID,errorID", f"{stamp('2015-01-01 18:00:00')},2,error1"],
        "maintenance": [
            "datetime,machineID,comp",
            f"{stamp('2014-06-01 06:00:00')},1,comp2",
            f"{stamp('2014-07-16 06:00:00')},2,comp4",
            f"{stamp('2015-01-02 06:00:00')},1,comp1",
        ],
        "failures": ["datetime,machineID,failure", f"{stamp('2015-01-02 06:00:00')},1,comp1"],
        "machines": ["machineID,model,age", "1,model3,18", "2,model4,7"],
    }
    plain = {"maintenance": "maintenance.csv"}
    azure = {"maintenance": "PdM_maint.csv"}
    for table, lines in files.items():
        name = (
            (azure.get(table, f"PdM_{table}.csv"))
            if azure_names
            else plain.get(table, f"{table}.csv")
        )
        (folder / name).write_text("\n".join(lines) + "\n")


def test_import_azure_accepts_both_published_styles(spark, tmp_path):
    published_files(tmp_path / "kaggle", azure_names=True, us_dates=True)
    published_files(tmp_path / "plain", azure_names=False, us_dates=False)
    a = import_azure(tmp_path / "kaggle", tmp_path / "landing_a")
    b = import_azure(tmp_path / "plain", tmp_path / "landing_b")
    assert a["first_day"] == "2015-01-01" and a["last_day"] == "2015-01-02" and a["days"] == 2
    assert (
        a["rows"]
        == b["rows"]
        == {
            "telemetry": 50,
            "errors": 1,
            "maintenance": 3,
            "failures": 1,
            "machines": 2,
        }
    )
    assert a["days_outside_range"]["maintenance"] == 2

    files_a = sorted(
        str(p.relative_to(tmp_path / "landing_a")) for p in (tmp_path / "landing_a").rglob("*.csv")
    )
    files_b = sorted(
        str(p.relative_to(tmp_path / "landing_b")) for p in (tmp_path / "landing_b").rglob("*.csv")
    )
    assert files_a == files_b
    assert "maintenance/2014-06-01.csv" in files_a and "errors/2015-01-02.csv" in files_a
    for rel in files_a:
        assert filecmp.cmp(
            tmp_path / "landing_a" / rel, tmp_path / "landing_b" / rel, shallow=False
        ), rel

    # Header-only file for a day without events; datetimes normalized.
    assert (
        tmp_path / "landing_a/errors/2015-01-02.csv"
    ).read_text() == "datetime,machineID,errorID\n"
    first_lines = (tmp_path / "landing_a/telemetry/2015-01-01.csv").read_text().splitlines()[:2]
    assert first_lines[1].startswith("2015-01-01 06:00:00,1,176.217853015625,")

    # The imported zone passes validation and keeps every row.
    src = RawDataSource(kind="landing", landing_dir=str(tmp_path / "landing_a"))
    assert src.read_days(spark, "telemetry", [START, START + timedelta(days=1)]).count() == 50
    history = src.read_maintenance_before(spark, START).toPandas()
    assert sorted(history["machineID"]) == [1, 2]


def test_import_azure_missing_file_is_named(tmp_path):
    published_files(tmp_path / "src", azure_names=True, us_dates=False)
    (tmp_path / "src/PdM_failures.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"no failures file; expected one of PdM_failures"):
        import_azure(tmp_path / "src", tmp_path / "landing")


def test_import_azure_bad_datetime_names_the_line(tmp_path):
    published_files(tmp_path / "src", azure_names=False, us_dates=False)
    path = tmp_path / "src/errors.csv"
    path.write_text(path.read_text() + "2015-02-30 06:00:00,1,error2\n")
    with pytest.raises(ValueError, match=r"errors.csv: line 3: cannot parse datetime '2015-02-30"):
        import_azure(tmp_path / "src", tmp_path / "landing")


def test_tmp_files_are_ignored(spark, landed_copy):
    next_day = DAYS[-1] + timedelta(days=1)
    tmp = landed_copy / "telemetry" / f"{next_day}.csv.tmp"
    tmp.write_text("half a file,")
    src = RawDataSource(kind="landing", landing_dir=str(landed_copy))
    assert src.available_days("telemetry")[-1] == DAYS[-1]
    assert landed_days(landed_copy, "telemetry") == src.available_days("telemetry")
    # A .tmp beside the day files does not leak into a read.
    assert src.read_days(spark, "telemetry", [DAYS[-1]]).count() == 24 * SIM.n_machines
    with pytest.raises(ValidationError, match=rf"missing file .*telemetry/{next_day}\.csv"):
        src.read_days(spark, "telemetry", [next_day])


def test_missing_day_file_is_a_clear_error(landed_copy, spark):
    gone = day_path(landed_copy, "failures", DAYS[1])
    gone.unlink()
    src = RawDataSource(kind="landing", landing_dir=str(landed_copy))
    with pytest.raises(ValidationError) as err:
        src.read_days(spark, "failures", DAYS)
    assert f"missing file {gone}" in str(err.value)
    assert f"partition {DAYS[1]}" in str(err.value)


def test_empty_telemetry_day_is_an_error(landed_copy, spark):
    path = day_path(landed_copy, "telemetry", DAYS[1])
    path.write_text(path.read_text().splitlines()[0] + "\n")
    src = RawDataSource(kind="landing", landing_dir=str(landed_copy))
    with pytest.raises(ValidationError, match=rf"partition {DAYS[1]}: no rows for 1 day"):
        src.read_days(spark, "telemetry", DAYS)


def test_bad_value_names_file_and_line(landed_copy, spark):
    path = day_path(landed_copy, "telemetry", DAYS[2])
    lines = path.read_text().splitlines()
    fields = lines[6].split(",")  # line 7 of the file
    fields[3] = "fast"
    lines[6] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    src = RawDataSource(kind="landing", landing_dir=str(landed_copy))
    with pytest.raises(ValidationError) as err:
        src.read_days(spark, "telemetry", DAYS)
    msg = str(err.value)
    assert msg.startswith(
        f"{path}, table 'telemetry', partition {DAYS[2]}, line 7, column 'rotate'"
    )
    assert "got 'fast'" in msg


def test_reordered_columns_are_read_by_name(landed_copy, spark):
    path = landed_copy / "machines.csv"
    frame = pd.read_csv(path)
    frame[["age", "model", "machineID"]].to_csv(path, index=False)
    src = RawDataSource(kind="landing", landing_dir=str(landed_copy))
    assert_same_table(src.read_machines(spark).toPandas(), SIM.machines(), "machines")


def test_write_day_files_is_atomic_and_checks_the_day(tmp_path):
    tables = SIM.day(START)
    paths = write_day_files(tmp_path, START, tables)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in paths) == sorted(
        f"{t}/{START}.csv" for t in schemas.DAILY_TABLES
    )
    assert not list(tmp_path.rglob("*.tmp"))
    with pytest.raises(ValueError, match=r"telemetry 2015-01-02: 120 row\(s\) outside the day"):
        write_day_files(tmp_path, START + timedelta(days=1), {"telemetry": tables["telemetry"]})
    assert not (tmp_path / "telemetry/2015-01-02.csv").exists()


def test_cli_land_writes_the_simulated_days(tmp_path, capsys):
    code = main(
        [
            "land",
            "--start",
            "2015-03-01",
            "--days",
            "2",
            "--machines",
            "3",
            "--seed",
            "7",
            "--landing-dir",
            str(tmp_path),
        ]
    )
    assert code == 0
    sim = FleetSimulator(n_machines=3, seed=7)
    for table in schemas.DAILY_TABLES:
        assert landed_days(tmp_path, table)[-2:] == [date(2015, 3, 1), date(2015, 3, 2)]
    landed = pd.read_csv(
        day_path(tmp_path, "telemetry", date(2015, 3, 2)), parse_dates=["datetime"]
    )
    assert_same_table(landed, sim.telemetry(date(2015, 3, 2), date(2015, 3, 3)), "telemetry")
    assert (tmp_path / "machines.csv").exists()
    assert '"days": 2' in capsys.readouterr().out


def test_cli_export_azure_then_import_gives_the_simulated_days(tmp_path, monkeypatch):
    monkeypatch.setenv("PDM_HISTORY_START", "2014-10-01")
    published, landing = tmp_path / "published", tmp_path / "landing"
    args = ["--start", "2015-03-01", "--days", "2", "--machines", "3", "--seed", "7"]
    assert main(["export-azure", str(published), *args, "--us-dates"]) == 0
    assert sorted(p.name for p in published.iterdir()) == [
        "PdM_errors.csv",
        "PdM_failures.csv",
        "PdM_machines.csv",
        "PdM_maint.csv",
        "PdM_telemetry.csv",
    ]
    assert (
        (published / "PdM_telemetry.csv")
        .read_text()
        .splitlines()[1]
        .startswith("3/1/2015 12:00:00 AM,1,")
    )
    assert main(["import-azure", str(published), "--landing-dir", str(landing)]) == 0

    sim = FleetSimulator(n_machines=3, seed=7, history_start=date(2014, 10, 1))
    assert landed_days(landing, "telemetry") == [date(2015, 3, 1), date(2015, 3, 2)]
    day = date(2015, 3, 2)
    for table in schemas.DAILY_TABLES:
        landed = pd.read_csv(day_path(landing, table, day), parse_dates=["datetime"])
        assert_same_table(landed, getattr(sim, table)(day, day + timedelta(days=1)), table)
    # The maintenance history before the first day is landed too, from PDM_HISTORY_START on.
    history = landed_days(landing, "maintenance")
    assert history[0] >= date(2014, 10, 1) and len(history) > 2
    expected = sim.maintenance(date(2014, 10, 1), date(2015, 3, 1))
    assert sum(len(pd.read_csv(day_path(landing, "maintenance", d))) for d in history[:-2]) == len(
        expected
    )


def test_cli_reports_errors_without_a_traceback(tmp_path, capsys):
    assert main(["import-azure", str(tmp_path / "nowhere"), "--landing-dir", str(tmp_path)]) == 1
    assert "import-azure: error:" in capsys.readouterr().err


def test_source_from_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("PDM_SOURCE", "landing")
    monkeypatch.setenv("PDM_LANDING_DIR", str(tmp_path))
    monkeypatch.setenv("PDM_MACHINES", "12")
    src = source_from_settings(load_settings())
    assert (src.kind, src.landing_dir, src.n_machines) == ("landing", str(tmp_path), 12)
    monkeypatch.setenv("PDM_SOURCE", "s3")
    with pytest.raises(ValueError, match="PDM_SOURCE"):
        source_from_settings()
    assert os.environ["PDM_SOURCE"] == "s3"


# --- the open day, hour by hour -------------------------------------------------------------------
def test_hourly_files_deliver_the_hours_landed_for_every_table(spark, landed_copy):
    """Hours of the open day land as <table>/<day>/<HH>.csv; a reader gets exactly the rows of
    the hours that every table has, and the daily file replaces them once it arrives."""
    day = START + timedelta(days=N_DAYS)
    land_simulated_hours(landed_copy, SIM, day, range(0, 6))
    # Hour 6 only for telemetry: not landed yet (the other tables' files are missing).
    tables = SIM.day(day)
    in_hour_6 = tables["telemetry"][tables["telemetry"]["datetime"].dt.hour == 6]
    write_hour_files(landed_copy, day, 6, {"telemetry": in_hour_6})
    assert landed_hours(landed_copy, day) == list(range(6))
    assert all(day in landed_days(landed_copy, t) for t in schemas.DAILY_TABLES)
    assert day_files(landed_copy, "errors", day) == [
        hour_path(landed_copy, "errors", day, h) for h in range(6)
    ]

    src = RawDataSource(kind="landing", landing_dir=str(landed_copy))
    cutoff = pd.Timestamp(day) + pd.Timedelta(hours=6)
    for table in schemas.DAILY_TABLES:
        got = src.read_days(spark, table, [DAYS[-1], day]).toPandas()
        whole = getattr(SIM, table)(DAYS[-1], day + timedelta(days=1))
        assert_same_table(got, whole[whole["datetime"] < cutoff], table)
    assert len(SIM.telemetry(day, day + timedelta(days=1))) == 5 * 24  # not vacuous

    # The daily file supersedes the hourly ones.
    write_day_files(landed_copy, day, tables)
    assert day_files(landed_copy, "telemetry", day) == [day_path(landed_copy, "telemetry", day)]
    got = src.read_days(spark, "telemetry", [day]).toPandas()
    assert_same_table(got, tables["telemetry"], "telemetry")


def test_hour_files_hold_exactly_their_hour(tmp_path):
    day = START
    telemetry = SIM.day(day)["telemetry"]
    with pytest.raises(ValueError, match=r"telemetry 2015-01-01 03h: 5 row\(s\) outside the hour"):
        write_hour_files(
            tmp_path, day, 3, {"telemetry": telemetry[telemetry["datetime"].dt.hour == 4]}
        )
    with pytest.raises(ValueError, match="hour must be 0..23"):
        write_hour_files(tmp_path, day, 24, {})
    assert not list(tmp_path.rglob("*.csv"))
    assert landed_days(tmp_path, "telemetry") == []
