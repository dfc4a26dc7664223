"""The README's first command: simulate a fleet and materialize it through Dagster."""

from __future__ import annotations

import os
import time
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from pdm_assets.settings import Settings, load_settings

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def prepare_dagster_home(settings: Settings) -> Path:
    """A persistent DAGSTER_HOME under the data directory, unless one is set already."""
    home = Path(os.environ.get("DAGSTER_HOME") or Path(settings.data_dir) / "dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = str(home.absolute())
    return home


def materialize_range(
    defs: dg.Definitions,
    selection: list[str],
    instance: dg.DagsterInstance,
    start: date | None = None,
    end: date | None = None,
) -> dg.ExecuteInProcessResult:
    """One run over a partition range (the single-run backfill path), or an unpartitioned run."""
    assets = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
    tags = {}
    if start is not None and end is not None:
        tags = {RANGE_START_TAG: start.isoformat(), RANGE_END_TAG: end.isoformat()}
    return dg.materialize(
        assets, selection=selection, instance=instance, resources=defs.resources, tags=tags
    )


def run_demo(days: int = 90) -> None:
    from pdm_assets.definitions import build_definitions

    settings = load_settings()
    home = prepare_dagster_home(settings)
    instance = dg.DagsterInstance.get()
    defs = build_definitions()
    first, last = settings.start, settings.start + timedelta(days=days - 1)
    print(f"Simulating {settings.n_machines} machines, {first} .. {last} (seed {settings.seed})")

    started = time.monotonic()
    materialize_range(defs, ["machines"], instance)
    raw = ["raw_telemetry", "raw_errors", "raw_maintenance", "raw_failures"]
    materialize_range(defs, raw, instance, first, last)
    elapsed = time.monotonic() - started

    print(f"\nMaterialized in {elapsed:.0f} s into {settings.tables_root}")
    print(f"{'asset':<18}{'partitions':>12}{'rows':>12}")
    for name in ["machines", *raw]:
        partitions, rows = _stored_summary(instance, name)
        print(f"{name:<18}{partitions:>12}{rows:>12}")
    print(
        f"\nDagster instance: {home}\n"
        f"Open the UI:  DAGSTER_HOME={home} .venv/bin/dagster dev -w workspace.yaml"
        "   (or: make dev), then http://127.0.0.1:3000"
    )


def _stored_summary(instance: dg.DagsterInstance, asset: str) -> tuple[int, int]:
    key = dg.AssetKey(asset)
    records = instance.fetch_materializations(key, limit=100_000).records
    latest: dict[str | None, int] = {}
    for record in sorted(records, key=lambda r: r.timestamp):
        mat = record.asset_materialization
        if mat is None:
            continue
        count = mat.metadata.get("dagster/row_count")
        latest[mat.partition] = int(count.value) if count is not None else 0
    return len(latest), sum(latest.values())
