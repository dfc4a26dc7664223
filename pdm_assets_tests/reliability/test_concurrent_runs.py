"""Two real processes write one asset at the same time.

Each writer holds for a moment in the middle of every partition swap (the store's test hook), so
a second writer arriving then would, without the per-table lock, finish the first one's journal
under its feet (its own rename then fails) or interleave two swaps of one partition.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from pdm_assets.resources.sources import RawDataSource
from pdm_assets.resources.storage import PartitionedTableStore
from pdm_assets_tests.reliability.conftest import (
    DAYS,
    MACHINES,
    TABLE,
    expected_signature,
    is_version,
    signature,
    start_writer,
)

HOLD_SECONDS = 3


def _store_old_version(spark, data_dir) -> PartitionedTableStore:
    store = PartitionedTableStore(spark, str(data_dir / "tables"))
    old = RawDataSource(kind="simulator", n_machines=MACHINES, seed=1)
    store.write(
        TABLE, old.read_days(spark, "telemetry", [date.fromisoformat(d) for d in DAYS]), DAYS
    )
    return store


def _run_together(data_dir, marker, *writers) -> dict[int, list[float]]:
    """Start the writers (seed, days) at once, wait for all; hold start times per seed."""
    hook = f"half-swapped:{marker}:{HOLD_SECONDS}"
    procs = [start_writer(data_dir, seed, days, hook=hook) for seed, days in writers]
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out[-3000:]
    seed_of = {proc.pid: seed for proc, (seed, _) in zip(procs, writers, strict=True)}
    holds: dict[int, list[float]] = defaultdict(list)
    for line in marker.read_text().splitlines():
        _, pid, when = line.split()
        holds[seed_of[int(pid)]].append(float(when))
    assert set(holds) == set(seed_of.values())  # both really swapped with the hook
    return holds


def _serialized(holds: dict[int, list[float]]) -> bool:
    """No two processes were inside a swap at the same time."""
    spans = sorted((t, t + HOLD_SECONDS, seed) for seed, times in holds.items() for t in times)
    return all(b[0] >= a[1] - 0.05 or a[2] == b[2] for a, b in zip(spans, spans[1:], strict=False))


def test_different_partitions_written_at_once_both_land(spark, tmp_path):
    data_dir = tmp_path / "data"
    _store_old_version(spark, data_dir)
    holds = _run_together(
        data_dir, tmp_path / "phase", (2, (DAYS[0], DAYS[1])), (3, (DAYS[2], DAYS[2]))
    )
    assert _serialized(holds)
    store = PartitionedTableStore(spark, str(data_dir / "tables"))
    assert is_version(signature(store, DAYS[:2]), expected_signature(2, DAYS[:2]))
    assert is_version(signature(store, DAYS[2:]), expected_signature(3, DAYS[2:]))


def test_same_partitions_written_at_once_end_as_one_complete_version(spark, tmp_path):
    data_dir = tmp_path / "data"
    _store_old_version(spark, data_dir)
    holds = _run_together(
        data_dir, tmp_path / "phase", (2, (DAYS[0], DAYS[-1])), (3, (DAYS[0], DAYS[-1]))
    )
    assert _serialized(holds)
    got = signature(PartitionedTableStore(spark, str(data_dir / "tables")))
    winners = [seed for seed in (2, 3) if is_version(got, expected_signature(seed))]
    last = max(holds, key=lambda seed: max(holds[seed]))
    assert winners == [last], got  # all days from the writer that swapped last, never a mix
    assert all(len(times) == len(DAYS) for times in holds.values())
    assert not list((data_dir / "tables" / TABLE / "_swaps").glob("*.json"))
