"""A real materialization in its own process, for the kill and concurrency tests.

``python -m pdm_assets_tests.reliability.writer FIRST LAST`` materializes raw_telemetry for the
days FIRST..LAST in one run (a single-run backfill), from the simulator, with the environment's
settings (PDM_DATA_DIR, PDM_MACHINES, PDM_SEED) and the store's test hook if set.
"""

from __future__ import annotations

import sys

import dagster as dg

from pdm_assets.definitions import build_assets
from pdm_assets.partitions import partition_range_tags
from pdm_assets.resources.deployments import build_resources


def main(first: str, last: str) -> int:
    result = dg.materialize(
        build_assets(),
        selection=["raw_telemetry"],
        resources=build_resources(),
        tags=partition_range_tags(first, last),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    print("success" if result.success else "failure", flush=True)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
