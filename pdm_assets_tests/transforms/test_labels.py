"""Failure labels on a hand-built grid: horizon boundaries, earliest failure, tie rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pyspark.sql import functions as F

from pdm_assets.transforms.features import feature_grid
from pdm_assets.transforms.labels import LABELS, label_upcoming_failures, required_failure_window

H = timedelta(hours=1)
START = datetime(2015, 1, 3, tzinfo=UTC)
END = datetime(2015, 1, 7, tzinfo=UTC)
GRID_TIMES = [START + 12 * i * H for i in range(8)]  # 01-03 00:00 .. 01-06 12:00


def at(day: int, hour: int = 0, second: int = 0) -> datetime:
    return datetime(2015, 1, day, hour, 0, second, tzinfo=UTC)


FAILURES = [
    # 1: on the grid, at 01-05 12:00.
    (at(5, 12), 1, "comp2"),
    # 2: comp3 at 01-05 06:00, comp1 a day later; overlapping rows take the earlier comp3.
    (at(5, 6), 2, "comp3"),
    (at(6, 6), 2, "comp1"),
    # 3: comp4 and comp2 at the same instant.
    (at(5, 6), 3, "comp4"),
    (at(5, 6), 3, "comp2"),
    # 4: one second after the horizon of the 01-04 00:00 row.
    (at(6, 0, 1), 4, "comp1"),
    # Ignored: unknown code, machine outside the grid.
    (at(5, 6), 1, "comp9"),
    (at(5, 6), 9, "comp1"),
]


@pytest.fixture(scope="module")
def frames(spark):
    machines = spark.createDataFrame([(m,) for m in (1, 2, 3, 4)], "machineID int")
    failures = spark.createDataFrame(FAILURES, "datetime timestamp, machineID int, failure string")
    return feature_grid(machines, START, END), failures


def labelled(frames, horizon_hours=48):
    grid, failures = frames
    rows = (
        label_upcoming_failures(grid, failures, horizon_hours)
        .withColumn("datetime", F.date_format("datetime", "yyyy-MM-dd'T'HH:mm"))
        .collect()
    )
    return {(r["machineID"], r["datetime"]): r.asDict() for r in rows}


def series(got, machine, field="label"):
    return [got[(machine, t.strftime("%Y-%m-%dT%H:%M"))][field] for t in GRID_TIMES]


@pytest.fixture(scope="module")
def got48(frames):
    return labelled(frames, 48)


N = "none"


def test_failure_at_t_labels_the_rows_before_it_not_its_own(got48):
    # Rows T with T < 01-05 12:00 <= T + 48h: 01-03 12:00 (exactly at the horizon) .. 01-05 00:00.
    assert series(got48, 1) == [N, "comp2", "comp2", "comp2", "comp2", N, N, N]
    assert series(got48, 1, "fails_comp2") == [0, 1, 1, 1, 1, 0, 0, 0]
    assert series(got48, 1, "fails_comp1") == [0] * 8  # the unknown "comp9" is ignored


def test_failure_one_second_after_the_horizon_is_not_labelled(got48):
    # 01-06 00:00:01 is 48h + 1s after the 01-04 00:00 row (index 2): labelling starts at 12:00.
    assert series(got48, 4) == [N, N, N, "comp1", "comp1", "comp1", "comp1", N]


def test_earliest_failure_wins(got48):
    assert series(got48, 2) == [N, "comp3", "comp3", "comp3", "comp3", "comp1", "comp1", N]
    # Both are still flagged where they overlap.
    assert series(got48, 2, "fails_comp3") == [0, 1, 1, 1, 1, 0, 0, 0]
    assert series(got48, 2, "fails_comp1") == [0, 0, 0, 1, 1, 1, 1, 0]


def test_simultaneous_failures_go_to_the_lowest_component_never_a_new_class(got48):
    assert series(got48, 3) == [N, "comp2", "comp2", "comp2", "comp2", N, N, N]
    assert series(got48, 3, "label_index") == [0, 2, 2, 2, 2, 0, 0, 0]
    assert series(got48, 3, "fails_comp4") == series(got48, 3, "fails_comp2")
    assert {r["label"] for r in got48.values()} <= set(LABELS)


def test_label_index_is_the_position_in_labels(got48):
    assert LABELS == ("none", "comp1", "comp2", "comp3", "comp4")
    for row in got48.values():
        assert LABELS[row["label_index"]] == row["label"]
    assert len(got48) == 4 * 96  # one row per hourly grid row (4 days), machine 9 dropped


def test_horizon_is_configurable(frames):
    got = labelled(frames, 24)
    assert series(got, 1) == [N, N, N, "comp2", "comp2", N, N, N]
    # Shorter than the grid step: only a row within 6 h before the failure.
    got = labelled(frames, 6)
    assert series(got, 1) == [N] * 8  # 01-05 12:00 has no grid row in [06:00, 12:00)
    assert series(got, 2) == [N, N, N, N, "comp3", N, "comp1", N]


def test_horizon_must_be_positive(frames):
    with pytest.raises(ValueError, match="positive"):
        label_upcoming_failures(*frames, horizon_hours=0)


def test_required_failure_window_covers_the_look_ahead():
    lo, hi = required_failure_window(datetime(2015, 1, 3), datetime(2015, 1, 4), 48)
    assert (lo, hi) == (datetime(2015, 1, 3, tzinfo=UTC), datetime(2015, 1, 6, tzinfo=UTC))
