"""Where raw data comes from: the simulator or the CSV landing zone, behind one resource.

``PDM_SOURCE=simulator|landing`` picks the kind (see ``source_from_settings``); asset code only
calls ``read_days``, ``read_machines`` and ``read_maintenance_before``, never branching on kind.
Whatever the kind, frames come back validated (transforms/validation.py) with exactly the schema's
columns and types, so a broken delivery fails in the raw asset that read it.
"""

from __future__ import annotations

import csv
import functools
import os
import re
from collections.abc import Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING

import dagster as dg

from pdm_assets import landing, schemas
from pdm_assets.transforms import validation as v
from pdm_assets.transforms.small_frames import small_frame

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

    from pdm_assets.settings import Settings
    from pdm_assets.simulator import FleetSimulator

KINDS = ("simulator", "landing")
# Least telemetry rows per generated pandas frame (a frame holds fewer than twice this): bounds the
# driver's Python memory. A chunk's Arrow data must stay above Spark's
# spark.sql.execution.arrow.localRelationThreshold (48 MB, ~1.1 M telemetry rows): below it Spark
# keeps the rows as objects in the plan, which filled a 3 GB heap at 8.76 M rows.
SIMULATED_CHUNK_ROWS = 1_500_000
SIMULATOR_SOURCE = "simulator"


class RawDataSource(dg.ConfigurableResource):
    """Raw Azure-PdM tables for given days, from the simulator or the CSV landing zone."""

    kind: str = "simulator"
    landing_dir: str = ""
    n_machines: int = 100
    seed: int = 42
    history_start: str = "2014-01-01"
    profile: str = "realistic"  # simulator profile: "realistic" or "clean" (no false precursors)

    # --- public API ------------------------------------------------------------------------------
    def read_days(self, spark: SparkSession, table: str, days: Sequence[date]) -> DataFrame:
        """One daily table for the given days, without the rows ``read_partition`` sets aside."""
        return self.read_partition(spark, table, days)[0]

    def read_partition(
        self, spark: SparkSession, table: str, days: Sequence[date]
    ) -> tuple[DataFrame, DataFrame | None]:
        """One daily table for the given days (a single-run backfill reads many at once), and the
        rows set aside with their reason, None when there are none (``validation.quarantine_table``
        says which rows are set aside).

        Every day must be delivered; an empty telemetry day counts as missing. Validation costs one
        Spark job whatever the number of days when the data is good (see validation.py). Landing
        files are read once into Spark's memory and checked to be unchanged afterwards, so what
        was validated is exactly what gets stored, even if a file is rewritten meanwhile.
        """
        if table not in schemas.DAILY_TABLES:
            raise ValueError(
                f"{table!r} is not a daily table; expected {list(schemas.DAILY_TABLES)}"
            )
        wanted = sorted(set(days))
        if not wanted:
            raise ValueError(f"read_days({table!r}): no days requested")
        one_day = wanted[0] if len(wanted) == 1 else None
        if self._kind() == "landing":
            root = self._landing_dir()
            paths = [str(p) for d in wanted for p in landing.day_files(root, table, d)]
            daily = str(landing.day_path(root, table, wanted[0]))
            source = (paths[0] if len(paths) == 1 else daily) if one_day else self._table_dir(table)
            before = _file_stamps(paths)
            raw = self._read_landing_files(spark, table, wanted, require_all=True)
            typed = v.parse_raw_table(raw, table, source=source, day=one_day, check=False)
            typed = typed.localCheckpoint()  # the one read of the files; validated and stored
            _check_unchanged(before, _file_stamps(paths), table)
        else:
            source = SIMULATOR_SOURCE
            typed = self._simulated(spark, table, _contiguous_runs(wanted))
        return v.quarantine_table(
            typed,
            table,
            source=source,
            day=one_day,
            known_machines=self._machine_ids(),
            days=wanted,
            require_rows=table == "telemetry",
        )

    def read_machines(self, spark: SparkSession) -> DataFrame:
        """The fleet inventory: machineID, model, age."""
        if self._kind() == "landing":
            path = self._machines_file()
            raw = self._read_csv(spark, "machines", [path], _header(path, "machines"))
            typed = v.parse_raw_table(raw, "machines", source=path, day=None, check=False)
            return v.validate_table(typed, "machines", source=path, day=None)
        typed = _from_pandas(spark, self.simulator().machines(), "machines")
        return v.validate_table(typed, "machines", source=SIMULATOR_SOURCE, day=None)

    def read_maintenance_before(self, spark: SparkSession, before: date) -> DataFrame:
        """All maintenance with datetime < ``before``: the replacement history older than the first
        partition, which features need (time since each component's last replacement)."""
        machines = self._machine_ids()
        if self._kind() == "landing":
            days = [d for d in self.available_days("maintenance") if d < before]
            if not days:
                return _empty(spark, "maintenance")
            source = self._table_dir("maintenance")
            raw = self._read_landing_files(spark, "maintenance", days, require_all=True)
            typed = v.parse_raw_table(raw, "maintenance", source=source, day=None, check=False)
            return v.validate_table(
                typed, "maintenance", source=source, day=None, known_machines=machines
            )
        sim = self.simulator()
        if before <= sim.history_start:
            return _empty(spark, "maintenance")
        typed = _from_pandas(spark, sim.maintenance(sim.history_start, before), "maintenance")
        n_days = (before - sim.history_start).days
        return v.validate_table(
            typed,
            "maintenance",
            source=SIMULATOR_SOURCE,
            day=None,
            known_machines=machines,
            days=[sim.history_start + timedelta(days=i) for i in range(n_days)],
        )

    def available_days(self, table: str) -> list[date]:
        """Landing: days whose final ``.csv`` exists (``.tmp`` files are still being written).
        Simulator: any day can be generated, so there is no list; returns []."""
        if table not in schemas.DAILY_TABLES:
            raise ValueError(
                f"{table!r} is not a daily table; expected {list(schemas.DAILY_TABLES)}"
            )
        if self._kind() == "landing":
            return landing.landed_days(self._landing_dir(), table)
        return []

    def simulator(self) -> FleetSimulator:
        from pdm_assets.simulator import FleetSimulator

        return FleetSimulator(
            n_machines=self.n_machines,
            seed=self.seed,
            history_start=date.fromisoformat(self.history_start),
            profile=self.profile,
        )

    # --- internals -------------------------------------------------------------------------------
    def _kind(self) -> str:
        if self.kind not in KINDS:
            raise ValueError(f"RawDataSource.kind (PDM_SOURCE) is {self.kind!r}; expected {KINDS}")
        return self.kind

    def _landing_dir(self) -> str:
        if not self.landing_dir:
            raise ValueError("RawDataSource(kind='landing') needs landing_dir (PDM_LANDING_DIR)")
        return self.landing_dir

    def _machines_file(self) -> str:
        path = landing.machines_path(self._landing_dir())
        if not path.is_file():
            raise v.ValidationError(
                f"missing file {path}",
                source=str(path),
                table="machines",
                expected="the machines inventory (machines.csv) in the landing zone",
            )
        return str(path)

    def _machine_ids(self) -> set[int]:
        """The inventory's ids for the unknown-machine check. Read in Python, without validating
        the inventory again (the machines asset does that): a Spark job here would cost more
        than the check."""
        if self._kind() == "landing":
            path = self._machines_file()
            header = _header(path, "machines")
            with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
                rows = csv.reader(fh)
                next(rows)
                column = header.index("machineID")
                values = [r[column].strip() for r in rows if len(r) > column]
            return {int(x) for x in values if x.isdigit()}
        return {int(i) for i in self.simulator().machines()["machineID"]}

    def _table_dir(self, table: str) -> str:
        return os.path.join(self._landing_dir(), table)

    def _simulated(
        self, spark: SparkSession, table: str, runs: list[tuple[date, date]]
    ) -> DataFrame:
        """The simulated days as one Spark frame, generated a chunk of days at a time: a year of a
        1,000-machine fleet is 8.76 M telemetry rows, which as one pandas frame (with its Arrow
        copy) took 1.4 GB of the driver's Python."""
        import pandas as pd

        from pdm_assets.partitions import open_day

        sim = self.simulator()
        today = open_day()
        now = pd.Timestamp.now(tz="UTC").tz_localize(None)
        frames = []
        chunk_days = max(1, SIMULATED_CHUNK_ROWS // (24 * self.n_machines))
        for start, end in _chunked(runs, chunk_days):
            pdf = getattr(sim, table)(start, end)
            if today is not None and end > today:
                # A live fleet's open day: only what has happened by now.
                pdf = pdf[pd.to_datetime(pdf["datetime"]) <= now]
            frames.append(_from_pandas(spark, pdf, table))
            del pdf  # free this chunk before the next is generated
        return functools.reduce(lambda a, b: a.unionAll(b), frames)

    def _read_landing_files(
        self, spark: SparkSession, table: str, days: list[date], *, require_all: bool
    ) -> DataFrame:
        """All-string frame of the day files plus ``_day``, ``_source`` and ``_row``.

        Headers are checked in Python first (one line per file): Spark's CSV reader would map a
        user schema onto the columns by position and silently mislabel a reordered file.
        """
        root = self._landing_dir()
        paths = {d: landing.day_files(root, table, d) for d in days}
        missing = [d for d, files in paths.items() if not files]
        if missing and require_all:
            d = missing[0]
            more = f" (and {len(missing) - 1} more day(s))" if len(missing) > 1 else ""
            raise v.ValidationError(
                f"missing file {landing.day_path(root, table, d)}{more}",
                source=str(landing.day_path(root, table, d)),
                table=table,
                day=d,
                expected=f"one {table} file per day, header-only when the day had no records "
                "(or, for the open day, one file per hour landed)",
            )
        # One read per header and folder: the daily files share the table's folder, an open
        # day's hourly files have a folder of their own.
        groups: dict[tuple[tuple[str, ...], str], list[str]] = {}
        for d, files in paths.items():
            for p in files:
                header = _header(p, table, day=d)
                groups.setdefault((header, str(p.parent)), []).append(str(p))
        frames = [self._read_csv(spark, table, files, h) for (h, _), files in groups.items()]
        out = frames[0]
        for frame in frames[1:]:
            out = out.unionByName(frame)
        return out

    @staticmethod
    def _read_csv(
        spark: SparkSession, table: str, files: list[str], header: Sequence[str]
    ) -> DataFrame:
        """Read files sharing one header as all-string columns with provenance.

        ``multiLine`` makes each file one unsplittable input, so the ids that
        ``monotonically_increasing_id`` gives a file's rows are contiguous and in file order:
        validation turns ``_row`` into a line number only when it reports an error. Files are
        selected by a name filter on their directory, which avoids Spark's listing job for long
        path lists.
        """
        from pyspark.sql import functions as F

        folder = os.path.dirname(files[0])
        names = sorted(os.path.basename(f) for f in files)
        if any(os.path.dirname(f) != folder for f in files):
            raise ValueError("files must share one directory")
        glob = names[0] if len(names) == 1 else "{" + ",".join(names) + "}"
        reader = (
            spark.read.schema(v.string_schema(header))
            .option("header", True)
            .option("multiLine", True)
            .option("mode", "PERMISSIVE")
            .option("columnNameOfCorruptRecord", v.CORRUPT)
            .option("pathGlobFilter", _escape_glob(glob))
        )
        raw = reader.csv(folder)
        # <day>.csv, or <day>/<HH>.csv for an hour of the open day
        file_path = F.col("_metadata.file_path")
        day = F.to_date(F.regexp_extract(file_path, r"/(\d{4}-\d{2}-\d{2})(\.csv|/\d{2}\.csv)$", 1))
        provenance = [
            F.regexp_replace(F.col("_metadata.file_path"), r"^file:(//)?", "").alias(v.SOURCE),
            F.monotonically_increasing_id().alias(v.ROW),
        ]
        if table in schemas.DAILY_TABLES:
            provenance.insert(0, day.alias(v.DAY))
        return raw.select(*header, v.CORRUPT, *provenance)


def source_from_settings(settings: Settings | None = None) -> RawDataSource:
    """The configured source (PDM_SOURCE, PDM_LANDING_DIR, PDM_MACHINES, PDM_SEED,
    PDM_SIM_PROFILE)."""
    from pdm_assets.settings import load_settings

    s = settings or load_settings()
    if s.source not in KINDS:
        raise ValueError(f"PDM_SOURCE is {s.source!r}; expected one of {KINDS}")
    return RawDataSource(
        kind=s.source,
        landing_dir=s.landing_dir,
        n_machines=s.n_machines,
        seed=s.seed,
        profile=s.sim_profile,
    )


def _header(
    path: os.PathLike[str] | str, table: str, *, day: date | None = None
) -> tuple[str, ...]:
    """The header row, read alone: a byte-order mark is dropped (Excel writes one), bytes that
    are not UTF-8 and a file cut by another delimiter are named."""
    expected = schemas.ALL_TABLES[table].column_names
    kw = dict(source=str(path), table=table, day=day, line=1)
    with open(path, "rb") as fh:
        first = fh.readline()
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise v.ValidationError(
            f"bytes that are not UTF-8 at byte {exc.start}",
            value=first[max(0, exc.start - 10) : exc.end + 10].decode("utf-8", "replace"),
            expected="a UTF-8 file (export it as UTF-8)",
            **kw,
        ) from None
    header = next(csv.reader([text]), None)
    if not header:
        raise v.ValidationError("empty file", expected=f"a header row {expected}", **kw)
    header = [h.strip() for h in header]
    if len(header) == 1 and len(expected) > 1:
        for delimiter in (";", "\t", "|"):
            if delimiter in header[0]:
                raise v.ValidationError(
                    f"fields separated by {delimiter!r}",
                    column=header[0][:40],
                    expected=f"comma-separated columns {expected}",
                    **kw,
                )
    v.check_columns(header, table, source=str(path), day=day, line=1)
    return tuple(header)


def _file_stamps(paths: Sequence[str]) -> dict[str, tuple[int, int]]:
    """(size, modification time) per file; a missing file is left to the reader to report."""
    stamps = {}
    for path in paths:
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            continue
        stamps[path] = (stat.st_size, stat.st_mtime_ns)
    return stamps


def _check_unchanged(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], table: str
) -> None:
    """A file that grew or was replaced while it was read may have been read half old, half new."""
    for path, stamp in before.items():
        if after.get(path) != stamp:
            now = after.get(path)
            got = f"{stamp[0]} bytes before, {now[0] if now else 'no file'} after"
            raise v.ValidationError(
                "file changed while it was read",
                source=path,
                table=table,
                value=got,
                expected="a file that is complete when it appears (write it aside and rename it, "
                "as `pdm-assets land` does); re-run the partition once the file is final",
            )


def _escape_glob(pattern: str) -> str:
    # Day file names only hold digits, '-' and '.'; escape anything else a glob would interpret.
    return re.sub(r"([\[\]*?\\])", r"\\\1", pattern)


def _contiguous_runs(days: list[date]) -> list[tuple[date, date]]:
    """Sorted days as [start, end) runs, so the simulator generates each run in one call."""
    runs: list[tuple[date, date]] = []
    for d in days:
        if runs and runs[-1][1] == d:
            runs[-1] = (runs[-1][0], d + timedelta(days=1))
        else:
            runs.append((d, d + timedelta(days=1)))
    return runs


def _chunked(runs: list[tuple[date, date]], min_days: int) -> list[tuple[date, date]]:
    """Each [start, end) run cut into equal pieces of at least ``min_days`` days (a run shorter
    than that stays whole), so no piece is a small remainder."""
    pieces = []
    for start, end in runs:
        n_days = (end - start).days
        n_pieces = max(1, n_days // min_days)
        bounds = [start + timedelta(days=n_days * i // n_pieces) for i in range(n_pieces + 1)]
        pieces.extend(zip(bounds[:-1], bounds[1:], strict=True))
    return pieces


def _from_pandas(spark: SparkSession, pdf: pd.DataFrame, table: str) -> DataFrame:
    """pandas (int64 ids, naive UTC datetime64) to Spark with the schema's exact types."""
    schema = v.spark_schema(table)
    pdf = pdf[[f.name for f in schema.fields]]
    ints = {f.name: "int32" for f in schema.fields if f.dataType.typeName() == "integer"}
    pdf = pdf.astype(ints) if ints else pdf
    return spark.createDataFrame(pdf, schema=schema)


def _empty(spark: SparkSession, table: str) -> DataFrame:
    return small_frame(spark, [], v.spark_schema(table))
