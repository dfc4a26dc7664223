"""SIGKILL real materializations at each phase of the partition swap: the stored partitions are
always one complete version (the old one before the journal, the new one after it, which the
next reader rolls forward), readable, and a re-run succeeds with the expected rows.

The four writers (one per kill point, each with its own data directory) run at the same time:
a JVM start is most of the cost of each.
"""

from __future__ import annotations

from datetime import date

from pdm_assets.resources.sources import RawDataSource
from pdm_assets.resources.storage import PartitionedTableStore
from pdm_assets_tests.reliability import writer
from pdm_assets_tests.reliability.conftest import (
    DAYS,
    MACHINES,
    TABLE,
    is_version,
    kill,
    signature,
    start_writer,
    wait_for,
    writer_env,
)

# kill point -> the version a reader must find afterwards (1 = stored before, 2 = the killed run's)
KILL_POINTS = {
    "staging": 1,  # Spark is writing the new files
    "staged": 1,  # all new files written, no journal yet
    "journaled": 2,  # journal written, nothing swapped: recovery rolls forward
    "half-swapped": 2,  # first day moved to trash, its new version not in place: a hole on disk
}


def test_killed_writes_leave_one_complete_version_and_rerun(spark, tmp_path, versions, monkeypatch):
    old = RawDataSource(kind="simulator", n_machines=MACHINES, seed=1)
    old_rows = old.read_days(spark, "telemetry", [date.fromisoformat(d) for d in DAYS]).cache()
    runs = {}
    for point in KILL_POINTS:
        data_dir = tmp_path / point / "data"
        PartitionedTableStore(spark, str(data_dir / "tables")).write(TABLE, old_rows, DAYS)
        marker = tmp_path / point / "phase"
        hook = None if point == "staging" else f"{point}:{marker}:600"
        runs[point] = (data_dir, marker, start_writer(data_dir, seed=2, hook=hook))

    journaled = {}
    try:
        for point, (data_dir, marker, proc) in runs.items():
            table_dir = data_dir / "tables" / TABLE
            if point == "staging":  # kill as soon as Spark has begun writing the new files
                started = lambda d=table_dir: any((d / "_staging").rglob("*.parquet"))  # noqa: E731
                wait_for(started, proc, "staging")
            else:
                wait_for(marker.exists, proc, point)
            kill(proc)
            journaled[point] = bool(list((table_dir / "_swaps").glob("*.json")))
            if point == "half-swapped":  # the hole the journal lets the next reader fill
                assert not (table_dir / f"dt={DAYS[0]}").exists()
    finally:
        for _, _, proc in runs.values():
            if proc.poll() is None:
                kill(proc)

    for point, (data_dir, _, _) in runs.items():
        assert journaled[point] == (KILL_POINTS[point] == 2), point
        after_kill = signature(PartitionedTableStore(spark, str(data_dir / "tables")))
        assert is_version(after_kill, versions[KILL_POINTS[point]]), (point, after_kill)
        assert not list((data_dir / "tables" / TABLE / "_swaps").glob("*.json"))

        # The re-run, through Dagster in this process, lands the new version whole.
        for key, value in writer_env(data_dir, seed=2).items():
            monkeypatch.setenv(key, value)
        assert writer.main(DAYS[0], DAYS[-1]) == 0
        rerun = signature(PartitionedTableStore(spark, str(data_dir / "tables")))
        assert is_version(rerun, versions[2]), (point, rerun)
