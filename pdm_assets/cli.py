"""The ``pdm-assets`` command: put raw data into the landing zone (and, later, run demos).

Each subcommand is one ``_add_<name>(subparsers)`` function listed in ``SUBCOMMANDS``; it
registers its arguments and a ``run(args) -> int`` handler. Heavy modules (pandas, Spark, Dagster)
are imported inside the handlers, so ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import date, timedelta
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


# --- land -----------------------------------------------------------------------------------------
def _run_land(args: argparse.Namespace) -> int:
    from pdm_assets.landing import land_simulated_days
    from pdm_assets.settings import load_settings
    from pdm_assets.simulator import FleetSimulator

    settings = load_settings()
    sim = FleetSimulator(
        n_machines=args.machines or settings.n_machines,
        seed=settings.seed if args.seed is None else args.seed,
    )
    landing_dir = args.landing_dir or settings.landing_dir
    end = args.start + timedelta(days=args.days)
    _print_summary(land_simulated_days(landing_dir, sim, args.start, end))
    return 0


def _add_land(sub: SubParsers) -> None:
    p = sub.add_parser(
        "land",
        help="write simulated days into the landing zone",
        description="Writes machines.csv, the maintenance history before START and N day files "
        "per daily table, each file atomically.",
    )
    p.add_argument("--start", type=_iso_day, required=True, help="first day, YYYY-MM-DD")
    p.add_argument("--days", type=_positive_int, required=True, help="number of days")
    p.add_argument("--machines", type=_positive_int, help="fleet size (default: PDM_MACHINES)")
    p.add_argument("--seed", type=int, help="simulator seed (default: PDM_SEED)")
    p.add_argument("--landing-dir", help="landing zone (default: PDM_LANDING_DIR or data/landing)")
    p.set_defaults(run=_run_land)


SUBCOMMANDS: list[Callable[[SubParsers], None]] = [_add_import_azure, _add_land]


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
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError) as exc:  # ValidationError is a ValueError
        print(f"pdm-assets {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
