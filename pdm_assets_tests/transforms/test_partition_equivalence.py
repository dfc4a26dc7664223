"""Daily partitions equal one recompute, and no row sees its future.

Random small fleets (seeded) with gaps, off-hour events, maintenance long before the first day and
failures on grid times; ranges cover the first days of the record and a month boundary. Each day's
call gets only its lookback (or look-ahead) slice, the full call gets everything, future included.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import reduce

import numpy as np
import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pdm_assets.schemas import COMPONENTS, ERROR_CODES
from pdm_assets.transforms.features import (
    FEATURE_COLUMNS,
    feature_grid,
    machine_features,
    open_grid_end,
    required_input_windows,
)
from pdm_assets.transforms.labels import label_upcoming_failures, required_failure_window

H = timedelta(hours=1)
DAY = timedelta(days=1)
FIRST_DAY = datetime(2015, 1, 1, tzinfo=UTC)
UNKNOWN_SINCE = datetime(2014, 6, 1, tzinfo=UTC)
N_HOURS = 24 * 37  # telemetry through 2015-02-06


def make_fleet(spark, seed: int, n_machines: int = 3) -> dict[str, DataFrame]:
    rng = np.random.default_rng(seed)
    telemetry, errors, maintenance, failures = [], [], [], []
    for m in range(1, n_machines + 1):
        gap_start = int(rng.integers(0, N_HOURS - 48))
        gap = range(gap_start, gap_start + int(rng.integers(12, 48)))
        for h in range(6, N_HOURS):  # the record starts at 06:00 on the first day, like Azure's
            if h in gap or rng.random() < 0.02:
                continue
            telemetry.append(
                (
                    FIRST_DAY + h * H,
                    m,
                    *(float(rng.normal(mu, sd)) for mu, sd in ((170, 15), (450, 50), (100, 10))),
                    float(rng.normal(40, 5)),
                )
            )
        for _ in range(30):
            # Half on the hour (some land exactly on grid times), half at odd seconds.
            offset = int(rng.integers(0, 3600)) if rng.random() < 0.5 else 0
            t = FIRST_DAY + int(rng.integers(0, N_HOURS)) * H + timedelta(seconds=offset)
            errors.append((t, m, str(rng.choice(ERROR_CODES))))
        # From months before the first day (at 06:00 like Azure's, or on a grid time); the last
        # machine is new: nothing on record before its 10th day.
        first_day = 10 if m == n_machines else -214
        for _ in range(12):
            day = int(rng.integers(first_day, 37))
            t = FIRST_DAY + day * DAY + int(rng.choice([0, 6, 12])) * H
            maintenance.append((t, m, str(rng.choice(COMPONENTS))))
        for _ in range(4):
            t = FIRST_DAY + int(rng.integers(0, 37)) * DAY + int(rng.choice([0, 6, 12])) * H
            comps = rng.choice(COMPONENTS, size=int(rng.integers(1, 3)), replace=False)
            failures.extend((t, m, str(c)) for c in comps)  # sometimes two at once
    return {
        "telemetry": spark.createDataFrame(
            telemetry,
            "datetime timestamp, machineID int, volt double, rotate double, pressure double, "
            "vibration double",
        ),
        "errors": spark.createDataFrame(
            errors, "datetime timestamp, machineID int, errorID string"
        ),
        "maintenance": spark.createDataFrame(
            maintenance, "datetime timestamp, machineID int, comp string"
        ),
        "failures": spark.createDataFrame(
            failures, "datetime timestamp, machineID int, failure string"
        ),
        "machines": spark.createDataFrame(
            [(m, f"model{1 + m % 4}", int(rng.integers(0, 21))) for m in range(1, n_machines + 1)],
            "machineID int, model string, age int",
        ),
    }


def between(df: DataFrame, lo: datetime | None, hi: datetime) -> DataFrame:
    """Rows with lo < datetime < hi: the tightest slice (the windows are open on the left)."""
    cond = F.col("datetime") < F.lit(hi)
    return df.filter(cond if lo is None else cond & (F.col("datetime") > F.lit(lo)))


def daily_features(fleet: dict[str, DataFrame], day: datetime) -> DataFrame:
    need = required_input_windows(day, day + DAY)
    return machine_features(
        between(fleet["telemetry"], *need["telemetry"]),
        between(fleet["errors"], *need["errors"]),
        between(fleet["maintenance"], *need["maintenance"]),
        fleet["machines"],
        day,
        day + DAY,
        UNKNOWN_SINCE,
    )


def daily_labels(fleet: dict[str, DataFrame], day: datetime, horizon: int) -> DataFrame:
    return label_upcoming_failures(
        feature_grid(fleet["machines"], day, day + DAY),
        between(fleet["failures"], *required_failure_window(day, day + DAY, horizon)),
        horizon,
    )


def collect(df: DataFrame) -> dict[tuple[int, int], dict]:
    rows = df.withColumn("datetime", F.unix_micros("datetime")).collect()
    out = {(r["machineID"], r["datetime"]): r.asDict() for r in rows}
    assert len(out) == len(rows), "duplicate (machineID, datetime) rows"
    return out


def assert_same(got: dict, want: dict) -> None:
    """Exactly equal, floats included: a refreshed partition must be byte-identical to a recompute,
    which only holds if every value is computed from the same records in the same order."""
    assert sorted(got) == sorted(want)
    for key, row in want.items():
        for column, value in row.items():
            other = got[key][column]
            both_nan = value != value and other != other
            assert other == value or both_nan, (key, column, other, value)


def random_ranges(rng) -> list[tuple[datetime, datetime]]:
    """The first days of the record (short history) and a range across the January/February end."""
    first = (FIRST_DAY, FIRST_DAY + int(rng.integers(1, 3)) * DAY)
    month_start = datetime(2015, 1, 31, tzinfo=UTC)
    month_end = datetime(2015, 2, 2, tzinfo=UTC) + int(rng.integers(0, 2)) * DAY
    return [first, (month_start, month_end)]


def days(ranges) -> list[datetime]:
    return [lo + i * DAY for lo, hi in ranges for i in range((hi - lo) // DAY)]


@pytest.mark.parametrize("seed", [1, 2])
def test_daily_partitions_equal_one_recompute(spark, seed):
    rng = np.random.default_rng(100 + seed)
    fleet = make_fleet(spark, seed)
    ranges = random_ranges(rng)
    horizon = int(rng.choice([24, 48, 60]))

    full = collect(
        reduce(
            DataFrame.unionByName,
            (
                machine_features(
                    fleet["telemetry"],
                    fleet["errors"],
                    fleet["maintenance"],
                    fleet["machines"],
                    lo,
                    hi,
                    UNKNOWN_SINCE,
                )
                for lo, hi in ranges
            ),
        )
    )
    daily = collect(reduce(DataFrame.unionByName, (daily_features(fleet, d) for d in days(ranges))))
    assert len(full) == 3 * 24 * len(days(ranges))  # hourly grid
    assert_same(daily, full)
    # The data must exercise what is compared: short windows, nulls, errors, known replacements.
    rows = list(full.values())
    assert any(r["partial_window"] for r in rows) and not all(r["partial_window"] for r in rows)
    assert any(r["volt_std_12h"] is None for r in rows)
    assert any(r[f"{e}_count_24h"] for r in rows for e in ERROR_CODES)
    # The 7-day lookbacks: baseline deviations (null without history), week-long error counts
    # beyond the 24 h ones, hours since an error both below and at the 168 h cap.
    assert any(r["vibration_dev_24h"] is None for r in rows)
    assert any(r["vibration_dev_24h"] is not None for r in rows)
    assert any(r[f"{e}_count_168h"] > r[f"{e}_count_24h"] for r in rows for e in ERROR_CODES)
    since = [r[f"{e}_hours_since"] for r in rows for e in ERROR_CODES]
    assert any(s < 168 for s in since) and any(s == 168 for s in since)
    day_us = 86_400_000_000
    first_us = (FIRST_DAY - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    unknown_us = (UNKNOWN_SINCE - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    days_since = [
        (t, r[f"{c}_days_since_replacement"]) for (_, t), r in full.items() for c in COMPONENTS
    ]
    assert any(d < 2 for _, d in days_since)  # replacements inside the range
    # Replacements from before the first day, and components with none on record.
    assert any((t - first_us) / day_us < d < (t - unknown_us) / day_us for t, d in days_since)
    assert any(d == (t - unknown_us) / day_us for t, d in days_since)
    assert set(full[next(iter(full))]) == {
        "machineID",
        "datetime",
        "model",
        *FEATURE_COLUMNS,
        "readings_12h",
        "readings_24h",
        "readings_36h",
        "partial_window",
    }

    full_labels = collect(
        reduce(
            DataFrame.unionByName,
            (
                label_upcoming_failures(
                    feature_grid(fleet["machines"], lo, hi), fleet["failures"], horizon
                )
                for lo, hi in ranges
            ),
        )
    )
    daily_labels_ = collect(
        reduce(DataFrame.unionByName, (daily_labels(fleet, d, horizon) for d in days(ranges)))
    )
    assert_same(daily_labels_, full_labels)
    assert sorted(full_labels) == sorted(full)
    assert any(r["label"] != "none" for r in full_labels.values())


def perturb_after(fleet: dict[str, DataFrame], t0: datetime) -> dict[str, DataFrame]:
    """Change every telemetry reading after t0 and add errors and replacements 1 µs after it."""
    spark = fleet["machines"].sparkSession
    soon = t0 + timedelta(microseconds=1)
    after = F.col("datetime") > F.lit(t0)
    telemetry = fleet["telemetry"].select(
        "datetime",
        "machineID",
        *(
            F.when(after, F.col(s) * 1.5 + 7).otherwise(F.col(s)).alias(s)
            for s in ("volt", "rotate", "pressure", "vibration")
        ),
    )
    ids = [r["machineID"] for r in fleet["machines"].collect()]
    extra_errors = spark.createDataFrame(
        [(soon, m, e) for m in ids for e in ERROR_CODES], fleet["errors"].schema
    )
    extra_maintenance = spark.createDataFrame(
        [(soon, m, c) for m in ids for c in COMPONENTS], fleet["maintenance"].schema
    )
    extra_readings = spark.createDataFrame(
        [(soon, m, 250.0, 700.0, 190.0, 90.0) for m in ids], fleet["telemetry"].schema
    )
    return {
        **fleet,
        "telemetry": telemetry.unionByName(extra_readings),
        "errors": fleet["errors"].unionByName(extra_errors),
        "maintenance": fleet["maintenance"].unionByName(extra_maintenance),
    }


LEAK_RANGE = (FIRST_DAY, FIRST_DAY + 4 * DAY)


def leak_features(fleet: dict[str, DataFrame]) -> dict:
    return collect(
        machine_features(
            fleet["telemetry"],
            fleet["errors"],
            fleet["maintenance"],
            fleet["machines"],
            *LEAK_RANGE,
            UNKNOWN_SINCE,
        )
    )


@pytest.fixture(scope="module")
def leak_base(spark):
    fleet = make_fleet(spark, 11)
    return fleet, leak_features(fleet)


@pytest.mark.parametrize(
    "t0", [datetime(2015, 1, 2, 12, tzinfo=UTC), datetime(2015, 1, 3, tzinfo=UTC)]
)
def test_records_after_t_never_change_rows_at_or_before_t(leak_base, t0):
    fleet, base = leak_base
    perturbed = leak_features(perturb_after(fleet, t0))
    cut = (t0 - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    assert_same(
        {k: v for k, v in perturbed.items() if k[1] <= cut},
        {k: v for k, v in base.items() if k[1] <= cut},
    )
    # The perturbation is real: the very next row sees all three kinds of change.
    for m in (1, 2, 3):
        old, new = base[(m, cut + 12 * 3_600_000_000)], perturbed[(m, cut + 12 * 3_600_000_000)]
        assert new["volt_mean_12h"] != old["volt_mean_12h"]
        assert new["error1_count_24h"] == old["error1_count_24h"] + 1
        assert new["error1_hours_since"] < 12 <= new["error1_hours_since"] + 1e-6
        # Replaced 1 µs after t0: 12 h - 1 µs before the next row.
        assert new["comp4_days_since_replacement"] == (12 * 3_600_000_000 - 1) / 86_400_000_000


def test_open_day_rows_equal_the_closed_day_hour_by_hour(spark):
    """The open day: with its hours landed through h, the grid stops at h (open_grid_end) and
    every row equals the row of the same day computed once it has closed, floats included."""
    fleet = make_fleet(spark, 3)
    day = datetime(2015, 1, 20, tzinfo=UTC)
    closed = collect(daily_features(fleet, day))
    seen: dict = {}
    for through in (0, 7, 23):
        landed = day + (through + 1) * H  # hours 00..through of the open day have landed
        partial = {t: between(fleet[t], None, landed) for t in ("telemetry", "errors")}
        end = open_grid_end(partial["telemetry"], day)
        assert end == landed
        need = required_input_windows(day, end)
        rows = collect(
            machine_features(
                between(partial["telemetry"], *need["telemetry"]),
                between(partial["errors"], *need["errors"]),
                between(fleet["maintenance"], None, landed),
                fleet["machines"],
                day,
                end,
                UNKNOWN_SINCE,
            )
        )
        assert len(rows) == 3 * (through + 1)
        assert_same(rows, {k: v for k, v in closed.items() if k in rows})
        # A refresh never changes a row an earlier refresh published.
        assert_same({k: rows[k] for k in seen}, seen)
        seen = rows
    assert sorted(seen) == sorted(closed)
    # Without a reading of the day yet, the open day has no rows.
    assert open_grid_end(between(fleet["telemetry"], None, day), day) == day
