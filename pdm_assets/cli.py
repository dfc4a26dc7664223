"""The ``pdm-assets`` command: put raw data into the landing zone, look at alerts (and demos).

Each subcommand is one ``_add_<name>(subparsers)`` function listed in ``SUBCOMMANDS``; it
registers its arguments and a ``run(args) -> int`` handler. Heavy modules (pandas, Spark, Dagster)
are imported inside the handlers, so ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

SubParsers = Any  # argparse's _SubParsersAction is private


def _default_landing_dir() -> str:
    from pdm_assets.settings import load_settings

    return load_settings().landing_dir


def _iso_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _print_summary(summary: dict[str, Any]) -> None:
    rows = ", ".join(f"{t} {n}" for t, n in summary["rows"].items())
    print(
        f"landed {summary['days']} day(s) {summary['first_day']}..{summary['last_day']} "
        f"into {summary['landing_dir']} (rows: {rows})"
    )
    print(json.dumps(summary, sort_keys=True))  # last line: machine-readable


def _simulator(args: argparse.Namespace) -> tuple[Any, Any]:
    """(settings, FleetSimulator) from the settings, overridden by --machines and --seed."""
    from pdm_assets.settings import load_settings
    from pdm_assets.simulator import FleetSimulator

    settings = load_settings()
    sim = FleetSimulator(
        n_machines=args.machines or settings.n_machines,
        seed=settings.seed if args.seed is None else args.seed,
        history_start=settings.history_start_date,
        profile=settings.sim_profile,
    )
    return settings, sim


# --- import-azure ---------------------------------------------------------------------------------
def _run_import_azure(args: argparse.Namespace) -> int:
    from pdm_assets.landing import import_azure

    landing_dir = args.landing_dir or _default_landing_dir()
    _print_summary(import_azure(args.src_dir, landing_dir))
    return 0


def _add_import_azure(sub: SubParsers) -> None:
    p = sub.add_parser(
        "import-azure",
        help="split the published Azure PdM CSV files into daily landing files",
        description="Accepts PdM_*.csv or plain names and both published datetime styles.",
    )
    p.add_argument("src_dir", metavar="SRC_DIR", help="folder with the five published CSV files")
    p.add_argument("--landing-dir", help="landing zone (default: PDM_LANDING_DIR or data/landing)")
    p.set_defaults(run=_run_import_azure)


# --- export-azure ---------------------------------------------------------------------------------
def _run_export_azure(args: argparse.Namespace) -> int:
    from pdm_assets.landing import export_published

    settings, sim = _simulator(args)
    start = args.start or settings.start
    paths = export_published(
        args.dst_dir, sim, start, start + timedelta(days=args.days), us_dates=args.us_dates
    )
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0


def _add_export_azure(sub: SubParsers) -> None:
    p = sub.add_parser(
        "export-azure",
        help="write a simulated fleet as the five published Azure PdM CSV files",
        description="PdM_telemetry/errors/maint/failures/machines.csv, maintenance from "
        "PDM_HISTORY_START: input for import-azure and 'demo --published-dir'.",
    )
    p.add_argument("dst_dir", metavar="DST_DIR", help="folder to write the five files into")
    p.add_argument("--start", type=_iso_day, help="first day (default: PDM_START_DATE)")
    p.add_argument("--days", type=_positive_int, default=365, help="number of days (365)")
    p.add_argument("--machines", type=_positive_int, help="fleet size (default: PDM_MACHINES)")
    p.add_argument("--seed", type=int, help="simulator seed (default: PDM_SEED)")
    p.add_argument(
        "--us-dates", action="store_true", help="datetimes like 1/1/2015 6:00:00 AM (Kaggle copy)"
    )
    p.set_defaults(run=_run_export_azure)


# --- land -----------------------------------------------------------------------------------------
def _run_land(args: argparse.Namespace) -> int:
    from pdm_assets.landing import land_simulated_days

    settings, sim = _simulator(args)
    landing_dir = args.landing_dir or settings.landing_dir
    if args.today_through is not None:
        return _land_today(args.today_through, sim, landing_dir)
    if args.start is None:
        return _land_recent(args, sim, landing_dir)
    if args.days is None:
        raise ValueError("--start needs --days")
    end = args.start + timedelta(days=args.days)
    _print_summary(land_simulated_days(landing_dir, sim, args.start, end))
    return 0


def _land_recent(args: argparse.Namespace, sim: Any, landing_dir: str) -> int:
    """Days ending yesterday, one file set at a time, as a delivery would arrive.

    Leaves machines.csv and days already landed alone unless asked: rewriting a file changes its
    size or mtime, which the landing-zone sensor rightly treats as a correction.
    """
    from pdm_assets import schemas
    from pdm_assets.landing import day_path, machines_path, write_day_files, write_machines_file

    yesterday = datetime.now(UTC).date() - timedelta(days=1)  # partitions are UTC days
    n = 1 if args.yesterday else args.days_back
    days = [yesterday - timedelta(days=i) for i in reversed(range(n))]
    if not machines_path(landing_dir).is_file():
        write_machines_file(landing_dir, sim.machines())
    landed, skipped = [], []
    rows = dict.fromkeys(schemas.DAILY_TABLES, 0)
    for day in days:
        exists = all(day_path(landing_dir, t, day).is_file() for t in schemas.DAILY_TABLES)
        if exists and not args.overwrite:
            skipped.append(day.isoformat())
            continue
        tables = sim.day(day)
        write_day_files(landing_dir, day, {t: tables[t] for t in schemas.DAILY_TABLES})
        for t in schemas.DAILY_TABLES:
            rows[t] += len(tables[t])
        landed.append(day.isoformat())
    if skipped:
        print(f"already landed (use --overwrite to rewrite): {', '.join(skipped)}")
    summary = {
        "landing_dir": str(landing_dir),
        "first_day": landed[0] if landed else None,
        "last_day": landed[-1] if landed else None,
        "days": len(landed),
        "rows": rows,
        "skipped": skipped,
    }
    _print_summary(summary)
    return 0


def _land_today(through_hour: int, sim: Any, landing_dir: str) -> int:
    """Today's hours 00..through_hour (UTC) as hourly files, the open day's delivery; hours
    already landed are left alone, so repeated calls land only the new hours."""
    from pdm_assets.landing import (
        hour_path,
        land_simulated_hours,
        machines_path,
        write_machines_file,
    )

    today = datetime.now(UTC).date()
    if not machines_path(landing_dir).is_file():
        write_machines_file(landing_dir, sim.machines())
    new = [
        h
        for h in range(through_hour + 1)
        if not hour_path(landing_dir, "telemetry", today, h).is_file()
    ]
    land_simulated_hours(landing_dir, sim, today, new)
    print(json.dumps({"landing_dir": str(landing_dir), "day": today.isoformat(), "hours": new}))
    return 0


def _hour(text: str) -> int:
    hour = int(text)
    if not 0 <= hour <= 23:
        raise argparse.ArgumentTypeError(f"an hour is 0..23, got {text}")
    return hour


def _add_land(sub: SubParsers) -> None:
    p = sub.add_parser(
        "land",
        help="write simulated days into the landing zone",
        description="Writes machines.csv, the maintenance history before START and N day files "
        "per daily table, each file atomically. With --yesterday or --days-back, writes recent "
        "days the way a daily delivery arrives, to watch the landing-zone sensor pick them up.",
    )
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--start", type=_iso_day, help="first day, YYYY-MM-DD (with --days)")
    when.add_argument("--yesterday", action="store_true", help="land yesterday (UTC) only")
    when.add_argument(
        "--days-back", type=_positive_int, metavar="N", help="land the N days ending yesterday"
    )
    when.add_argument(
        "--today-through",
        type=_hour,
        metavar="HH",
        help="land today's (UTC) hours 00..HH as hourly files, the open day (PDM_OPEN_DAY)",
    )
    p.add_argument("--days", type=_positive_int, help="number of days from --start")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="rewrite recent days already landed (the sensor then re-runs them as corrections)",
    )
    p.add_argument("--machines", type=_positive_int, help="fleet size (default: PDM_MACHINES)")
    p.add_argument("--seed", type=int, help="simulator seed (default: PDM_SEED)")
    p.add_argument("--landing-dir", help="landing zone (default: PDM_LANDING_DIR or data/landing)")
    p.set_defaults(run=_run_land)


# --- alerts ---------------------------------------------------------------------------------------
ALERT_COLUMNS = [
    "rank",
    "level",
    "machineID",
    "component",
    "risk",
    "available_at",
    "episode_id",
    "datetime",
    "explanation",
]


def latest_alerts(tables_root: str, day: date | None = None, top: int = 10) -> tuple[str, Any]:
    """(day, pandas frame) of the stored maintenance alerts of ``day`` or the newest day.

    Reads the parquet partition directly with pandas: a look at a table needs no Spark session.
    """
    import pandas as pd

    from pdm_assets.resources.storage import PARTITION_COLUMN

    if "://" in tables_root and not tables_root.startswith("file:"):
        raise ValueError(f"tables root {tables_root} is not a local path; read it with Spark")
    table = Path(tables_root.removeprefix("file:")) / "maintenance_alerts"
    prefix = f"{PARTITION_COLUMN}="
    days = sorted(
        p.name[len(prefix) :] for p in table.glob(f"{prefix}*") if p.is_dir()
    )  # written by a swap: a partition folder is complete
    if not days:
        raise FileNotFoundError(f"no maintenance_alerts partitions under {table}")
    key = day.isoformat() if day else days[-1]
    if key not in days:
        raise FileNotFoundError(f"no maintenance_alerts for {key}; stored: {days[0]}..{days[-1]}")
    frame = pd.read_parquet(table / f"{prefix}{key}")
    if frame.empty:
        return key, frame
    frame = frame.sort_values("rank").head(top)
    return key, frame[[c for c in ALERT_COLUMNS if c in frame.columns]]


def _run_alerts(args: argparse.Namespace) -> int:
    from pdm_assets.settings import load_settings

    root = args.tables_root or load_settings().tables_root
    key, frame = latest_alerts(root, args.day, args.top)
    if args.json:
        print(frame.to_json(orient="records", date_format="iso"))
        return 0
    if frame.empty:
        print(f"maintenance alerts for {key}: none (no machine passed the alert threshold)")
        return 0
    print(f"maintenance alerts for {key} (top {len(frame)}):")
    for r in frame.itertuples(index=False):
        level = getattr(r, "level", "alert")
        since = getattr(r, "available_at", r.datetime)
        print(
            f"  #{r.rank:<3} {level:<5} machine {r.machineID:>4}  {r.component:<6} "
            f"risk {r.risk:.2f}  since {since}  {r.explanation}"
        )
    return 0


def _add_alerts(sub: SubParsers) -> None:
    p = sub.add_parser(
        "alerts",
        help="show the latest maintenance alerts from the table store",
        description="Reads the maintenance_alerts parquet partition with pandas (no Spark).",
    )
    p.add_argument("--day", type=_iso_day, help="partition day (default: the newest stored)")
    p.add_argument("--top", type=_positive_int, default=10, help="how many alerts (default 10)")
    p.add_argument("--json", action="store_true", help="print the alerts as JSON records")
    p.add_argument("--tables-root", help="table store root (default: PDM_TABLES_ROOT)")
    p.set_defaults(run=_run_alerts)


# --- demo -----------------------------------------------------------------------------------------
def _run_demo(args: argparse.Namespace) -> int:
    from pdm_assets.demo import run_demo, use_published_files

    days = args.days
    if args.published_dir:
        summary = use_published_files(args.published_dir)
        _print_summary(summary)
        days = summary["days"]
    run_demo(days=days, models=args.models, trees=args.trees)
    return 0


def _add_demo(sub: SubParsers) -> None:
    p = sub.add_parser(
        "demo",
        help="simulate a fleet and materialize the whole platform through Dagster",
        description="Raw days, features, labels, monthly models, scores, alerts and evaluation.",
    )
    p.add_argument("--days", type=_positive_int, default=150, help="days of history (150)")
    p.add_argument("--models", type=_positive_int, default=1, help="monthly models (1)")
    p.add_argument("--trees", type=_positive_int, help="trees per forest (default: 200)")
    p.add_argument(
        "--published-dir",
        metavar="DIR",
        help="run on the five published Azure PdM CSV files in DIR instead of the simulator "
        "(imports them into the landing zone; --days is then the files' range)",
    )
    p.set_defaults(run=_run_demo)


# --- parity ---------------------------------------------------------------------------------------
def _run_parity(args: argparse.Namespace) -> int:
    import os

    from pdm_assets.parity import DEFAULT_IGNORED, compare_partition
    from pdm_assets.resources.spark import build_local_spark
    from pdm_assets.settings import load_settings

    local_root = args.local_root or load_settings().tables_root
    against_format = args.against_format or os.environ.get("PDM_TABLE_FORMAT", "") or "parquet"
    spark = build_local_spark({"spark.master": "local[2]", "spark.sql.shuffle.partitions": "2"})
    report = compare_partition(
        spark,
        args.asset,
        None if args.partition is None else args.partition.isoformat(),
        local_root,
        args.against_root,
        table_format="parquet",
        right_format=against_format,
        ignore=args.ignore_column if args.ignore_column is not None else DEFAULT_IGNORED,
    )
    print(f"local vs {args.against}: {report.summary()}")
    print(json.dumps(report.as_dict(), sort_keys=True))  # last line: machine-readable
    return 0 if report.equal else 1


def _add_parity(sub: SubParsers) -> None:
    p = sub.add_parser(
        "parity",
        help="compare one partition of a table computed locally and by another deployment",
        description="Reads the partition from both table roots with a local Spark session and "
        "compares them after sorting (floats within 1e-9 relative); exit code 1 on a "
        "difference. Both roots must be readable here (dbfs:/ only on a Databricks cluster).",
    )
    p.add_argument("--asset", required=True, help="table, e.g. failure_scores")
    p.add_argument("--partition", type=_iso_day, help="day YYYY-MM-DD (none: unpartitioned)")
    p.add_argument(
        "--against",
        choices=["databricks", "spark-cluster"],
        default="databricks",
        help="the other deployment (names the report)",
    )
    p.add_argument("--against-root", required=True, help="that deployment's PDM_TABLES_ROOT")
    p.add_argument("--against-format", help="its table format (default PDM_TABLE_FORMAT/parquet)")
    p.add_argument("--local-root", help="local tables root (default: PDM_TABLES_ROOT or data/)")
    p.add_argument(
        "--ignore-column",
        action="append",
        help="a column not to compare (repeatable; default: model_version)",
    )
    p.set_defaults(run=_run_parity)


# --- class-archive --------------------------------------------------------------------------------
def _run_class_archive(args: argparse.Namespace) -> int:
    from pdm_assets.resources.class_archive import archive_path, build_class_archive

    target = Path(args.path) if args.path else archive_path()
    if target is None:
        print("pdm-assets class-archive: PDM_SPARK_CLASS_ARCHIVE=off, nothing to build")
        return 0
    try:
        seconds = build_class_archive(target)
    except (RuntimeError, TimeoutError) as exc:
        print(f"pdm-assets class-archive: error: {exc}", file=sys.stderr)
        return 1
    size_mb = target.stat().st_size / 2**20
    print(f"Spark class archive: {target} ({size_mb:.0f} MB, built in {seconds:.0f} s)")
    return 0


def _add_class_archive(sub: SubParsers) -> None:
    p = sub.add_parser(
        "class-archive",
        help="build the JVM class archive that lets new Spark processes start faster",
        description="Runs a small Spark warm-up whose JVM dumps the classes it loaded into a "
        "dynamic CDS archive; local Spark sessions use it when it exists (make install runs this).",
    )
    p.add_argument(
        "--path", help="where to write it (default: PDM_SPARK_CLASS_ARCHIVE or the venv)"
    )
    p.set_defaults(run=_run_class_archive)


SUBCOMMANDS: list[Callable[[SubParsers], None]] = [
    _add_import_azure,
    _add_export_azure,
    _add_land,
    _add_alerts,
    _add_demo,
    _add_parity,
    _add_class_archive,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pdm-assets", description="Predictive maintenance assets: data tools and demos."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code. Data errors print one clear line instead of a trace."""
    args = build_parser().parse_args(argv)
    # Beta parameters the platform chose on purpose; a user of the CLI cannot act on them.
    warnings.filterwarnings(
        "ignore",
        message=r"Parameter `(backfill_policy|allow_nonexistent_upstream_partitions)` .* in beta",
    )
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError) as exc:  # ValidationError is a ValueError
        print(f"pdm-assets {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
