"""Validation at the door: raw tables are parsed and checked before anything downstream sees them.

A bad file must fail loudly with a message a person can act on (which source, table, partition,
line or column, what was expected), never as a Spark stack trace halfway through a feature job.
Spark runs with ANSI mode on, so parsing uses ``try_*`` functions and the first unparsable value is
reported.

Optional provenance columns travel with the rows and only serve the messages; they are dropped from
the validated result:

- ``_line``: 1-based line number in the source file (the header is line 1),
- ``_day``: the partition day the row was delivered for (a date; overrides ``day``),
- ``_source``: the file the row came from (overrides ``source``),
- ``_row``: instead of ``_line``, a row id that increases by one along each ``_source`` file (e.g.
  ``monotonically_increasing_id`` over unsplit files); turned into a line number, at the cost of
  one extra pass, only when an error is reported,
- ``_corrupt``: the raw line when the CSV reader found the wrong number of fields,
- ``_parse_error``: what ``parse_raw_table(check=False)`` could not parse, reported by
  ``validate_table`` so that parsing costs no pass of its own.

Expressions are built as SQL text: a PySpark Column expression costs a py4j round trip per call,
and building the rules call by call took longer than running them on a daily file.

Cost: a Spark job is ~0.1-0.5 s even on a tiny file, so checks are batched: ``validate_table``
runs one job that groups rows by their record key (the shuffle the duplicate check needs anyway)
and counts rule-breaking rows, repeated keys and the days present, all fixed-width aggregates.
Only when a count is not zero do further jobs find the first offender (by day and line) and its
line number. A DataFrame of known machines costs one more small job to collect its ids.
Nothing larger than one row, the day list or the machine ids comes back to the driver.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pdm_assets import schemas

LINE, ROW, DAY, SOURCE, CORRUPT = "_line", "_row", "_day", "_source", "_corrupt"
# struct<column, dtype, value>: the first field of the row that did not parse (parse_raw_table)
PARSE_ERROR = "_parse_error"
PROVENANCE_COLUMNS: tuple[str, ...] = (LINE, ROW, DAY, SOURCE, CORRUPT, PARSE_ERROR)
NOT_UTF8 = "\ufffd"  # what a UTF-8 decoder puts where bytes are not UTF-8

# Quarantined rows: kept out of the raw table, stored with the reason (see ``quarantine_table``).
REJECTED_SCHEMA = T.StructType(
    [
        T.StructField("table", T.StringType(), False),
        T.StructField("day", T.DateType(), True),
        T.StructField("source", T.StringType(), True),
        T.StructField("line", T.LongType(), True),
        T.StructField("column", T.StringType(), True),
        T.StructField("reason", T.StringType(), False),
        T.StructField("value", T.StringType(), True),
        T.StructField("record", T.StringType(), True),
    ]
)

# The published copies of the Azure data use either style; both mean UTC.
DATETIME_FORMATS: tuple[str, ...] = ("yyyy-MM-dd HH:mm:ss", "M/d/yyyy h:mm:ss a")
_DATETIME_EXPECTED = "a datetime like '2015-01-01 06:00:00' or '1/1/2015 6:00:00 AM'"

_SPARK_TYPES: dict[str, T.DataType] = {
    "timestamp": T.TimestampType(),
    "int": T.IntegerType(),
    "double": T.DoubleType(),
    "string": T.StringType(),
}
_SQL_TYPES = {"timestamp": "TIMESTAMP", "int": "INT", "double": "DOUBLE", "string": "STRING"}
_EXPECTED_BY_TYPE = {
    "UTF-8 text": "UTF-8 text (the file holds bytes that are not UTF-8: export it as UTF-8)",
    "timestamp": _DATETIME_EXPECTED,
    "int": "an integer",
    "double": "a number",
    "string": "a string",
}

_UNSET: Any = object()


class ValidationError(ValueError):
    """Raw data broke a rule; the message says where (source, table, partition, line/column) and
    what was expected, and the parts are kept as attributes for callers that want to report them."""

    def __init__(
        self,
        problem: str,
        *,
        source: str,
        table: str,
        day: date | str | None = None,
        line: int | None = None,
        column: str | None = None,
        value: Any = _UNSET,
        expected: str | None = None,
        row: dict[str, Any] | None = None,
    ) -> None:
        self.problem, self.source, self.table, self.day = problem, source, table, day
        self.line, self.column, self.expected, self.row = line, column, expected, row
        self.value = None if value is _UNSET else value
        where = [source, f"table {table!r}", f"partition {day}" if day else "unpartitioned"]
        if line is not None:
            where.append(f"line {line}")
        elif row:
            where.append("row " + ", ".join(f"{k}={v}" for k, v in row.items()))
        if column:
            where.append(f"column {column!r}")
        message = f"{', '.join(where)}: {problem}"
        if value is not _UNSET:
            message += f" (got {value!r})"
        if expected:
            message += f"; expected {expected}"
        super().__init__(message)


def table_schema(table: str) -> schemas.TableSchema:
    try:
        return schemas.ALL_TABLES[table]
    except KeyError:
        expected = sorted(schemas.ALL_TABLES)
        raise ValueError(f"unknown table {table!r}; expected one of {expected}") from None


def spark_schema(table: str) -> T.StructType:
    """The typed Spark schema of a raw table, as declared in schemas.py."""
    return T.StructType(
        [T.StructField(c.name, _SPARK_TYPES[c.dtype], True) for c in table_schema(table).columns]
    )


def string_schema(columns: Sequence[str], *, corrupt_column: bool = True) -> T.StructType:
    """All-string read schema in the file's own column order (plus the corrupt-record column)."""
    fields = [T.StructField(c, T.StringType(), True) for c in columns]
    if corrupt_column:
        fields.append(T.StructField(CORRUPT, T.StringType(), True))
    return T.StructType(fields)


def parse_datetime(col: Column) -> Column:
    """Both published datetime styles to a timestamp; NULL when neither matches (no ANSI error)."""
    text = F.trim(col)
    return F.coalesce(*[F.try_to_timestamp(text, F.lit(fmt)) for fmt in DATETIME_FORMATS])


def _parse_datetime_sql(text: str) -> str:
    """SQL for ``parse_datetime``. The ISO style goes through the fast built-in cast (about twice
    as fast as a pattern), guarded by shape so that only 'yyyy-MM-dd HH:mm:ss' takes that path."""
    t = f"trim({text})"
    shaped = f"length({t}) = 19 AND substr({t}, 11, 1) = ' '"
    iso = f"CASE WHEN {shaped} THEN try_cast({t} AS TIMESTAMP) END"
    us = f"try_to_timestamp({t}, {_lit(DATETIME_FORMATS[1])})"
    return f"coalesce({iso}, {us})"


def check_columns(
    columns: Sequence[str],
    table: str,
    *,
    source: str,
    day: date | None = None,
    line: int | None = None,
) -> None:
    """The exact column set of the schema (any order); provenance columns are ignored.
    ``line``: where the header is, when it comes from a file."""
    expected = table_schema(table).column_names
    present = [c for c in columns if c not in PROVENANCE_COLUMNS]
    dupes = sorted({c for c in present if present.count(c) > 1})
    missing = [c for c in expected if c not in present]
    extra = [c for c in present if c not in expected]
    kw = dict(source=source, table=table, day=day, line=line, expected=f"columns {expected}")
    if missing:
        raise ValidationError(f"missing column(s) {missing}", column=missing[0], **kw)
    if extra:
        raise ValidationError(f"unexpected column(s) {extra}", column=extra[0], **kw)
    if dupes:
        raise ValidationError(f"duplicate column(s) {dupes}", column=dupes[0], **kw)


def parse_raw_table(
    raw: DataFrame, table: str, *, source: str, day: date | None, check: bool = True
) -> DataFrame:
    """Check the column set and parse all-string CSV columns into the schema's types.

    Returns the typed schema columns in schema order plus the provenance columns present
    (``_line``, ``_row``, ``_day``, ``_source``), so that ``validate_table`` can still name lines.
    With ``check`` (one pass) raises ValidationError for the first malformed row or unparsable
    value (by line); without it, keeps a ``_parse_error`` column for ``validate_table`` to report.
    Blank fields become NULL (a missing value, reported by ``validate_table``).
    """
    schema = table_schema(table)
    columns = raw.columns
    check_columns(columns, table, source=source, day=day)

    typed: list[str] = []
    errors: list[str] = []  # first failing field of the row wins
    if CORRUPT in columns:
        errors.append(_parse_failure(f"{_q(CORRUPT)} IS NOT NULL", CORRUPT, "row", _q(CORRUPT)))
    for c in schema.columns:  # Spark decodes bytes that are not UTF-8 as U+FFFD
        bad_bytes = f"instr(CAST({_q(c.name)} AS STRING), {_lit(NOT_UTF8)}) > 0"
        errors.append(_parse_failure(bad_bytes, c.name, "UTF-8 text", _q(c.name)))
    for c in schema.columns:
        text = f"nullif(CAST({_q(c.name)} AS STRING), '')"  # pandas-made frames send ''
        if c.dtype == "timestamp":
            value = _parse_datetime_sql(text)
        elif c.dtype == "string":
            value = text
        else:
            value = f"try_cast({text} AS {_SQL_TYPES[c.dtype]})"
        typed.append(f"{value} AS {_q(c.name)}")
        if c.dtype != "string":
            cond = f"{text} IS NOT NULL AND {value} IS NULL"
            errors.append(_parse_failure(cond, c.name, c.dtype, text))

    keep = [_q(c) for c in (LINE, ROW, DAY, SOURCE) if c in columns]
    error = f"coalesce({', '.join(errors)})" if errors else "CAST(NULL AS STRING)"
    out = raw.selectExpr(*typed, *keep, f"{error} AS {_q(PARSE_ERROR)}")
    if not check:
        return out
    first = _scan(out, f"{_q(PARSE_ERROR)} IS NOT NULL")
    if first is not None:
        _raise_parse_error(first, table, source, day, frame=out)
    return out.drop(PARSE_ERROR)


def validate_table(
    df: DataFrame,
    table: str,
    *,
    source: str,
    day: date | None,
    known_machines: DataFrame | Collection[int] | None = None,
    days: Sequence[date] | None = None,
    require_rows: bool = False,
) -> DataFrame:
    """Check a typed raw table and return exactly the schema's columns and types, in order.

    Rules: no nulls; sensors within schemas.SENSOR_RANGES; codes from the closed vocabularies;
    machineID >= 1 and in ``known_machines`` (the inventory frame or its ids) if given; machines:
    age 0..MAX_MACHINE_AGE and unique machineID; daily tables: no duplicate (datetime, machineID[,
    code]) and every datetime inside its partition day [day 00:00, day+1 00:00) UTC. The partition
    is the row's ``_day`` when that column exists, else ``day``; ``days`` (multi-day loads without
    ``_day``) only requires each row to fall on one of those days. ``require_rows``: each of
    ``days`` (or ``day``) must have at least one row, since an empty telemetry day is a broken
    delivery, not a quiet day.
    """
    good, _ = _validate(
        df,
        table,
        source=source,
        day=day,
        known_machines=known_machines,
        days=days,
        require_rows=require_rows,
    )
    return good


def quarantine_table(
    df: DataFrame,
    table: str,
    *,
    source: str,
    day: date | None,
    known_machines: DataFrame | Collection[int] | None = None,
    days: Sequence[date] | None = None,
    require_rows: bool = False,
) -> tuple[DataFrame, DataFrame | None]:
    """``validate_table``, except that rows that are wrong on their own are set aside, not fatal.

    Set aside (returned second, as ``REJECTED_SCHEMA`` rows with the reason): a telemetry row with
    a missing, NaN or out-of-range sensor reading (a sensor glitch on one machine-hour; features
    already count the readings in each window), and the second and later copies of a row repeated
    exactly (a re-sent line; nothing is ambiguous). Everything else still rejects the partition:
    a broken format, an unknown machine or code, a row on the wrong day or two rows that disagree
    for one key are problems of the whole delivery, and guessing would change the data silently.
    Costs the same single pass as ``validate_table`` when nothing is set aside (then the second
    frame is None).
    """
    return _validate(
        df,
        table,
        source=source,
        day=day,
        known_machines=known_machines,
        days=days,
        require_rows=require_rows,
        quarantine=True,
    )


def _validate(
    df: DataFrame,
    table: str,
    *,
    source: str,
    day: date | None,
    known_machines: DataFrame | Collection[int] | None = None,
    days: Sequence[date] | None = None,
    require_rows: bool = False,
    quarantine: bool = False,
) -> tuple[DataFrame, DataFrame | None]:
    """validate_table and quarantine_table; the rejected frame is None when nothing is set aside."""
    schema = table_schema(table)
    dtypes = dict(df.dtypes)
    check_columns(list(dtypes), table, source=source, day=day)
    _check_types(dtypes, table, source=source, day=day)
    has = set(dtypes)
    daily = table in schemas.DAILY_TABLES
    wanted = sorted(set(days)) if days is not None else ([day] if day is not None else [])

    rules: list[tuple[str, str | None, str, str]] = []  # (SQL condition, column, problem, expected)
    if PARSE_ERROR in has:  # reported from the struct, see _raise_parse_error
        rules.append((f"{_q(PARSE_ERROR)} IS NOT NULL", None, "", ""))
    soft: list[tuple[str, str | None, str, str]] = []  # set aside instead of failing
    soft_columns = set(schemas.SENSOR_RANGES) if quarantine and table == "telemetry" else set()
    for c in schema.columns:
        rule = (f"{_q(c.name)} IS NULL", c.name, "missing value", "a value")
        (soft if c.name in soft_columns else rules).append(rule)
    rules.append(
        ("machineID < 1", "machineID", "machineID below 1", "a positive machine identifier")
    )
    for name, (lo, hi) in schemas.SENSOR_RANGES.items():
        if name in has:
            out = f"NOT ({_q(name)} BETWEEN {lo!r} AND {hi!r}) OR isnan({_q(name)})"
            rule = (out, name, "sensor reading out of range", f"between {lo} and {hi}")
            (soft if name in soft_columns else rules).append(rule)
    if table in schemas.CODE_COLUMNS:
        name, codes = schemas.CODE_COLUMNS[table]
        unknown = f"NOT ({_q(name)} IN ({', '.join(_lit(c) for c in codes)}))"
        rules.append((unknown, name, "unknown code", f"one of {list(codes)}"))
    if table == "machines":
        bad_age = f"NOT (age BETWEEN 0 AND {schemas.MAX_MACHINE_AGE})"
        rules.append((bad_age, "age", "bad age", f"between 0 and {schemas.MAX_MACHINE_AGE}"))
    if daily:
        outside = _outside_partition(has, day, days)
        if outside is not None:
            expected = (
                "a time within the partition day (00:00 inclusive to next day 00:00 exclusive, UTC)"
                if DAY in has or day is not None
                else f"a time on one of the requested days ({_day_range(wanted)})"
            )
            rules.append((outside, "datetime", "timestamp outside the partition", expected))
    if known_machines is not None:
        # The inventory is one row per machine: its ids as an IN-set beat a broadcast join.
        if isinstance(known_machines, DataFrame):
            known_machines = [
                r[0] for r in known_machines.selectExpr("CAST(machineID AS INT)").collect()
            ]
        ids = sorted({int(i) for i in known_machines if i is not None})
        unknown = f"NOT (machineID IN ({', '.join(map(str, ids))}))" if ids else "true"
        rules.append(
            (
                unknown,
                "machineID",
                "unknown machine",
                "a machineID listed in the machines inventory",
            )
        )

    checked = df.selectExpr("*", f"{_first_rule(rules)} AS _rule", f"{_first_rule(soft)} AS _soft")
    counts = _count_pass(checked, table, with_days=require_rows and daily)
    present = counts["days"]
    if require_rows and daily and wanted:
        missing = [d for d in wanted if d not in present]
        if missing:
            shown = ", ".join(str(d) for d in missing[:5]) + (" ..." if len(missing) > 5 else "")
            raise ValidationError(
                f"no rows for {len(missing)} day(s): {shown}",
                source=source,
                table=table,
                day=missing[0],
                expected="at least one row per partition day",
            )
    if counts["bad"]:
        first = _scan(checked.where("_rule IS NOT NULL"), "true")
        if first is None:
            raise _vanished(counts["bad"], "rule-breaking row(s)", source, table, day)
        _, name, problem, expected = rules[first["_rule"]]
        if name is None:
            _raise_parse_error(first, table, source, day, frame=df)
        raise ValidationError(
            problem,
            column=name,
            value=first[name],
            expected=expected,
            **_where(first, table, source, day, frame=df),
        )
    if counts["conflicts"] or (counts["repeats"] and not quarantine):
        _raise_duplicate(df, table, source, day, conflicting_only=quarantine)
    typed = [f"CAST({_q(c.name)} AS {_SQL_TYPES[c.dtype]}) AS {_q(c.name)}" for c in schema.columns]
    if not (counts["soft"] or counts["repeats"]):
        return df.selectExpr(*typed), None
    marked = _mark_rejects(checked, table, soft, with_repeats=counts["repeats"] > 0)
    good = marked.where("_reason IS NULL").selectExpr(*typed)
    return good, _rejected_rows(marked.where("_reason IS NOT NULL"), table, source, day)


def _first_rule(rules: Sequence[tuple[str, str | None, str, str]]) -> str:
    """SQL: index of the first rule a row breaks, NULL when none."""
    if not rules:
        return "CAST(NULL AS INT)"
    return (
        "coalesce(" + ", ".join(f"CASE WHEN {r[0]} THEN {i} END" for i, r in enumerate(rules)) + ")"
    )


def _mark_rejects(
    checked: DataFrame,
    table: str,
    soft: Sequence[tuple[str, str | None, str, str]],
    *,
    with_repeats: bool,
) -> DataFrame:
    """Adds ``_reason``, ``_column``, ``_value`` (NULL for kept rows) to a checked frame."""
    reason = ["CASE _soft"]
    column = ["CASE _soft"]
    value = ["CASE _soft"]
    for i, (_, name, problem, expected) in enumerate(soft):
        reason.append(f"WHEN {i} THEN {_lit(f'{problem}; expected {expected}')}")
        column.append(f"WHEN {i} THEN {_lit(name or '')}")
        value.append(f"WHEN {i} THEN CAST({_q(name)} AS STRING)" if name else f"WHEN {i} THEN NULL")
    if not soft:
        reason = column = value = ["CASE WHEN false THEN ''"]
    has = set(checked.columns)
    marked = checked
    if ROW in has:  # the file's first row id, for line numbers (see _rejected_rows)
        part = f"PARTITION BY {_q(SOURCE)}" if SOURCE in has else ""
        marked = marked.selectExpr("*", f"min({_q(ROW)}) OVER ({part}) AS _first_row")
    repeat = "false"
    if with_repeats:
        order = [c for c in (SOURCE, LINE, ROW) if c in has] or key_columns(table)
        group = key_columns(table) + ([DAY] if DAY in has else [])
        window = f"PARTITION BY {', '.join(map(_q, group))} ORDER BY {', '.join(map(_q, order))}"
        marked = marked.selectExpr("*", f"row_number() OVER ({window}) AS _copy")
        repeat = "_copy > 1"
    reason_sql = (
        f"CASE WHEN _soft IS NOT NULL THEN {' '.join(reason)} END "
        f"WHEN {repeat} THEN 'exact duplicate of an earlier row; one copy is kept' END"
    )
    return marked.selectExpr(
        "*",
        f"{reason_sql} AS _reason",
        f"CASE WHEN _soft IS NOT NULL THEN {' '.join(column)} END END AS _column",
        f"CASE WHEN _soft IS NOT NULL THEN {' '.join(value)} END END AS _value",
    )


def _rejected_rows(rejects: DataFrame, table: str, source: str, day: date | None) -> DataFrame:
    """Set-aside rows in ``REJECTED_SCHEMA``: where they came from, why, and the row itself."""
    has = set(rejects.columns)
    names = table_schema(table).column_names
    if LINE in has:
        line = f"CAST({_q(LINE)} AS BIGINT)"
    elif ROW in has:  # row ids count along each file: the file's first id is line 2
        line = f"{_q(ROW)} - _first_row + 2"
    else:
        line = "CAST(NULL AS BIGINT)"
    if DAY in has:
        row_day = _q(DAY)
    elif day is not None:
        row_day = f"DATE {_lit(day.isoformat())}"
    else:
        row_day = "to_date(datetime)" if "datetime" in names else "CAST(NULL AS DATE)"
    record = ", ".join(
        f"{_lit(n)}, "
        + (f"date_format({_q(n)}, 'yyyy-MM-dd HH:mm:ss')" if n == "datetime" else _q(n))
        for n in names
    )
    return rejects.selectExpr(
        f"{_lit(table)} AS `table`",
        f"{row_day} AS day",
        f"{_q(SOURCE) if SOURCE in has else _lit(source)} AS source",
        f"{line} AS line",
        "_column AS `column`",
        "_reason AS reason",
        "_value AS value",
        f"to_json(named_struct({record})) AS record",
    )


def _check_types(dtypes: dict[str, str], table: str, *, source: str, day: date | None) -> None:
    """Typed input only: integer widths may differ (pandas int64), text must be parsed first."""
    for c in table_schema(table).columns:
        got = dtypes[c.name]
        ok = got == c.dtype or (
            c.dtype in ("int", "double") and got in ("tinyint", "smallint", "int", "bigint")
        )
        if not ok:
            raise ValidationError(
                f"column has type {got}",
                source=source,
                table=table,
                day=day,
                column=c.name,
                expected=f"type {c.dtype} (parse CSV text with parse_raw_table first)",
            )


def key_columns(table: str) -> list[str]:
    """The columns that identify one record: a repeat of them is a duplicate delivery."""
    if table == "machines":
        return ["machineID"]
    code = schemas.CODE_COLUMNS.get(table)
    return ["datetime", "machineID"] + ([code[0]] if code else [])


def _count_pass(checked: DataFrame, table: str, *, with_days: bool) -> dict[str, Any]:
    """One Spark job for all row rules, duplicates and the days present, on a happy path.

    Returns counts of rule-breaking rows (``bad``), rows to set aside (``soft``), keys repeated
    with identical rows (``repeats``) or with differing ones (``conflicts``), and ``days``.

    Rows are grouped by their record key (the duplicate check needs that shuffle anyway) and only
    counted: fixed-width aggregates stay in Spark's fast hash aggregation, where carrying the
    offending row along (a struct) would force a sort-based one. Details are fetched only when
    something is wrong.
    """
    has = set(checked.columns)
    group = key_columns(table) + ([DAY] if DAY in has else [])
    values = f"xxhash64({', '.join(_q(c) for c in table_schema(table).column_names)})"
    per_key = checked.groupBy(*group).agg(
        F.expr("count(1) AS _n"),
        F.expr("count_if(_rule IS NOT NULL) AS _bad"),
        F.expr("count_if(_soft IS NOT NULL) AS _soft"),
        F.expr(f"min({values}) AS _hmin"),
        F.expr(f"max({values}) AS _hmax"),
    )
    totals = [
        "coalesce(sum(_bad), 0) AS bad",
        "coalesce(sum(_soft), 0) AS soft",
        "count_if(_n > 1 AND _hmin = _hmax) AS repeats",
        "count_if(_n > 1 AND _hmin != _hmax) AS conflicts",
    ]
    if with_days:
        totals.append(f"collect_set({_q(DAY) if DAY in has else 'to_date(datetime)'}) AS days")
    result = per_key.selectExpr(*totals).first().asDict()
    result["days"] = set(result["days"]) if with_days else set()
    return result


def _raise_duplicate(
    df: DataFrame, table: str, source: str, day: date | None, *, conflicting_only: bool = False
) -> None:
    keys = key_columns(table)
    has = set(df.columns)
    pos = LINE if LINE in has else ROW if ROW in has else None
    values = f"xxhash64({', '.join(_q(c) for c in table_schema(table).column_names)})"
    aggs = ["count(1) AS _n", f"count(DISTINCT {values}) AS _variants"]
    if pos:
        aggs += [f"min({_q(pos)}) AS {_q(pos)}", f"max({_q(pos)}) AS _last"]
    if SOURCE in has:
        aggs.append(f"min({_q(SOURCE)}) AS {_q(SOURCE)}")
    group = keys + ([DAY] if DAY in has else [])
    flag = "_variants > 1" if conflicting_only else "_n > 1"
    dupe = _scan(df.groupBy(*group).agg(*[F.expr(a) for a in aggs]), flag)
    if dupe is None:
        raise _vanished(1, "duplicate key(s)", source, table, day)
    kw = _where(dupe, table, source, day, frame=df)
    problem = "duplicate row"
    if kw["line"] is not None and pos:
        problem += f" (lines {kw['line']} and {kw['line'] + dupe['_last'] - dupe[pos]})"
    kw["line"] = kw["row"] = None  # the problem names the lines; the key names the row
    key = ", ".join(f"{k}={dupe[k]}" for k in keys)
    raise ValidationError(
        f"{problem}: {dupe['_n']} rows with {key}"
        + (
            f" that conflict ({dupe['_variants']} different values)"
            if dupe["_variants"] > 1
            else ""
        ),
        column=", ".join(keys),
        expected=f"one row per ({', '.join(keys)})",
        **kw,
    )


def _vanished(n: int, what: str, source: str, table: str, day: date | None) -> ValidationError:
    return ValidationError(
        f"{n} {what} found, but gone when read again",
        source=source,
        table=table,
        day=day,
        expected="input that does not change while it is read (files replaced mid-read?)",
    )


def _payload(fields: Sequence[T.StructField]) -> str:
    """SQL struct of a row that sorts by (day, file, line), else by time. Timestamps become UTC
    text here, since Python would convert them to local time."""
    names = [f.name for f in fields]
    order = [c for c in (DAY, SOURCE, LINE, ROW) if c in names] or [
        c for c in ("datetime", "machineID") if c in names
    ]
    parts = [f"{_lit(f'_order{i}')}, {_q(c)}" for i, c in enumerate(order)]
    for f in fields:
        value = _q(f.name)
        if isinstance(f.dataType, T.TimestampType):
            value = f"date_format({value}, 'yyyy-MM-dd HH:mm:ss')"
        parts.append(f"{_lit(f.name)}, {value}")
    return f"named_struct({', '.join(parts)})"


def _scan(frame: DataFrame, flag: str) -> dict[str, Any] | None:
    """The first flagged row by (day, file, line), in one aggregation: no sort, no collect."""
    payload = _payload(frame.schema.fields)
    result = frame.selectExpr(f"min(CASE WHEN {flag} THEN {payload} END) AS _first").first()
    return result["_first"].asDict(recursive=True) if result["_first"] is not None else None


def _parse_failure(cond: str, column: str, dtype: str, value: str) -> str:
    info = f"named_struct('column', {_lit(column)}, 'dtype', {_lit(dtype)}, 'value', {value})"
    return f"CASE WHEN {cond} THEN {info} END"


def _raise_parse_error(
    first: dict[str, Any], table: str, source: str, day: date | None, *, frame: DataFrame
) -> None:
    err = first[PARSE_ERROR]
    kw = _where(first, table, source, day, frame=frame)
    if err["dtype"] == "UTF-8 text":
        raise ValidationError(
            "bytes that are not UTF-8",
            column=err["column"],
            value=err["value"],
            expected=_EXPECTED_BY_TYPE[err["dtype"]],
            **kw,
        )
    if err["column"] == CORRUPT:
        n = len(table_schema(table).columns)
        kw["row"] = None  # the parsed fields of a malformed row mean nothing
        raise ValidationError("malformed row", value=err["value"], expected=f"{n} fields", **kw)
    raise ValidationError(
        f"cannot parse value as {err['dtype']}",
        column=err["column"],
        value=err["value"],
        expected=_EXPECTED_BY_TYPE[err["dtype"]],
        **kw,
    )


def _outside_partition(has: set[str], day: date | None, days: Sequence[date] | None) -> str | None:
    if DAY in has:
        start = f"CAST({_q(DAY)} AS TIMESTAMP)"
    elif day is not None:
        start = f"CAST(DATE {_lit(day.isoformat())} AS TIMESTAMP)"  # UTC session time zone
    elif days is not None:
        listed = ", ".join(f"DATE {_lit(d.isoformat())}" for d in sorted(set(days)))
        return f"NOT (to_date(datetime) IN ({listed}))"
    else:
        return None
    return f"datetime < {start} OR datetime >= {start} + INTERVAL 1 DAY"


def _where(
    row: dict[str, Any],
    table: str,
    source: str,
    day: date | None,
    *,
    frame: DataFrame | None = None,
) -> dict[str, Any]:
    """Location keywords for ValidationError: per-row provenance wins over the call's defaults."""
    row_day = row.get(DAY) or day
    if row_day is None and table in schemas.DAILY_TABLES and isinstance(row.get("datetime"), str):
        row_day = row["datetime"][:10]
    ident = {k: row[k] for k in ("datetime", "machineID") if row.get(k) is not None}
    line = row.get(LINE)
    if line is None and row.get(ROW) is not None and frame is not None:
        line = _line_from_row_id(frame, row)
    return dict(
        source=row.get(SOURCE) or source,
        table=table,
        day=row_day,
        line=line,
        row=ident or None,
    )


def _line_from_row_id(frame: DataFrame, row: dict[str, Any]) -> int:
    """Line = row id - first row id of the same file + 2 (line 1 is the header)."""
    same_file = frame.where(f"{_q(SOURCE)} = {_lit(row[SOURCE])}") if row.get(SOURCE) else frame
    first_id = same_file.selectExpr(f"min({_q(ROW)})").first()[0]
    return int(row[ROW] - first_id + 2)


def _q(name: str) -> str:
    """A quoted SQL identifier."""
    return "`" + name.replace("`", "``") + "`"


def _lit(value: str) -> str:
    """A SQL string literal (Spark unescapes backslashes inside quotes)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _day_range(days: Sequence[date]) -> str:
    ordered = sorted(set(days))
    if not ordered:
        return "none"
    return str(ordered[0]) if len(ordered) == 1 else f"{ordered[0]}..{ordered[-1]}"
