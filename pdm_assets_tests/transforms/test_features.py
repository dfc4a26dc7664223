"""Feature transforms on tiny hand-built frames; expectations computed independently in numpy."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pdm_assets.schemas import SENSORS
from pdm_assets.transforms import features as features_module
from pdm_assets.transforms.features import (
    FEATURE_COLUMNS,
    READING_UNITS,
    days_since_replacement,
    error_counts,
    feature_columns,
    feature_grid,
    grid_partitions,
    machine_features,
    required_input_windows,
    rolling_telemetry_stats,
)

T = datetime(2015, 1, 3, tzinfo=UTC)  # a grid time
H = timedelta(hours=1)
TELEMETRY_DDL = (
    "datetime timestamp, machineID int, volt double, rotate double, pressure double, "
    "vibration double"
)
MACHINES_DDL = "machineID int, model string, age int"


def collect(df: DataFrame) -> dict[tuple[int, str], dict]:
    """Rows keyed by (machineID, ISO time); the time is formatted in Spark (UTC session) so the
    Python process's zone never matters."""
    out = {}
    for row in df.withColumn("datetime", F.date_format("datetime", "yyyy-MM-dd'T'HH:mm")).collect():
        d = row.asDict()
        out[(d["machineID"], d["datetime"])] = d
    return out


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M")


def machines_df(spark, rows=((1, "model1", 3),)):
    return spark.createDataFrame(list(rows), MACHINES_DDL)


# --- grid ----------------------------------------------------------------------------------------


def test_feature_grid_is_hourly_aligned_and_half_open(spark):
    machines = machines_df(spark, [(1, "model1", 3), (2, "model2", 4)])
    # start between grid times rounds up; end is exclusive even when it is a grid time.
    got = collect(feature_grid(machines, datetime(2015, 1, 1, 5, 30), datetime(2015, 1, 1, 8)))
    assert sorted(got) == [
        (1, "2015-01-01T06:00"),
        (1, "2015-01-01T07:00"),
        (2, "2015-01-01T06:00"),
        (2, "2015-01-01T07:00"),
    ]
    assert set(next(iter(got.values()))) == {"machineID", "datetime"}


def test_feature_grid_empty_range(spark):
    assert feature_grid(machines_df(spark), T, T).count() == 0


# --- rolling telemetry statistics ---------------------------------------------------------------


def _readings(rng, machine: int, hours) -> list[tuple]:
    return [
        (
            T + h * H,
            machine,
            float(rng.normal(170, 15)),
            float(rng.normal(450, 50)),
            float(rng.normal(100, 10)),
            float(rng.normal(40, 5)),
        )
        for h in hours
    ]


def _expected(readings, machine: int, grid_time: datetime, w: int) -> dict[str, object]:
    """Mean and sample std over readings with grid_time - w h < t <= grid_time, by numpy."""
    inside = [r for r in readings if r[1] == machine and grid_time - w * H < r[0] <= grid_time]
    out: dict[str, object] = {f"readings_{w}h": len(inside)}
    for i, s in enumerate(SENSORS):
        values = np.array([r[2 + i] for r in inside])
        out[f"{s}_mean_{w}h"] = float(values.mean()) if len(values) else None
        out[f"{s}_std_{w}h"] = float(values.std(ddof=1)) if len(values) >= 2 else None
    return out


def _assert_close(got, want, key):
    if want is None:
        assert got is None, key
    else:
        assert got is not None and math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9), (
            key,
            got,
            want,
        )


@pytest.fixture(scope="module")
def rolling_case(spark):
    rng = np.random.default_rng(7)
    readings = (
        # 1: hourly from T-40h to T+3h, with an absurd reading at T+1h that must not leak in.
        _readings(rng, 1, range(-40, 4))
        # 2: a gap (T-30h, T-12h] that must shrink the 24 h and 36 h windows.
        + _readings(rng, 2, [h for h in range(-40, 4) if not -30 < h <= -12])
        # 3: a single reading at exactly T.
        + _readings(rng, 3, [0])
        # 4: readings only in (T-24h, T-12h]: the 12 h window is empty.
        + _readings(rng, 4, range(-20, -12))
    )
    leak = next(i for i, r in enumerate(readings) if r[1] == 1 and r[0] == T + H)
    readings[leak] = (T + H, 1, 999.0, 999.0, 999.0, 999.0)
    machines = machines_df(spark, [(m, "model1", 1) for m in (1, 2, 3, 4)])
    grid = feature_grid(machines, T - 12 * H, T + 13 * H)
    got = collect(rolling_telemetry_stats(spark.createDataFrame(readings, TELEMETRY_DDL), grid))
    return readings, got


def test_rolling_stats_match_numpy_for_every_row_and_window(rolling_case):
    readings, got = rolling_case
    assert len(got) == 4 * 25  # hourly grid rows T-12h .. T+12h
    for machine in (1, 2, 3, 4):
        for grid_time in (T + h * H for h in range(-12, 13)):
            row = got[(machine, iso(grid_time))]
            for w in (12, 24, 36):
                for key, want in _expected(readings, machine, grid_time, w).items():
                    _assert_close(row[key], want, (machine, grid_time, key))


def test_rolling_window_includes_reading_at_t_and_excludes_the_next_hour(rolling_case):
    readings, got = rolling_case
    row = got[(1, iso(T))]
    assert row["readings_12h"] == 12  # T-11h .. T
    assert row["readings_24h"] == 24
    assert row["readings_36h"] == 36
    at_t = [r[2] for r in readings if r[1] == 1 and T - 12 * H < r[0] <= T]
    assert at_t[-1] == next(r[2] for r in readings if r[1] == 1 and r[0] == T)
    assert math.isclose(row["volt_mean_12h"], sum(at_t) / 12, rel_tol=1e-12)
    assert row["volt_mean_12h"] < 300  # the 999 at T+1h is not in it
    # ... but it is in the next row's window.
    assert got[(1, iso(T + 12 * H))]["volt_mean_12h"] > 200


def test_rolling_gap_shrinks_the_window_instead_of_stretching_it(rolling_case):
    _, got = rolling_case
    row = got[(2, iso(T))]
    # Present: T-40h..T-30h and T-11h..T. (T-24h, T] keeps T-11h..T only, not 24 readings.
    assert (row["readings_12h"], row["readings_24h"], row["readings_36h"]) == (12, 12, 18)
    # At T-12h the last 12 h are entirely inside the gap.
    before = got[(2, iso(T - 12 * H))]
    assert before["readings_12h"] == 0
    assert before["volt_mean_12h"] is None and before["volt_std_12h"] is None
    assert before["readings_24h"] == 6  # T-35h .. T-30h
    assert before["volt_mean_24h"] is not None


def test_rolling_single_reading_has_mean_but_null_std(rolling_case):
    readings, got = rolling_case
    row = got[(3, iso(T))]
    value = next(r[2] for r in readings if r[1] == 3)
    assert row["readings_36h"] == 1
    # The mean of one reading is the reading, to the statistics' resolution (READING_UNITS).
    assert math.isclose(row["volt_mean_12h"], value, rel_tol=0, abs_tol=1 / READING_UNITS)
    assert row["volt_mean_36h"] == row["volt_mean_12h"]
    assert row["volt_std_12h"] is None and row["volt_std_36h"] is None
    earlier = got[(3, iso(T - 12 * H))]
    assert earlier["readings_36h"] == 0 and earlier["volt_mean_36h"] is None


def test_rolling_empty_recent_block_still_sees_older_blocks(rolling_case):
    _, got = rolling_case
    row = got[(4, iso(T))]
    assert (row["readings_12h"], row["readings_24h"], row["readings_36h"]) == (0, 8, 8)
    assert row["rotate_mean_12h"] is None
    assert row["rotate_mean_24h"] == row["rotate_mean_36h"]


def test_rolling_std_is_stable_when_spread_is_tiny_next_to_the_level(spark):
    # A sum of squares in doubles would lose every digit of this std (1e-6 on a level of 1e4).
    hours = range(-35, 1)
    volt = [1e4 + 1e-6 * ((h * 7) % 5) for h in hours]
    readings = [(T + h * H, 1, v, 450.0, 100.0, 40.0) for h, v in zip(hours, volt, strict=True)]
    grid = feature_grid(machines_df(spark), T, T + H)
    row = collect(rolling_telemetry_stats(spark.createDataFrame(readings, TELEMETRY_DDL), grid))[
        (1, iso(T))
    ]
    assert math.isclose(row["volt_std_36h"], float(np.std(volt, ddof=1)), rel_tol=1e-6)
    assert math.isclose(row["volt_mean_36h"], float(np.mean(volt)), rel_tol=1e-15)
    assert row["pressure_std_36h"] == 0.0  # constant readings: exactly zero, never NaN


def test_rolling_rejects_windows_off_the_grid(spark):
    grid = feature_grid(machines_df(spark), T, T + H)
    with pytest.raises(ValueError, match="positive multiples of 1 h"):
        rolling_telemetry_stats(spark.createDataFrame([], TELEMETRY_DDL), grid, (12, 0))


# --- error counts -------------------------------------------------------------------------------


def test_error_counts_window_is_open_at_t_minus_24h_and_closed_at_t(spark):
    errors = spark.createDataFrame(
        [
            (T - 24 * H, 1, "error1"),  # exactly 24 h before T: out at T
            (T - 23 * H, 1, "error1"),
            (T - 23 * H, 1, "error1"),  # duplicates count twice
            (T - 1 * H, 1, "error3"),
            (T, 1, "error5"),  # exactly at T: in
            (T + timedelta(seconds=1), 1, "error2"),  # just after T: out at T
            (T - 2 * H, 2, "error4"),
            (T - 2 * H, 2, "error9"),  # not an Azure code: ignored
            (T - 2 * H, 7, "error4"),  # machine outside the grid
        ],
        "datetime timestamp, machineID int, errorID string",
    )
    machines = machines_df(spark, [(1, "model1", 3), (2, "model1", 3)])
    got = collect(error_counts(errors, feature_grid(machines, T - 12 * H, T + 13 * H)))
    assert len(got) == 2 * 25

    def counts(machine, t):
        row = got[(machine, iso(t))]
        return [row[f"error{i}_count_24h"] for i in range(1, 6)]

    # (T-36h, T-12h]: the error1 at T-24h and both at T-23h.
    assert counts(1, T - 12 * H) == [3, 0, 0, 0, 0]
    assert counts(1, T) == [2, 0, 1, 0, 1]
    # (T-12h, T+12h]: only T-1h, T and T+1s.
    assert counts(1, T + 12 * H) == [0, 1, 1, 0, 1]
    assert counts(2, T - 12 * H) == [0, 0, 0, 0, 0]
    assert counts(2, T) == [0, 0, 0, 1, 0]
    # Hourly rows: the error1 at T-24h leaves the window exactly 24 h after it, at T.
    assert counts(1, T - 1 * H) == [3, 0, 1, 0, 0]


# --- days since replacement ---------------------------------------------------------------------


def test_days_since_replacement_rules(spark):
    unknown = datetime(2014, 6, 1, tzinfo=UTC)
    maintenance = spark.createDataFrame(
        [
            (T, 1, "comp1"),  # exactly at T: 0 days at T
            (datetime(2014, 7, 1, 6, tzinfo=UTC), 1, "comp2"),
            (datetime(2014, 12, 1, 6, tzinfo=UTC), 1, "comp2"),  # the last one before the grid
            (T + 6 * H, 1, "comp3"),  # after T: ignored at T, seen at T+12h
            (datetime(2015, 2, 1, tzinfo=UTC), 1, "comp4"),  # after the whole grid
            (datetime(2014, 12, 31, 18, tzinfo=UTC), 2, "comp1"),
        ],
        "datetime timestamp, machineID int, comp string",
    )
    machines = machines_df(spark, [(1, "model1", 3), (2, "model1", 3)])
    got = collect(
        days_since_replacement(maintenance, feature_grid(machines, T, T + 13 * H), unknown)
    )

    def days(machine, t):
        row = got[(machine, iso(t))]
        return [row[f"comp{i}_days_since_replacement"] for i in range(1, 5)]

    since_unknown = (T - unknown).days  # 2014-06-01 .. 2015-01-03 = 216 days
    assert since_unknown == 216
    assert days(1, T) == [0.0, 32.75, 216.0, 216.0]
    assert days(1, T + 12 * H) == [0.5, 33.25, 0.25, 216.5]
    assert days(2, T) == [2.25, 216.0, 216.0, 216.0]


# --- the full feature table ---------------------------------------------------------------------


def _features_case(spark) -> tuple:
    """machine_features' arguments for machines 1 (full history) and 2 (partial) over 2015-01-03."""
    rng = np.random.default_rng(3)
    start = datetime(2015, 1, 3)  # naive: read as UTC
    telemetry = spark.createDataFrame(
        _readings(rng, 1, range(-170, 30))  # full history: complete windows and baseline
        + _readings(rng, 2, range(-30, -25))  # T-30h..T-26h only: partial, then nothing
        + _readings(rng, 99, range(-48, 30)),  # not in the inventory: no rows
        TELEMETRY_DDL,
    )
    errors = spark.createDataFrame(
        [(T - 3 * H, 1, "error2")], "datetime timestamp, machineID int, errorID string"
    )
    maintenance = spark.createDataFrame(
        [(datetime(2014, 12, 30, 6, tzinfo=UTC), 2, "comp3")],
        "datetime timestamp, machineID int, comp string",
    )
    machines = machines_df(spark, [(1, "model2", 7), (2, "model4", 0)])
    return (
        telemetry,
        errors,
        maintenance,
        machines,
        start,
        start + timedelta(days=1),
        datetime(2014, 6, 1),
    )


def test_machine_features_table(spark):
    df = machine_features(*_features_case(spark))
    assert df.columns == [
        "machineID",
        "datetime",
        "model",
        *FEATURE_COLUMNS,
        "readings_12h",
        "readings_24h",
        "readings_36h",
        "partial_window",
    ]
    got = collect(df)
    assert sorted(got) == sorted((m, iso(T + h * H)) for m in (1, 2) for h in range(24))

    one = got[(1, iso(T))]
    assert (one["model"], one["age"]) == ("model2", 7)
    assert [one[f"is_model{i}"] for i in range(1, 5)] == [0, 1, 0, 0]
    assert one["partial_window"] is False and one["readings_36h"] == 36
    assert one["error2_count_24h"] == 1 and one["error1_count_24h"] == 0
    assert one["comp3_days_since_replacement"] == 216.0
    # Error history: counts over 48 h and 7 days, hours since the last error (capped at 168 h).
    assert one["error2_count_48h"] == 1 and one["error2_count_168h"] == 1
    assert one["error2_hours_since"] == 3.0 and one["error1_hours_since"] == 168.0
    assert got[(1, iso(T + 5 * H))]["error2_hours_since"] == 8.0
    assert got[(1, iso(T - 3 * H + 24 * H))]["error2_count_24h"] == 0
    # The machine's own baseline: readings in (T-168h, T-48h], and the 24 h mean's deviation
    # from it in baseline standard deviations, checked against numpy.
    raw = [r for r in _readings(np.random.default_rng(3), 1, range(-170, 30))]
    base = np.array([r[2] for r in raw if T - 168 * H < r[0] <= T - 48 * H])
    last24 = np.array([r[2] for r in raw if T - 24 * H < r[0] <= T])
    assert len(base) == 120
    assert math.isclose(one["volt_base_mean"], base.mean(), rel_tol=1e-12)
    assert math.isclose(one["volt_base_std"], base.std(ddof=1), rel_tol=1e-9)
    want_dev = (last24.mean() - base.mean()) / base.std(ddof=1)
    assert math.isclose(one["volt_dev_24h"], want_dev, rel_tol=1e-9, abs_tol=1e-12)

    two = got[(2, iso(T))]
    assert [two[f"is_model{i}"] for i in range(1, 5)] == [0, 0, 0, 1]
    assert two["partial_window"] is True and two["readings_36h"] == 5
    assert two["comp3_days_since_replacement"] == 3.75
    assert two["volt_base_mean"] is None and two["volt_dev_24h"] is None  # no baseline readings
    # No readings at all in the last 36 h: the row is kept, with null statistics.
    empty = got[(2, iso(T + 12 * H))]
    assert empty["readings_36h"] == 0 and empty["partial_window"] is True
    assert all(empty[c] is None for c in FEATURE_COLUMNS if "_mean_" in c or "_std_" in c)
    assert empty["age"] == 0 and empty["error2_count_24h"] == 0


def test_a_large_grid_gets_more_shuffle_partitions_and_the_same_rows(spark, monkeypatch):
    default = int(spark.conf.get("spark.sql.shuffle.partitions"))
    assert grid_partitions(spark, 1_000) is None  # small: the session's partitions
    assert default < 36 and grid_partitions(spark, 8_760_000) == 36  # a year of 1,000 machines
    assert grid_partitions(spark, None) is None
    before = collect(machine_features(*_features_case(spark)))
    # 48 grid rows at 4 per partition: 12 partitions, more than the session's.
    monkeypatch.setattr(features_module, "GRID_ROWS_PER_PARTITION", 4)
    assert grid_partitions(spark, 48) == 12 > default
    sized = machine_features(*_features_case(spark))
    assert sized.rdd.getNumPartitions() == 12
    assert collect(sized) == before


def test_feature_columns_are_stable():
    assert FEATURE_COLUMNS == feature_columns()
    assert FEATURE_COLUMNS[:6] == ["is_model1", "is_model2", "is_model3", "is_model4", "age"] + [
        "volt_mean_12h"
    ]
    # models, age, mean/std x 4 sensors x 3 windows, baseline mean/std, deviations x 3 windows,
    # error counts x 3 windows, hours since each error, days since each replacement.
    assert len(FEATURE_COLUMNS) == 4 + 1 + 4 * 2 * 3 + 4 * 2 + 4 * 3 + 5 * 3 + 5 + 4
    assert FEATURE_COLUMNS[-24:] == [
        *(f"error{i}_count_{w}h" for w in (24, 48, 168) for i in range(1, 6)),
        *(f"error{i}_hours_since" for i in range(1, 6)),
        *(f"comp{i}_days_since_replacement" for i in range(1, 5)),
    ]
    assert "rotate_dev_24h" in FEATURE_COLUMNS and "pressure_base_std" in FEATURE_COLUMNS
    assert not any(c.startswith("readings_") for c in FEATURE_COLUMNS)


def test_required_input_windows():
    got = required_input_windows(datetime(2015, 1, 3), datetime(2015, 1, 4))
    # 7 days: the baseline window of telemetry, the 7-day counts and hours-since cap of errors.
    assert got["telemetry"] == (
        datetime(2014, 12, 27, tzinfo=UTC),
        datetime(2015, 1, 4, tzinfo=UTC),
    )
    assert got["errors"][0] == datetime(2014, 12, 27, tzinfo=UTC)
    assert got["maintenance"] == (None, datetime(2015, 1, 4, tzinfo=UTC))
