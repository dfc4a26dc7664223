"""The CSV landing zone: where daily raw files arrive before the raw assets read them.

Layout (Azure PdM column names, header row, datetimes as ``YYYY-MM-DD HH:MM:SS`` UTC)::

    <landing_dir>/machines.csv
    <landing_dir>/<table>/<YYYY-MM-DD>.csv     table in telemetry, errors, maintenance, failures
    <landing_dir>/<table>/<YYYY-MM-DD>/<HH>.csv   the same, one file per hour of the open day

A day is complete when all four daily files exist (header-only when the day had no events), so a
reader can tell "no failures that day" from "the failures file has not arrived". The open day
(PDM_OPEN_DAY) may instead arrive hour by hour: hour HH holds the rows with HH:00 <= datetime <
HH+1:00, and an hour counts as landed once all four tables have its file; a day's daily file, when
there is one, replaces its hourly files. Files are written as ``<name>.csv.tmp`` and renamed, so a
reader (and the file-arrival sensor) never sees half a file.

pandas only: landing files need no Spark, and the published telemetry file (~876k rows) fits.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from pdm_assets import schemas

if TYPE_CHECKING:
    from pdm_assets.simulator import FleetSimulator

DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# The published copies of the Azure data set use one of these; both mean UTC.
INPUT_DATETIME_FORMATS: tuple[str, ...] = (DATETIME_FORMAT, "%m/%d/%Y %I:%M:%S %p")
US_DATETIME_FORMAT = "%-m/%-d/%Y %-I:%M:%S %p"  # how the Kaggle copy writes them
DAY_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.csv$")
HOUR_FILE = re.compile(r"^([01]\d|2[0-3])\.csv$")
DAY_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Published file names per table: the Azure notebook names first, then the plain ones.
AZURE_FILE_NAMES: dict[str, tuple[str, ...]] = {
    "telemetry": ("PdM_telemetry.csv", "telemetry.csv"),
    "errors": ("PdM_errors.csv", "errors.csv"),
    "maintenance": ("PdM_maint.csv", "maintenance.csv"),
    "failures": ("PdM_failures.csv", "failures.csv"),
    "machines": ("PdM_machines.csv", "machines.csv"),
}

_CANONICAL = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def day_path(landing_dir: str | os.PathLike[str], table: str, day: date) -> Path:
    return Path(landing_dir) / table / f"{day.isoformat()}.csv"


def machines_path(landing_dir: str | os.PathLike[str]) -> Path:
    return Path(landing_dir) / "machines.csv"


def hour_path(landing_dir: str | os.PathLike[str], table: str, day: date, hour: int) -> Path:
    return Path(landing_dir) / table / day.isoformat() / f"{hour:02d}.csv"


def landed_days(landing_dir: str | os.PathLike[str], table: str) -> list[date]:
    """Days whose final daily ``.csv`` exists, or with at least one final hourly file; ``.tmp``
    files and other names are not deliveries."""
    folder = Path(landing_dir) / table
    if not folder.is_dir():
        return []
    days = set()
    for entry in os.scandir(folder):
        match = DAY_FILE.match(entry.name)
        if match and entry.is_file():
            name = match.group(1)
        elif DAY_DIR.match(entry.name) and entry.is_dir():
            if not any(HOUR_FILE.match(e.name) and e.is_file() for e in os.scandir(entry.path)):
                continue
            name = entry.name
        else:
            continue
        try:
            days.add(date.fromisoformat(name))
        except ValueError:  # 2015-13-01.csv: not a day file
            continue
    return sorted(days)


def landed_hours(landing_dir: str | os.PathLike[str], day: date) -> list[int]:
    """Hours of ``day`` whose file has landed for all four daily tables (empty with no hourly
    delivery): the hours the open day's raw partitions hold, the same for every table."""
    hours: set[int] | None = None
    for table in schemas.DAILY_TABLES:
        folder = Path(landing_dir) / table / day.isoformat()
        found = set()
        if folder.is_dir():
            for entry in os.scandir(folder):
                match = HOUR_FILE.match(entry.name)
                if match and entry.is_file():
                    found.add(int(match.group(1)))
        hours = found if hours is None else hours & found
    return sorted(hours or ())


def day_files(landing_dir: str | os.PathLike[str], table: str, day: date) -> list[Path]:
    """The files that deliver ``table`` for ``day``: its daily file if there is one, else the
    hourly files of the hours landed for every table (an empty list: nothing delivered)."""
    daily = day_path(landing_dir, table, day)
    if daily.is_file():
        return [daily]
    return [hour_path(landing_dir, table, day, h) for h in landed_hours(landing_dir, day)]


def write_day_files(
    landing_dir: str | os.PathLike[str], day: date, tables: Mapping[str, pd.DataFrame]
) -> list[Path]:
    """Write the given daily tables of one day, each file atomically.

    Only the tables passed are written, so a correction of one file leaves the others alone; land a
    new day with all four (empty frames give header-only files). Rows must lie inside ``day``.
    """
    return _write_period_files(
        tables,
        where=str(day),
        prefix=day.isoformat(),
        period="a landing file holds exactly one UTC day",
        unit="day",
        path_of=lambda table: day_path(landing_dir, table, day),
    )


def write_hour_files(
    landing_dir: str | os.PathLike[str], day: date, hour: int, tables: Mapping[str, pd.DataFrame]
) -> list[Path]:
    """Write one hour of the open day, each table's file atomically; rows must lie inside the
    hour. Land all four tables (empty frames give header-only files): the hour counts once they
    are all there."""
    if not 0 <= hour <= 23:
        raise ValueError(f"hour must be 0..23, got {hour}")
    return _write_period_files(
        tables,
        where=f"{day} {hour:02d}h",
        prefix=f"{day.isoformat()} {hour:02d}:",
        period="an hourly landing file holds exactly one UTC hour",
        unit="hour",
        path_of=lambda table: hour_path(landing_dir, table, day, hour),
    )


def _write_period_files(
    tables: Mapping[str, pd.DataFrame],
    *,
    where: str,
    prefix: str,
    period: str,
    unit: str,
    path_of: Callable[[str], Path],
) -> list[Path]:
    """Daily tables whose datetimes all start with ``prefix`` (a day or an hour), each written
    atomically to ``path_of(table)``."""
    paths = []
    # Telemetry last: a sensor that watches telemetry files then finds the period's other files.
    for table, frame in sorted(tables.items(), key=lambda item: item[0] == "telemetry"):
        if table not in schemas.DAILY_TABLES:
            raise ValueError(
                f"{table!r} is not a daily table; expected {list(schemas.DAILY_TABLES)}"
            )
        out = _azure_frame(frame, table, where=f"{table} {where}")
        outside = out["datetime"].str[: len(prefix)] != prefix
        if outside.any():
            value = out.loc[outside, "datetime"].iloc[0]
            raise ValueError(
                f"{table} {where}: {int(outside.sum())} row(s) outside the {unit} "
                f"(first: {value}); {period}"
            )
        path = path_of(table)
        _write_csv_atomic(out, path)
        paths.append(path)
    return paths


def land_simulated_hours(
    landing_dir: str | os.PathLike[str], simulator: FleetSimulator, day: date, hours: range
) -> list[Path]:
    """Write the simulator's hours of ``day`` as hourly landing files (the open day's delivery)."""
    tables = simulator.day(day)
    paths = []
    for hour in hours:
        prefix = f"{day.isoformat()} {hour:02d}:"
        in_hour = {}
        for table in schemas.DAILY_TABLES:
            frame = _azure_frame(tables[table], table, where=f"{table} {day}")
            in_hour[table] = frame[frame["datetime"].str[:14] == prefix]
        paths += write_hour_files(landing_dir, day, hour, in_hour)
    return paths


def write_machines_file(landing_dir: str | os.PathLike[str], machines_df: pd.DataFrame) -> Path:
    path = machines_path(landing_dir)
    _write_csv_atomic(_azure_frame(machines_df, "machines", where="machines"), path)
    return path


def land_simulated_days(
    landing_dir: str | os.PathLike[str],
    simulator: FleetSimulator,
    start: date,
    end: date,
    *,
    history: bool = True,
) -> dict[str, Any]:
    """Write the simulator's days [start, end) (and its inventory) as a landing zone.

    With ``history``, maintenance records from ``simulator.history_start`` up to ``start`` also get
    day files (only days with records), like the 2014 records of the published data: features need
    each component's last replacement before the first partition.
    """
    if end <= start:
        raise ValueError(f"empty day range: start {start} must be before end {end}")
    write_machines_file(landing_dir, simulator.machines())
    history_days = 0
    if history and start > simulator.history_start:
        past = simulator.maintenance(simulator.history_start, start)
        for day_text, group in _by_day(_azure_frame(past, "maintenance", where="maintenance")):
            write_day_files(landing_dir, date.fromisoformat(day_text), {"maintenance": group})
            history_days += 1
    rows = dict.fromkeys(schemas.DAILY_TABLES, 0)
    day = start
    while day < end:
        tables = simulator.day(day)
        write_day_files(landing_dir, day, {t: tables[t] for t in schemas.DAILY_TABLES})
        for t in schemas.DAILY_TABLES:
            rows[t] += len(tables[t])
        day += timedelta(days=1)
    return {
        "landing_dir": str(landing_dir),
        "first_day": start.isoformat(),
        "last_day": (end - timedelta(days=1)).isoformat(),
        "days": (end - start).days,
        "rows": rows,
        "history_days": history_days,
    }


def import_azure(
    src_dir: str | os.PathLike[str], landing_dir: str | os.PathLike[str]
) -> dict[str, Any]:
    """Split the five published full-history files into the landing zone.

    Every day in the telemetry range gets all four daily files (header-only when empty) so each
    partition is complete; records outside that range (the 2014 maintenance history) get day files
    of their own. Values are copied as text except datetimes, which are normalized.
    """
    src = Path(src_dir)
    frames = {t: _read_published(_find_published(src, t), t) for t in schemas.ALL_TABLES}

    tel_days = frames["telemetry"]["datetime"].str[:10]
    if tel_days.empty:
        raise ValueError(f"{_find_published(src, 'telemetry')}: no telemetry rows")
    first, last = date.fromisoformat(tel_days.min()), date.fromisoformat(tel_days.max())
    by_table = {t: dict(_by_day(frames[t])) for t in schemas.DAILY_TABLES}

    write_machines_file(landing_dir, frames["machines"])
    day = first
    while day <= last:
        key = day.isoformat()
        tables = {t: by_table[t].pop(key, frames[t].iloc[0:0]) for t in schemas.DAILY_TABLES}
        write_day_files(landing_dir, day, tables)
        day += timedelta(days=1)
    outside: dict[str, int] = {}
    for t, groups in by_table.items():  # what is left lies outside the telemetry range
        for key, group in groups.items():
            write_day_files(landing_dir, date.fromisoformat(key), {t: group})
        outside[t] = len(groups)
    return {
        "landing_dir": str(landing_dir),
        "first_day": first.isoformat(),
        "last_day": last.isoformat(),
        "days": (last - first).days + 1,
        "rows": {t: len(f) for t, f in frames.items()},
        "days_outside_range": outside,
    }


def export_published(
    dst_dir: str | os.PathLike[str],
    simulator: FleetSimulator,
    start: date,
    end: date,
    *,
    us_dates: bool = False,
) -> dict[str, Path]:
    """Write the simulator's days [start, end) as the five published files (``PdM_*.csv``).

    The maintenance file starts at ``simulator.history_start``, before the telemetry, like the
    published one starts in 2014. This is what a real delivery of the Azure data set looks like,
    so ``import_azure`` and everything after it can be run on it unchanged.
    """
    if end <= start:
        raise ValueError(f"empty day range: start {start} must be before end {end}")
    dst = Path(dst_dir)
    dst.mkdir(parents=True, exist_ok=True)
    frames = {
        "telemetry": simulator.telemetry(start, end),
        "errors": simulator.errors(start, end),
        "maintenance": simulator.maintenance(min(simulator.history_start, start), end),
        "failures": simulator.failures(start, end),
        "machines": simulator.machines(),
    }
    paths = {}
    for table, frame in frames.items():
        out = _azure_frame(frame, table, where=table)
        if us_dates and "datetime" in out.columns:
            stamps = pd.to_datetime(out["datetime"], format=DATETIME_FORMAT)
            out = out.assign(datetime=stamps.dt.strftime(US_DATETIME_FORMAT))
        paths[table] = dst / AZURE_FILE_NAMES[table][0]
        _write_csv_atomic(out, paths[table])
    return paths


def _find_published(src: Path, table: str) -> Path:
    names = AZURE_FILE_NAMES[table]
    found = [src / n for n in names if (src / n).is_file()]
    if not found:
        raise FileNotFoundError(f"{src}: no {table} file; expected one of {', '.join(names)}")
    if len(found) > 1:
        raise ValueError(
            f"{src}: both {found[0].name} and {found[1].name} exist; keep one {table} file"
        )
    return found[0]


def _read_published(path: Path, table: str) -> pd.DataFrame:
    """Read as text (values are copied verbatim) and normalize datetimes; errors name the line."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    expected = schemas.ALL_TABLES[table].column_names
    missing = [c for c in expected if c not in frame.columns]
    extra = [c for c in frame.columns if c not in expected]
    if missing or extra:
        raise ValueError(
            f"{path}: columns {list(frame.columns)}; expected {expected}"
            + (f" (missing {missing})" if missing else "")
            + (f" (unexpected {extra})" if extra else "")
        )
    frame = frame[expected]
    if "datetime" in frame.columns:
        frame = frame.assign(datetime=_normalize_datetimes(frame["datetime"], where=str(path)))
    return frame


def _normalize_datetimes(text: pd.Series, *, where: str) -> pd.Series:
    """Both published styles to ``YYYY-MM-DD HH:MM:SS``; the first bad value is named by line."""
    text = text.str.strip()
    parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    for fmt in INPUT_DATETIME_FORMATS:
        todo = parsed.isna()
        if not todo.any():
            break
        parsed[todo] = pd.to_datetime(text[todo], format=fmt, errors="coerce")
    bad = parsed.isna()
    if bad.any():
        pos = int(bad.to_numpy().nonzero()[0][0])
        raise ValueError(
            f"{where}: line {pos + 2}: cannot parse datetime {text.iloc[pos]!r}; expected "
            "'2015-01-01 06:00:00' or '1/1/2015 6:00:00 AM'"
        )
    return parsed.dt.strftime(DATETIME_FORMAT)


def _azure_frame(frame: pd.DataFrame, table: str, *, where: str) -> pd.DataFrame:
    """Exactly the schema's columns in order, datetimes as canonical text."""
    expected = schemas.ALL_TABLES[table].column_names
    missing = [c for c in expected if c not in frame.columns]
    extra = [c for c in frame.columns if c not in expected]
    if missing or extra:
        raise ValueError(f"{where}: columns {list(frame.columns)}; expected {expected}")
    out = frame[expected]
    if "datetime" in expected:
        dt = out["datetime"]
        if pd.api.types.is_datetime64_any_dtype(dt):
            if getattr(dt.dt, "tz", None) is not None:
                dt = dt.dt.tz_convert("UTC").dt.tz_localize(None)
            if dt.isna().any():
                raise ValueError(f"{where}: missing datetime values")
            text = dt.dt.strftime(DATETIME_FORMAT)
        else:
            text = dt.astype(str)
            bad = ~text.str.match(_CANONICAL)
            if bad.any():
                raise ValueError(
                    f"{where}: datetime {text[bad].iloc[0]!r} is not 'YYYY-MM-DD HH:MM:SS'"
                )
        out = out.assign(datetime=text)
    return out


def _by_day(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Rows grouped by UTC day (canonical datetime text), keeping the file's row order."""
    if frame.empty:
        return []
    return [(str(k), g) for k, g in frame.groupby(frame["datetime"].str[:10], sort=True)]


def _write_csv_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write ``<name>.tmp`` then rename: readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            frame.to_csv(fh, index=False)  # floats via repr: they round-trip exactly
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
