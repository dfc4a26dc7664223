"""Machine features on an hourly grid, computed so that a daily partition equals a full recompute.

Every feature of a grid row at time T is a function of records at or before T only, and of a bounded
lookback (7 days of telemetry for the machine's own baseline, 7 days of errors, the maintenance
history). That is what lets a daily partition, given just its lookback slice, produce exactly the
rows a recompute of the whole year produces, and what keeps the model from seeing the future (the
Azure reference rounded timestamps to the nearest 12 h and so leaked up to 5 h of future telemetry
into each row).

Time is handled as integer microseconds since the epoch (UTC) and hourly *blocks*: block k is the
interval ((k-1)h, kh], so the grid row at T = kh owns block k. Each feature family contributes
rows keyed by machine and time to one union that is shuffled once by machine and aggregated per
(machine, time); every window (the telemetry statistics, the running "last replacement" and "last
error") then scans each machine's rows in time order without another shuffle, and no record is
ever joined against grid rows.

Functions taking a `grid` expect rows on the hourly grid, one per (machineID, datetime), e.g. from
feature_grid; they return the grid's rows and columns plus their own. Inputs may be larger than
needed, but only machine_features trims them to the lookback before aggregating.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import reduce

from pyspark.sql import Column, DataFrame, SparkSession, Window, WindowSpec
from pyspark.sql import functions as F

from pdm_assets.schemas import COMPONENTS, ERROR_CODES, MACHINE_MODELS, SENSORS

GRID_HOURS = 1
HOUR_US = 3_600_000_000
GRID_US = GRID_HOURS * HOUR_US
# add_to_grid's shuffle: at least one partition per this many grid rows (see grid_partitions).
GRID_ROWS_PER_PARTITION = 250_000
DAY_US = 24 * HOUR_US
DEFAULT_WINDOWS_HOURS: tuple[int, ...] = (12, 24, 36)
DEFAULT_ERROR_WINDOW_HOURS = 24
# Longer error windows (counts) and the cap of "hours since the last error" (a bounded lookback).
ERROR_COUNT_WINDOWS_HOURS: tuple[int, ...] = (24, 48, 168)
ERROR_SINCE_CAP_HOURS = 168
# The machine's own baseline: readings in (T - 168 h, T - 48 h], i.e. the week before a precursor
# (which starts about 48 h before a failure) could have shifted it.
BASELINE_HOURS = 168
BASELINE_GAP_HOURS = 48
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --- time helpers (shared with labels.py) -------------------------------------------------------


def to_utc(value: datetime | date) -> datetime:
    """An aware UTC datetime. Naive values are read as UTC (the project's convention, whatever the
    machine's zone); a plain date means its midnight."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def epoch_us(value: datetime | date) -> int:
    """Exact integer microseconds since the epoch (no float rounding, unlike .timestamp())."""
    delta = to_utc(value) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def micros(column: str | Column) -> Column:
    col = F.col(column) if isinstance(column, str) else column
    # Cast first so a TIMESTAMP_NTZ input is read in the session zone (UTC) instead of failing.
    return F.unix_micros(col.cast("timestamp"))


def utc_day(column: str | Column = "datetime") -> Column:
    """The UTC calendar day of a timestamp, whatever the session time zone."""
    us = micros(column)
    return F.date_from_unix_date(((us - F.pmod(us, F.lit(DAY_US))) / F.lit(DAY_US)).cast("int"))


def partition_day(column: str | Column = "datetime") -> Column:
    """The daily partition key (``YYYY-MM-DD``, UTC) a timestamp belongs to."""
    return F.date_format(utc_day(column), "yyyy-MM-dd")


def ceil_div(us: Column, divisor: int) -> Column:
    """Exact integer ceil(us / divisor) for any sign (Spark's `/` is floating point)."""
    rem = F.pmod(us, F.lit(divisor))
    # us - rem is an exact multiple of divisor, so the double quotient is an exact integer.
    return ((us - rem) / F.lit(divisor)).cast("long") + F.when(rem > 0, 1).otherwise(0)


def grid_index(column: str | Column = "datetime") -> Column:
    """Block index k of a timestamp: the grid time k*grid is the first grid time at or after it."""
    return ceil_div(micros(column), GRID_US)


def grid_range(start: datetime | date, end: datetime | date) -> tuple[int, int]:
    """(first block index, number of grid times) for grid times T with start <= T < end."""
    first = -(-epoch_us(start) // GRID_US)
    stop = -(-epoch_us(end) // GRID_US)
    return first, max(0, stop - first)


def spread_to_grid(us: Column, lo_offset_us: int, hi_offset_us: int) -> Column:
    """Grid indices k with us + lo_offset_us <= k*grid < us + hi_offset_us, as an exploded column.

    This is how a sparse event reaches every grid row whose window contains it, without a range
    join: an event at t is inside (T - w, T] exactly when t <= T < t + w.
    """
    lo = ceil_div(us + F.lit(lo_offset_us), GRID_US)
    hi = ceil_div(us + F.lit(hi_offset_us), GRID_US) - 1
    return F.explode(F.when(lo <= hi, F.sequence(lo, hi)))


# --- one shuffle for all feature families -------------------------------------------------------


@dataclass
class GridFamily:
    """What one feature family contributes to the grid rows (a building block of this package).

    `parts` has machineID, either _k (block index: the row counts at grid time k*grid) or _us (an
    exact time in microseconds, for raw readings that windows must see one by one), and the
    family's own underscore-prefixed columns; `aggregates` combine them per (machineID, time);
    `running` names aggregated columns to carry forward over earlier times (max, as
    `<name>_upto`); `prepare` are successive projections of helper columns (window functions over
    the machine's rows in time order, or a named intermediate computed once, not inlined into
    every use); `outputs` are the final columns.
    """

    parts: DataFrame
    aggregates: list[Column]
    outputs: list[Column]
    running: list[str] = field(default_factory=list)
    prepare: list[list[Column]] = field(default_factory=list)


def by_time() -> WindowSpec:
    """A machine's rows in time order: the one ordering every window of add_to_grid uses, so they
    all share the partitioning and the sort of its single shuffle."""
    return Window.partitionBy("machineID").orderBy("_us")


def add_to_grid(
    grid: DataFrame, families: Sequence[GridFamily], grid_rows: int | None = None
) -> DataFrame:
    """The grid's rows and columns plus every family's outputs.

    One union of grid rows and family parts, shuffled once by machine: the aggregation per
    (machine, time), the running maxima and every window reuse that partitioning. A reading at
    exactly a grid time shares the grid row, so hourly readings on an hourly grid add no rows.
    Grid times must be multiples of the grid step and unique per machine; rows of machines absent
    from the grid are dropped. With `grid_rows` (the grid's size, when the caller knows it), the
    shuffle has at least one partition per GRID_ROWS_PER_PARTITION rows (see grid_partitions).
    """
    rows = grid.select("*", micros("datetime").alias("_us"), F.lit(True).alias("_grid"))
    parts = [f.parts if "_us" in f.parts.columns else _at_block_time(f.parts) for f in families]
    union = reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), [rows, *parts])
    carried = [c for c in grid.columns if c != "machineID"]
    partitions = grid_partitions(grid.sparkSession, grid_rows)
    shuffled = (
        union.repartition(partitions, "machineID") if partitions else union.repartition("machineID")
    )
    combined = shuffled.groupBy("machineID", "_us").agg(
        F.max("_grid").alias("_grid"),
        # Exactly one grid row per (machine, time): first non-null is that row's value.
        *(F.first(c, ignorenulls=True).alias(c) for c in carried),
        *(a for f in families for a in f.aggregates),
    )
    running = [c for f in families for c in f.running]
    if running:
        upto = by_time().rowsBetween(Window.unboundedPreceding, Window.currentRow)
        combined = combined.select("*", *(F.max(c).over(upto).alias(f"{c}_upto") for c in running))
    for stage in (stage for f in families for stage in f.prepare):
        combined = combined.select("*", *stage)
    return combined.filter(F.col("_grid")).select(
        *grid.columns, *(o for f in families for o in f.outputs)
    )


def grid_partitions(spark: SparkSession, grid_rows: int | None) -> int | None:
    """Partitions for add_to_grid's shuffle of `grid_rows` rows, when the session's
    `spark.sql.shuffle.partitions` is too few for them (else None: keep the session's, which
    adaptive execution may coalesce).

    The shuffle carries every grid row with all its aggregates (about 100 columns): a year of
    1,000 machines (8.8 M rows) in 4 partitions ran out of a 2 GB heap. Sizing only this shuffle
    keeps small runs (the demo, the tests) on the few partitions that suit them.
    """
    if not grid_rows:
        return None
    default = int(spark.conf.get("spark.sql.shuffle.partitions"))
    wanted = -(-grid_rows // GRID_ROWS_PER_PARTITION)
    return wanted if wanted > default else None


def _at_block_time(parts: DataFrame) -> DataFrame:
    """Block-keyed parts moved to their grid time, the key add_to_grid groups by."""
    return parts.withColumn("_us", F.col("_k") * F.lit(GRID_US)).drop("_k")


# --- public API ---------------------------------------------------------------------------------


def required_input_windows(
    start: datetime | date,
    end: datetime | date,
    windows_hours: Sequence[int] = DEFAULT_WINDOWS_HOURS,
    error_window_hours: int = DEFAULT_ERROR_WINDOW_HOURS,
) -> dict[str, tuple[datetime | None, datetime]]:
    """Half-open [lo, hi) datetime ranges of each input that rows in [start, end) can depend on.

    Supersets by at most one instant (the windows are open on the left), so an asset can map them
    to whole daily partitions. None means "from the beginning of the record".
    """
    lo, hi = to_utc(start), to_utc(end)
    return {
        "telemetry": (lo - timedelta(hours=max(*windows_hours, BASELINE_HOURS)), hi),
        "errors": (
            lo
            - timedelta(
                hours=max(error_window_hours, *ERROR_COUNT_WINDOWS_HOURS, ERROR_SINCE_CAP_HOURS)
            ),
            hi,
        ),
        "maintenance": (None, hi),
    }


def feature_columns(
    windows_hours: Sequence[int] = DEFAULT_WINDOWS_HOURS,
    error_window_hours: int = DEFAULT_ERROR_WINDOW_HOURS,
) -> list[str]:
    """The numeric model inputs of machine_features, in a stable order."""
    windows = _windows(windows_hours)
    return [
        *(f"is_{m}" for m in MACHINE_MODELS),
        "age",
        *_stat_columns(windows),
        *_baseline_columns(),
        *_deviation_columns(windows),
        *(c for w in _error_windows(error_window_hours) for c in _error_columns(w)),
        *(f"{e}_hours_since" for e in ERROR_CODES),
        *(f"{c}_days_since_replacement" for c in COMPONENTS),
    ]


def _error_windows(error_window_hours: int) -> list[int]:
    return sorted({error_window_hours, *ERROR_COUNT_WINDOWS_HOURS})


def _baseline_columns() -> list[str]:
    return [f"{s}_{stat}" for s in SENSORS for stat in ("base_mean", "base_std")]


def _deviation_columns(windows: list[int]) -> list[str]:
    return [f"{s}_dev_{w}h" for s in SENSORS for w in windows]


def _stat_columns(windows: list[int]) -> list[str]:
    return [f"{s}_{stat}_{w}h" for w in windows for s in SENSORS for stat in ("mean", "std")]


def _error_columns(window_hours: int) -> list[str]:
    return [f"{e}_count_{window_hours}h" for e in ERROR_CODES]


def _windows(windows_hours: Sequence[int]) -> list[int]:
    windows = sorted(set(int(w) for w in windows_hours))
    if not windows or any(w <= 0 or w % GRID_HOURS for w in windows):
        raise ValueError(
            f"rolling windows must be positive multiples of {GRID_HOURS} h (whole grid blocks), "
            f"got {list(windows_hours)}"
        )
    return windows


FEATURE_COLUMNS: list[str] = feature_columns()
# Data-quality columns: not model inputs, but they say how much each statistic rests on.
READINGS_COLUMNS: list[str] = [f"readings_{w}h" for w in DEFAULT_WINDOWS_HOURS]


def feature_grid(machines: DataFrame, start: datetime | date, end: datetime | date) -> DataFrame:
    """Rows (machineID, datetime=T) for every machine and every T on the hourly UTC grid with
    start <= T < end. The times are generated in Spark from integers (no join, and no Python
    datetime conversion that could depend on the local time zone)."""
    first, count = grid_range(start, end)
    if count == 0:
        machines = machines.limit(0)  # sequence(first, first - 1) would count down, not be empty
    blocks = F.sequence(F.lit(first), F.lit(first + max(count, 1) - 1))
    times = F.transform(blocks, lambda k: F.timestamp_micros(k * F.lit(GRID_US)))
    return machines.select("machineID", F.explode(times).alias("datetime"))


def open_grid_end(telemetry: DataFrame, day: date) -> datetime:
    """Where the grid of a day still being delivered ends (exclusive): just after the hour of its
    newest reading, the day's start without one.

    A row at T needs every record at or before T; the open day's hours land in order, so a
    reading at t means everything up to t's hour has landed, and T = that hour is the last row
    that can be computed now. Each later hour adds its row, equal to the row the closed day
    gets (a row never changes once its hour has landed, unless a correction rewrites the day).
    """
    lo = epoch_us(day)
    us = micros("datetime")
    newest = (
        telemetry.filter((us >= F.lit(lo)) & (us < F.lit(lo + DAY_US))).agg(F.max(us)).first()[0]
    )
    if newest is None:
        return to_utc(day)
    return _EPOCH + timedelta(microseconds=(newest // GRID_US + 1) * GRID_US)


def rolling_telemetry_stats(
    telemetry: DataFrame,
    grid: DataFrame,
    windows_hours: Sequence[int] = DEFAULT_WINDOWS_HOURS,
) -> DataFrame:
    """The grid's columns plus, per window w, `{sensor}_mean_{w}h`, `{sensor}_std_{w}h` (sample
    std) and `readings_{w}h`, over readings with T - w < datetime <= T.

    The window is time-based: a gap in the telemetry shrinks it, it never reaches further back.
    A mean over 0 readings and a std over fewer than 2 are null. Windows must be whole hours.

    Each statistic comes from exact integer sums over the window (see _telemetry_family), so it
    depends only on the readings inside the window, not on how the input was split, and keeps
    full precision even when the spread is tiny next to the level.
    """
    return add_to_grid(grid, [_telemetry_family(telemetry, _windows(windows_hours))])


# Readings in integer units of 2^-40 (about 1e-12): sums and sums of squares are then exact. A
# reading's only rounding is to that unit; decimal(38, 0) holds a century of hourly squares of
# readings up to 1e3 (validation keeps every sensor at or below 800).
READING_UNITS = 2**40


def _window_stats(hi: str, lo: str | None, sensor: str) -> tuple[str, str]:
    """SQL for (mean, sample std) of a sensor over the readings counted at frame ``hi`` but not
    at frame ``lo`` (both running totals from the first row): exact integer differences, so the
    result is the same wherever the input started. SQL text, not Column calls: building the ~100
    expressions of the family through py4j cost seconds per run."""

    def window(name: str) -> str:
        total = f"{name}_{sensor}_{hi}"
        return total if lo is None else f"({total} - coalesce({name}_{sensor}_{lo}, 0))"

    n, s1, s2 = window("_n"), f"coalesce({window('_s1')}, 0)", f"coalesce({window('_s2')}, 0)"
    units = _double_literal(READING_UNITS)
    mean = f"CASE WHEN {n} > 0 THEN CAST({s1} AS DOUBLE) / (CAST({n} AS DOUBLE) * {units}) END"
    # n * sum(x^2) - sum(x)^2 is an exact integer, never negative: a constant window gives 0.0.
    big_s1 = f"CAST({s1} AS DECIMAL(38,0))"
    spread = f"CAST({n} AS DECIMAL(38,0)) * {s2} - {big_s1} * {big_s1}"
    variance = (
        f"CAST({spread} AS DOUBLE) / (CAST({n} * ({n} - 1) AS DOUBLE) * "
        f"{_double_literal(READING_UNITS**2)})"
    )
    return mean, f"CASE WHEN {n} > 1 THEN sqrt({variance}) END"


def _double_literal(value: float) -> str:
    return repr(float(value)).upper().replace("E+", "E") + "D"


def _running_frame(upper: str) -> str:
    """A machine's rows in time order (as ``by_time``) from its first row to ``upper``."""
    return f"PARTITION BY machineID ORDER BY _us RANGE BETWEEN UNBOUNDED PRECEDING AND {upper}"


def _telemetry_family(
    telemetry: DataFrame, windows: list[int], baseline: bool = False
) -> GridFamily:
    # Each window (T - w, T] is the running total at T minus the running total at T - w. Running
    # totals (frames from the machine's first row) cost one pass per row whatever the window's
    # length, where a sliding frame re-aggregates its whole buffer at every row; with readings as
    # integers (units of 2^-40) the totals and their differences are exact, so the result does not
    # depend on where the input started. Readings are unique per (machine, time).
    units = _double_literal(READING_UNITS)
    parts = telemetry.select(
        "machineID",
        micros("datetime").alias("_us"),
        F.lit(1).alias("_t_reading"),
        *(
            F.expr(f"CAST(round(CAST({s} AS DOUBLE) * {units}) AS BIGINT)").alias(f"_t_{s}")
            for s in SENSORS
        ),
    )
    # At most one reading per time: max is that reading (or null without one).
    aggregates = [F.max(c).alias(c) for c in ("_t_reading", *(f"_t_{s}" for s in SENSORS))]
    # Frames: "upto" = rows at or before T; "before_h" = rows at or before T - h hours.
    offsets = sorted({*windows, *((BASELINE_GAP_HOURS, BASELINE_HOURS) if baseline else ())})
    frames = {"upto": _running_frame("CURRENT ROW")}
    frames |= {f"before_{h}": _running_frame(f"{h * HOUR_US}L PRECEDING") for h in offsets}
    totals: list[str] = []
    for name, frame in frames.items():
        totals.append(f"count(_t_reading) OVER ({frame}) AS _n_reading_{name}")
        for s in SENSORS:
            square = f"CAST(_t_{s} AS DECIMAL(38,0)) * CAST(_t_{s} AS DECIMAL(38,0))"
            totals += [
                f"count(_t_{s}) OVER ({frame}) AS _n_{s}_{name}",
                f"sum(_t_{s}) OVER ({frame}) AS _s1_{s}_{name}",
                f"sum({square}) OVER ({frame}) AS _s2_{s}_{name}",
            ]

    stats: list[str] = []
    for w in windows:
        lo = f"before_{w}"
        stats.append(
            f"CAST(_n_reading_upto - coalesce(_n_reading_{lo}, 0) AS INT) AS readings_{w}h"
        )
        for s in SENSORS:
            mean, std = _window_stats("upto", lo, s)
            stats += [f"{mean} AS {s}_mean_{w}h", f"{std} AS {s}_std_{w}h"]
    deviations: list[str] = []
    if baseline:
        # T - 168 h < t <= T - 48 h
        hi, lo = f"before_{BASELINE_GAP_HOURS}", f"before_{BASELINE_HOURS}"
        for s in SENSORS:
            mean, std = _window_stats(hi, lo, s)
            stats += [f"{mean} AS {s}_base_mean", f"{std} AS {s}_base_std"]
            deviations += [
                f"CASE WHEN {s}_base_std > 0 "
                f"THEN ({s}_mean_{w}h - {s}_base_mean) / {s}_base_std END AS {s}_dev_{w}h"
                for w in windows
            ]
    return GridFamily(
        parts=parts,
        aggregates=aggregates,
        prepare=[[F.expr(e) for e in totals], [F.expr(e) for e in stats]],
        outputs=[F.col(c) for c in _stat_columns(windows)]
        + ([F.col(c) for c in _baseline_columns()] if baseline else [])
        + [F.expr(e) for e in deviations]
        + [F.col(f"readings_{w}h") for w in windows],
    )


def error_counts(
    errors: DataFrame, grid: DataFrame, window_hours: int = DEFAULT_ERROR_WINDOW_HOURS
) -> DataFrame:
    """The grid's columns plus `error1_count_{w}h` … `error5_count_{w}h` (int, 0 when none): errors
    with T - w < datetime <= T. Unknown error codes are ignored (validation reports them)."""
    return add_to_grid(grid, [_error_family(errors, window_hours)])


def _error_family(
    errors: DataFrame, window_hours: int | Sequence[int], since_cap_hours: int | None = None
) -> GridFamily:
    """Error counts per window and, with since_cap_hours, `{e}_hours_since` = hours since the last
    error of that code at or before T, capped at since_cap_hours (also when there is none): the cap
    is what keeps it a bounded lookback, so a partition with that much error history equals a
    recompute.

    Errors stay at their own time. A window's count is the running count up to T minus the running
    count up to T - w: both frames start at the machine's first row and only grow, so each costs
    one pass whatever the window, and integer counts are exact whatever the input's start.
    """
    windows = [window_hours] if isinstance(window_hours, int | float) else list(window_hours)
    if not windows or any(w <= 0 for w in windows):
        raise ValueError(f"error window must be positive, got {window_hours} h")
    error_us = micros("datetime")
    parts = errors.filter(F.col("errorID").isin(*ERROR_CODES)).select(
        "machineID",
        error_us.alias("_us"),
        *(F.when(F.col("errorID") == e, 1).alias(f"_e_{e}") for e in ERROR_CODES),
        *(F.when(F.col("errorID") == e, error_us).alias(f"_s_{e}") for e in ERROR_CODES),
    )
    aggregates = [F.count(f"_e_{e}").alias(f"_e_{e}") for e in ERROR_CODES]
    # SQL text, as in _telemetry_family: one py4j call per expression.
    upto = _running_frame("CURRENT ROW")
    counts = [f"sum(_e_{e}) OVER ({upto}) AS _e_{e}_upto" for e in ERROR_CODES]
    outputs: list[str] = []
    for w in windows:
        before = _running_frame(f"{round(w * HOUR_US)}L PRECEDING")
        counts += [f"sum(_e_{e}) OVER ({before}) AS _e_{e}_before_{w}" for e in ERROR_CODES]
        outputs += [
            f"CAST(coalesce(_e_{e}_upto, 0) - coalesce(_e_{e}_before_{w}, 0) AS INT) AS {name}"
            for e, name in zip(ERROR_CODES, _error_columns(w), strict=True)
        ]
    running: list[str] = []
    if since_cap_hours is not None:
        aggregates += [F.max(f"_s_{e}").alias(f"_s_last_{e}") for e in ERROR_CODES]
        running = [f"_s_last_{e}" for e in ERROR_CODES]
        t_us = "unix_micros(CAST(datetime AS TIMESTAMP))"  # micros("datetime")
        hour, cap = _double_literal(HOUR_US), _double_literal(since_cap_hours)
        outputs += [
            f"least(coalesce(CAST({t_us} - _s_last_{e}_upto AS DOUBLE) / {hour}, {cap}), {cap}) "
            f"AS {e}_hours_since"
            for e in ERROR_CODES
        ]
    return GridFamily(
        parts=parts,
        aggregates=aggregates,
        outputs=[F.expr(e) for e in outputs],
        running=running,
        prepare=[[F.expr(e) for e in counts]],
    )


def days_since_replacement(
    maintenance_history: DataFrame, grid: DataFrame, unknown_since: datetime | date
) -> DataFrame:
    """The grid's columns plus `comp1_days_since_replacement` … (double, fractional days) since the
    last replacement of that component at or before T (one exactly at T gives 0.0; later ones are
    ignored).

    Unknown-replacement rule: a component with no replacement on record at or before T counts as
    replaced at `unknown_since`, the start of the maintenance record (a fixed date), so the value
    is (T - unknown_since) in days. A fixed date, rather than e.g. the first day of the data passed
    in, is what makes every partition compute the same number; it is negative for T before it.

    Records are bucketed to the first grid time at or after them, reduced to the last per
    (machine, block) before the shuffle, and carried forward with a running max over each
    machine's blocks: there is no join of the history against grid rows.
    """
    return add_to_grid(grid, [_maintenance_family(maintenance_history, unknown_since)])


def _maintenance_family(
    history: DataFrame,
    unknown_since: datetime | date,
    first_block: int | None = None,
    last_us: int | None = None,
) -> GridFamily:
    """With first_block, records before the grid all land in its first block, so the partial
    aggregation shrinks a long history to one row per machine before anything is shuffled."""
    unknown_us = epoch_us(unknown_since)
    records = history.filter(F.col("comp").isin(*COMPONENTS))
    block = grid_index()
    if first_block is not None:
        block = F.greatest(block, F.lit(first_block).cast("long"))
    if last_us is not None:
        records = records.filter(micros("datetime") <= F.lit(last_us))
    parts = records.groupBy("machineID", block.alias("_k")).agg(
        *(
            F.max(F.when(F.col("comp") == c, micros("datetime"))).alias(f"_m_{c}")
            for c in COMPONENTS
        )
    )
    t_us = micros("datetime")
    return GridFamily(
        parts=parts,
        aggregates=[F.max(f"_m_{c}").alias(f"_m_last_{c}") for c in COMPONENTS],
        running=[f"_m_last_{c}" for c in COMPONENTS],
        outputs=[
            (
                (t_us - F.coalesce(F.col(f"_m_last_{c}_upto"), F.lit(unknown_us))).cast("double")
                / F.lit(float(DAY_US))
            ).alias(f"{c}_days_since_replacement")
            for c in COMPONENTS
        ],
    )


def machine_features(
    telemetry: DataFrame,
    errors: DataFrame,
    maintenance_history: DataFrame,
    machines: DataFrame,
    start: datetime | date,
    end: datetime | date,
    unknown_since: datetime | date,
    *,
    windows_hours: Sequence[int] = DEFAULT_WINDOWS_HOURS,
    error_window_hours: int = DEFAULT_ERROR_WINDOW_HOURS,
) -> DataFrame:
    """The feature table for grid rows start <= T < end, one row per machine in `machines` (one row
    per machineID expected) and grid time.

    Columns: machineID, datetime (= T), model, is_model1..4, age, the rolling stats, error counts,
    days since replacement (see feature_columns()), readings_{w}h and partial_window (fewer than
    one reading per hour in the longest window).

    Zero-readings rule: a row whose longest window holds no telemetry is kept, with null stats and
    partial_window true, so every (machine, T) has a row and the gap stays visible; the model step
    decides whether to drop or impute it.

    The inputs may hold more than needed (each is trimmed here to what rows in [start, end) can
    see), but must hold the lookback: telemetry since start - max window, errors since
    start - error window, and the maintenance history up to end (see required_input_windows).
    """
    windows = _windows(windows_hours)
    first, count = grid_range(start, end)
    first_us, last_us = first * GRID_US, (first + count - 1) * GRID_US

    def within(df: DataFrame, lookback_us: int) -> DataFrame:
        us = micros("datetime")
        return df.filter((us > F.lit(first_us - lookback_us)) & (us <= F.lit(last_us)))

    families = [
        _telemetry_family(
            within(telemetry, max(windows[-1], BASELINE_HOURS) * HOUR_US), windows, baseline=True
        ),
        _error_family(
            within(
                errors, max(*_error_windows(error_window_hours), ERROR_SINCE_CAP_HOURS) * HOUR_US
            ),
            _error_windows(error_window_hours),
            ERROR_SINCE_CAP_HOURS,
        ),
        _maintenance_family(maintenance_history, unknown_since, first, last_us),
    ]
    grid_rows = machines.count() * count  # a count of the small inventory
    rows = add_to_grid(feature_grid(machines, start, end), families, grid_rows)
    # Machine attributes join afterwards (a broadcast of the small inventory): a string carried
    # through the combining aggregation would force it to sort instead of hash.
    rows = rows.join(F.broadcast(machines.select("machineID", "model", "age")), "machineID")

    longest = f"readings_{windows[-1]}h"
    columns = feature_columns(windows, error_window_hours)
    return rows.select(
        "machineID",
        "datetime",
        F.col("model").cast("string").alias("model"),
        *(
            F.coalesce((F.col("model") == m).cast("int"), F.lit(0)).alias(f"is_{m}")
            for m in MACHINE_MODELS
        ),
        F.col("age").cast("int").alias("age"),
        *columns[len(MACHINE_MODELS) + 1 :],
        *(f"readings_{w}h" for w in windows),
        (F.col(longest) < windows[-1]).alias("partial_window"),
    )
