"""Validation at the door: each rule gets a bad input and must name the problem and where it is."""

from __future__ import annotations

from datetime import date

import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pdm_assets.transforms.validation import (
    ValidationError,
    parse_raw_table,
    spark_schema,
    validate_table,
)

DAY = date(2015, 1, 1)
TELEMETRY = ["datetime", "machineID", "volt", "rotate", "pressure", "vibration"]
GOOD_TELEMETRY = [
    ["2015-01-01 06:00:00", "1", "170.5", "450.0", "100.25", "40.0"],
    ["2015-01-01 07:00:00", "1", "171.5", "451.0", "101.25", "41.0"],
    ["2015-01-01 06:00:00", "2", "172.5", "452.0", "102.25", "42.0"],
]


def raw_frame(spark, columns, rows, *, lines=True):
    """All-string frame as read from a CSV file; `_line` counts the header as line 1."""
    schema = T.StructType([T.StructField(c, T.StringType()) for c in columns])
    df = spark.createDataFrame(rows, schema)
    if lines:
        df = spark.createDataFrame(
            [[*r, i + 2] for i, r in enumerate(rows)],
            T.StructType([*schema.fields, T.StructField("_line", T.LongType())]),
        )
    return df


def typed(spark, table, columns, rows):
    # check=False as the sources do: validate_table then reports parse errors in its own pass.
    raw = raw_frame(spark, columns, rows)
    return parse_raw_table(raw, table, source="test.csv", day=DAY, check=False)


def machines_frame(spark, ids):
    return spark.createDataFrame([(i,) for i in ids], "machineID int")


# --- parsing --------------------------------------------------------------------------------------
def test_valid_telemetry_parses_and_validates_to_the_schema(spark):
    df = typed(spark, "telemetry", TELEMETRY, GOOD_TELEMETRY)
    out = validate_table(
        df,
        "telemetry",
        source="test.csv",
        day=DAY,
        known_machines=machines_frame(spark, [1, 2]),
    )
    assert out.schema == spark_schema("telemetry")
    rows = out.orderBy("machineID", "datetime").collect()
    assert [(r.machineID, r.volt, r.vibration) for r in rows] == [
        (1, 170.5, 40.0),
        (1, 171.5, 41.0),
        (2, 172.5, 42.0),
    ]


def test_both_datetime_styles_parse_to_the_same_timestamp(spark):
    rows = [
        ["2015-01-01 06:00:00", "1", "a"],
        ["1/1/2015 6:00:00 AM", "2", "b"],
        ["2015-12-31 23:00:00", "3", "c"],
        ["12/31/2015 11:00:00 PM", "4", "d"],
        [" 1/1/2015 12:00:00 PM ", "5", "e"],
    ]
    df = parse_raw_table(
        raw_frame(spark, ["datetime", "machineID", "errorID"], rows),
        "errors",
        source="test.csv",
        day=None,
    )
    # Format in Spark (UTC session) so the local time zone of Python plays no part.
    got = dict(df.select("machineID", F.date_format("datetime", "yyyy-MM-dd HH:mm:ss")).collect())
    assert got == {
        1: "2015-01-01 06:00:00",
        2: "2015-01-01 06:00:00",
        3: "2015-12-31 23:00:00",
        4: "2015-12-31 23:00:00",
        5: "2015-01-01 12:00:00",
    }
    assert dict(df.dtypes)["datetime"] == "timestamp"


def test_missing_column_is_named(spark):
    raw = raw_frame(spark, TELEMETRY[:-1], [r[:-1] for r in GOOD_TELEMETRY])
    with pytest.raises(ValidationError) as err:
        parse_raw_table(raw, "telemetry", source="landing/telemetry/2015-01-01.csv", day=DAY)
    msg = str(err.value)
    assert "missing column(s) ['vibration']" in msg
    assert "landing/telemetry/2015-01-01.csv" in msg and "partition 2015-01-01" in msg
    assert err.value.column == "vibration"


def test_extra_column_is_an_error(spark):
    raw = raw_frame(spark, [*TELEMETRY, "temperature"], [[*r, "20"] for r in GOOD_TELEMETRY])
    with pytest.raises(ValidationError, match=r"unexpected column\(s\) \['temperature'\]"):
        parse_raw_table(raw, "telemetry", source="test.csv", day=DAY)


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("volt", "abc", "a number"),
        ("machineID", "1.5", "an integer"),
        ("datetime", "2015-13-01 06:00:00", "'1/1/2015 6:00:00 AM'"),
    ],
)
def test_unparsable_value_names_line_column_and_value(spark, column, value, expected):
    rows = [list(r) for r in GOOD_TELEMETRY]
    rows[1][TELEMETRY.index(column)] = value  # line 3 (header is line 1)
    rows[2][TELEMETRY.index(column)] = value  # a later bad line is not the one reported
    with pytest.raises(ValidationError) as err:
        parse_raw_table(raw_frame(spark, TELEMETRY, rows), "telemetry", source="t.csv", day=DAY)
    msg = str(err.value)
    assert msg.startswith("t.csv, table 'telemetry', partition 2015-01-01, line 3,")
    assert f"column {column!r}" in msg and f"got {value!r}" in msg and expected in msg
    assert err.value.line == 3


def test_malformed_row_is_reported_with_its_line(spark):
    rows = [[*r, None] for r in GOOD_TELEMETRY]
    rows[2][-1] = "2015-01-01 06:00:00,2,1,2"  # what the CSV reader puts in the corrupt column
    raw = raw_frame(spark, [*TELEMETRY, "_corrupt"], rows)
    with pytest.raises(ValidationError, match=r"line 4: malformed row .*expected 6 fields"):
        parse_raw_table(raw, "telemetry", source="test.csv", day=DAY)


def test_deferred_parse_error_is_reported_by_validate_table(spark):
    rows = [list(r) for r in GOOD_TELEMETRY]
    rows[2][3] = "fast"
    df = parse_raw_table(
        raw_frame(spark, TELEMETRY, rows), "telemetry", source="t.csv", day=DAY, check=False
    )
    with pytest.raises(ValidationError, match=r"line 4, column 'rotate': cannot parse") as err:
        validate_table(df, "telemetry", source="t.csv", day=DAY)
    assert err.value.value == "fast"


# --- row rules ------------------------------------------------------------------------------------
def test_null_is_reported(spark):
    rows = [list(r) for r in GOOD_TELEMETRY]
    rows[1][4] = ""  # blank field, as CSV delivers it
    with pytest.raises(ValidationError) as err:
        validate_table(typed(spark, "telemetry", TELEMETRY, rows), "telemetry", source="t", day=DAY)
    assert "line 3, column 'pressure': missing value" in str(err.value)


def test_sensor_out_of_range(spark):
    rows = [list(r) for r in GOOD_TELEMETRY]
    rows[2][2] = "999.5"
    with pytest.raises(ValidationError) as err:
        validate_table(typed(spark, "telemetry", TELEMETRY, rows), "telemetry", source="t", day=DAY)
    msg = str(err.value)
    assert "line 4, column 'volt': sensor reading out of range (got 999.5)" in msg
    assert "between 50.0 and 300.0" in msg


def test_nan_reading_is_out_of_range(spark):
    rows = [list(r) for r in GOOD_TELEMETRY]
    rows[0][5] = "NaN"
    with pytest.raises(ValidationError, match="line 2, column 'vibration': sensor reading out"):
        validate_table(typed(spark, "telemetry", TELEMETRY, rows), "telemetry", source="t", day=DAY)


def test_unknown_machine(spark):
    rows = [list(r) for r in GOOD_TELEMETRY]
    rows[1][1] = "7"
    with pytest.raises(ValidationError) as err:
        validate_table(
            typed(spark, "telemetry", TELEMETRY, rows),
            "telemetry",
            source="t",
            day=DAY,
            known_machines=machines_frame(spark, [1, 2, 3]),
        )
    assert "line 3, column 'machineID': unknown machine (got 7)" in str(err.value)
    assert "machines inventory" in str(err.value)


@pytest.mark.parametrize(
    ("table", "code_column", "bad"), [("errors", "errorID", "error9"), ("failures", "failure", "")]
)
def test_unknown_code(spark, table, code_column, bad):
    rows = [["2015-01-01 06:00:00", "1", "comp1" if table != "errors" else "error1"]]
    rows.append(["2015-01-01 07:00:00", "2", bad])
    df = typed(spark, table, ["datetime", "machineID", code_column], rows)
    with pytest.raises(ValidationError) as err:
        validate_table(df, table, source="t", day=DAY)
    msg = str(err.value)
    assert f"table {table!r}" in msg and "line 3" in msg and f"column {code_column!r}" in msg
    # An empty code is a missing value; a wrong one is an unknown code.
    assert ("missing value" if bad == "" else f"unknown code (got {bad!r})") in msg


def test_unknown_machine_model(spark):
    df = parse_raw_table(
        raw_frame(spark, ["machineID", "model", "age"], [["1", "model1", "3"], ["2", "m9", "4"]]),
        "machines",
        source="machines.csv",
        day=None,
    )
    with pytest.raises(ValidationError, match=r"unpartitioned, line 3, column 'model': unknown"):
        validate_table(df, "machines", source="machines.csv", day=None)


def test_duplicate_row_names_both_lines(spark):
    rows = [*GOOD_TELEMETRY, ["2015-01-01 07:00:00", "1", "99.0", "450.0", "100.0", "40.0"]]
    with pytest.raises(ValidationError) as err:
        validate_table(typed(spark, "telemetry", TELEMETRY, rows), "telemetry", source="t", day=DAY)
    msg = str(err.value)
    assert "duplicate row (lines 3 and 5)" in msg
    assert "datetime=2015-01-01 07:00:00, machineID=1" in msg


def test_same_time_different_code_is_not_a_duplicate(spark):
    rows = [["2015-01-01 06:00:00", "1", "comp1"], ["2015-01-01 06:00:00", "1", "comp2"]]
    df = typed(spark, "maintenance", ["datetime", "machineID", "comp"], rows)
    assert validate_table(df, "maintenance", source="t", day=DAY).count() == 2


def test_partition_day_boundaries_are_inclusive_exclusive(spark):
    rows = [["2015-01-01 00:00:00", "1", "error1"], ["2015-01-01 23:00:00", "2", "error2"]]
    df = typed(spark, "errors", ["datetime", "machineID", "errorID"], rows)
    assert validate_table(df, "errors", source="t", day=DAY).count() == 2


@pytest.mark.parametrize("stamp", ["2015-01-02 00:00:00", "2014-12-31 23:00:00"])
def test_timestamp_outside_the_partition_day(spark, stamp):
    rows = [["2015-01-01 06:00:00", "1", "error1"], [stamp, "2", "error2"]]
    df = typed(spark, "errors", ["datetime", "machineID", "errorID"], rows)
    with pytest.raises(ValidationError) as err:
        validate_table(df, "errors", source="t", day=DAY)
    msg = str(err.value)
    assert "partition 2015-01-01, line 3, column 'datetime': timestamp outside the partition" in msg
    assert f"got '{stamp}'" in msg


def test_machines_age_range_and_unique_ids(spark):
    cols = ["machineID", "model", "age"]
    too_old = parse_raw_table(
        raw_frame(spark, cols, [["1", "model1", "3"], ["2", "model2", "21"]]),
        "machines",
        source="m.csv",
        day=None,
    )
    with pytest.raises(ValidationError, match=r"line 3, column 'age': bad age \(got 21\)"):
        validate_table(too_old, "machines", source="m.csv", day=None)
    twice = parse_raw_table(
        raw_frame(spark, cols, [["1", "model1", "3"], ["1", "model2", "4"]]),
        "machines",
        source="m.csv",
        day=None,
    )
    with pytest.raises(ValidationError, match=r"duplicate row \(lines 2 and 3\).*machineID=1"):
        validate_table(twice, "machines", source="m.csv", day=None)


def test_required_day_without_rows(spark):
    df = typed(spark, "telemetry", TELEMETRY, GOOD_TELEMETRY)
    days = [DAY, date(2015, 1, 2)]
    with pytest.raises(ValidationError, match=r"partition 2015-01-02: no rows for 1 day"):
        validate_table(df, "telemetry", source="t", day=None, days=days, require_rows=True)


def test_row_ids_become_line_numbers_per_file(spark):
    """Frames from several files carry `_source` and a row id that is contiguous per file."""
    rows = [
        # file a: ids 0..1, file b: ids starting at 2**33 (another partition)
        ["2015-01-01 06:00:00", "1", "170", "450", "100", "40", "a.csv", 0],
        ["2015-01-01 07:00:00", "1", "170", "450", "100", "40", "a.csv", 1],
        ["2015-01-01 06:00:00", "2", "170", "450", "100", "40", "b.csv", 2**33],
        ["2015-01-01 07:00:00", "2", "170", "450", "100", "40", "b.csv", 2**33 + 1],
        ["2015-01-01 08:00:00", "2", "170", "450", "100", "4", "b.csv", 2**33 + 2],
    ]
    schema = ", ".join(f"{c} string" for c in TELEMETRY) + ", _source string, _row long"
    raw = spark.createDataFrame(rows, schema)
    df = parse_raw_table(raw, "telemetry", source="landing", day=DAY)
    with pytest.raises(ValidationError) as err:
        validate_table(df, "telemetry", source="landing", day=DAY)
    assert str(err.value).startswith("b.csv, table 'telemetry', partition 2015-01-01, line 4,")
    assert "column 'vibration'" in str(err.value)


def test_without_line_numbers_the_row_is_identified(spark):
    df = parse_raw_table(
        raw_frame(
            spark, TELEMETRY, [GOOD_TELEMETRY[0], GOOD_TELEMETRY[1][:2] + ["1"] * 4], lines=False
        ),
        "telemetry",
        source="simulator",
        day=DAY,
    )
    with pytest.raises(ValidationError) as err:
        validate_table(df, "telemetry", source="simulator", day=DAY)
    assert "row datetime=2015-01-01 07:00:00, machineID=1, column 'volt'" in str(err.value)


def test_text_columns_must_be_parsed_first(spark):
    raw = raw_frame(spark, TELEMETRY, GOOD_TELEMETRY, lines=False)
    with pytest.raises(ValidationError, match=r"column 'datetime': column has type string"):
        validate_table(raw, "telemetry", source="t", day=DAY)
