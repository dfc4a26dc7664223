"""``python -m pdm_assets_tests.reliability.trainer MONTH``: train and register one model partition
in a process of its own (the data dir, MLflow store and sentinels come from the environment)."""

from __future__ import annotations

import sys

import dagster as dg

from pdm_assets.definitions import build_assets
from pdm_assets.resources.deployments import build_resources

SMALL_FOREST = {
    "ops": {
        "failure_model": {"config": {"num_trees": 4, "max_depth": 4, "min_threshold_failures": 0}}
    }
}


def main(month: str) -> int:
    result = dg.materialize(
        build_assets(),
        selection=["failure_model"],
        resources=build_resources(),
        partition_key=month,
        run_config=SMALL_FOREST,
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    if result.success:
        record = result.output_for_node("failure_model")
        print(f"trained {record['version']} {record['run_id']}", flush=True)
    else:
        print("failure", flush=True)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
