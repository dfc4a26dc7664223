"""small_frame gives createDataFrame's rows and types without a Python worker."""

from datetime import UTC, date, datetime

import pytest

from pdm_assets.transforms.small_frames import small_frame
from pdm_assets.transforms.validation import REJECTED_SCHEMA

SCHEMA = "datetime timestamp, day date, name string, n int, risk double"
ROWS = [
    (datetime(2015, 1, 1, tzinfo=UTC), date(2015, 1, 1), "comp1", 3, 0.25),
    (datetime(2015, 1, 2, 23, 30, tzinfo=UTC), date(2015, 1, 2), None, None, None),
]


def _plan(df) -> str:
    return df._jdf.queryExecution().executedPlan().toString()


@pytest.mark.parametrize(
    ("rows", "schema"),
    [(ROWS, SCHEMA), ([], SCHEMA), ([], REJECTED_SCHEMA)],
    ids=["rows", "empty", "empty rejected-rows table"],
)
def test_same_rows_and_types_as_create_data_frame(spark, rows, schema):
    expected = spark.createDataFrame(rows, schema)
    got = small_frame(spark, rows, schema)
    assert [(f.name, f.dataType) for f in got.schema.fields] == [
        (f.name, f.dataType) for f in expected.schema.fields
    ]
    assert got.collect() == expected.collect()
    # createDataFrame scans a Python RDD (a Python worker unpickles it); the literals do not.
    assert "ExistingRDD" in _plan(expected)
    assert "ExistingRDD" not in _plan(got) and "Python" not in _plan(got)


def test_a_row_of_the_wrong_width_is_refused(spark):
    with pytest.raises(ValueError, match="zip"):
        small_frame(spark, [(datetime(2015, 1, 1, tzinfo=UTC),)], SCHEMA)
