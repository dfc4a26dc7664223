"""The daily replacement state equals a recompute from the full history."""

from __future__ import annotations

from datetime import date, datetime

from pdm_assets.transforms.replacements import (
    inventory_replacements,
    replacement_state,
    state_records,
)


def _records(spark, rows):
    return spark.createDataFrame(rows, "datetime timestamp, machineID int, comp string")


def _state(df):
    return sorted(
        (r["datetime"], r["machineID"], r["comp"], r["last_replacement"]) for r in df.collect()
    )


def test_state_is_last_replacement_up_to_the_end_of_the_day(spark):
    records = _records(
        spark,
        [
            (datetime(2014, 12, 1, 6), 1, "comp1"),
            (datetime(2015, 1, 1, 6), 1, "comp1"),
            (datetime(2015, 1, 2, 0), 1, "comp2"),  # exactly at a day start: belongs to that day
            (datetime(2015, 1, 2, 6), 2, "comp3"),
        ],
    )
    got = _state(replacement_state(spark, records, [date(2014, 12, 31), date(2015, 1, 1)]))
    assert got == [
        (datetime(2014, 12, 31), 1, "comp1", datetime(2014, 12, 1, 6)),
        (datetime(2015, 1, 1), 1, "comp1", datetime(2015, 1, 1, 6)),
    ]
    day2 = _state(replacement_state(spark, records, [date(2015, 1, 2)]))
    assert day2 == [
        (datetime(2015, 1, 2), 1, "comp1", datetime(2015, 1, 1, 6)),
        (datetime(2015, 1, 2), 1, "comp2", datetime(2015, 1, 2, 0)),
        (datetime(2015, 1, 2), 2, "comp3", datetime(2015, 1, 2, 6)),
    ]


def test_incremental_state_equals_full_recompute(spark):
    history = [
        (datetime(2014, 11, 3, 6), 1, "comp4"),
        (datetime(2015, 1, 1, 6), 1, "comp4"),
        (datetime(2015, 1, 3, 6), 2, "comp1"),
        (datetime(2015, 1, 4, 6), 1, "comp4"),
    ]
    days = [date(2015, 1, d) for d in range(1, 7)]
    full = _state(replacement_state(spark, _records(spark, history), days))
    # Day by day: yesterday's state plus today's maintenance only.
    before = [r for r in history if r[0].date() < days[0]]
    todays = [r for r in history if r[0].date() == days[0]]
    state = replacement_state(spark, _records(spark, before + todays), days[:1])
    incremental = _state(state)
    for day in days[1:]:
        todays = [r for r in history if r[0].date() == day]
        merged = state_records(state).unionByName(_records(spark, todays))
        # As the asset reads yesterday's state back from storage: no lineage of earlier days.
        state = replacement_state(spark, merged, [day]).localCheckpoint()
        incremental += _state(state)
    assert incremental == full


def test_inventory_columns_become_records(spark):
    machines = spark.createDataFrame(
        [(1, "model3", 7, datetime(2014, 12, 1, 6), None, None, datetime(2014, 6, 1, 6))],
        "machineID int, model string, age int, comp1_last_replacement timestamp, "
        "comp2_last_replacement timestamp, comp3_last_replacement timestamp, "
        "comp4_last_replacement timestamp",
    )
    got = sorted(tuple(r) for r in inventory_replacements(machines).collect())
    assert got == [(datetime(2014, 6, 1, 6), 1, "comp4"), (datetime(2014, 12, 1, 6), 1, "comp1")]
