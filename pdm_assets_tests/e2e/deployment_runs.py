"""The pipeline stages the deployment tests run, the same way in every deployment.

Run as a module in a fresh process (one SparkContext per process, and the partitions read their
start date at import): ``python -m pdm_assets_tests.e2e.deployment_runs STAGE...`` with the
deployment chosen by the environment. The last line printed is a JSON summary.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

FIRST_DAY, LAST_RAW_DAY, LAST_LABEL_DAY = "2015-01-01", "2015-01-04", "2015-01-02"
HISTORY_START = "2014-12-18"
RAW = ["raw_telemetry", "raw_errors", "raw_maintenance", "raw_failures"]
FEATURES = ["component_replacements", "machine_features"]
# The model scenario: the first model period whose training window (from FIRST_DAY) is complete,
# and the first day it scores (the month of D minus the horizon and a day).
MODEL_MONTH, LAST_TRAINING_DAY, SCORE_DAY = "2015-02-01", "2015-01-29", "2015-02-04"
SMALL_MODEL = {"num_trees": 5, "max_depth": 4, "holdout_days": 7, "min_threshold_failures": 0}
# stage -> (selection, first partition, last partition); None: unpartitioned
STAGES: dict[str, tuple[list[str], str | None, str | None]] = {
    "machines": (["machines"], None, None),
    "raw": (RAW, FIRST_DAY, LAST_RAW_DAY),
    "features": (FEATURES, FIRST_DAY, LAST_RAW_DAY),
    "labels": (["failure_labels"], FIRST_DAY, LAST_LABEL_DAY),
    "raw_to_score_day": (RAW, FIRST_DAY, SCORE_DAY),
    "features_to_score_day": (FEATURES, FIRST_DAY, SCORE_DAY),
    "training_labels": (["failure_labels"], FIRST_DAY, LAST_TRAINING_DAY),
    "model": (["failure_model"], MODEL_MONTH, MODEL_MONTH),
    "scores": (["failure_scores"], SCORE_DAY, SCORE_DAY),
    "alerts": (["maintenance_alerts"], SCORE_DAY, SCORE_DAY),
}
RUN_CONFIG = {"model": {"ops": {"failure_model": {"config": SMALL_MODEL}}}}


def run_stages(stages: list[str]) -> dict[str, Any]:
    """Materializes each stage in-process (no step launcher), with checks left out."""
    import dagster as dg

    from pdm_assets.definitions import build_assets
    from pdm_assets.partitions import materialize_days
    from pdm_assets.resources.deployments import build_resources

    resources = build_resources()
    timings: dict[str, float] = {}
    with dg.instance_for_test() as instance:
        for stage in stages:
            selection, first, last = STAGES[stage]
            started = time.monotonic()
            result = materialize_days(
                build_assets(),
                selection,
                instance,
                resources,
                first,
                last,
                run_config=RUN_CONFIG.get(stage),
            )
            assert result.success, stage
            timings[stage] = round(time.monotonic() - started, 1)
    spark = resources["pyspark"].spark_session
    tracker = spark._jsc.sc().statusTracker()
    executors = [
        {"host": e.host(), "port": e.port(), "tasks": e.numRunningTasks()}
        for e in tracker.getExecutorInfos()
    ]
    return {
        "timings": timings,
        "master": spark.sparkContext.master,
        "app_id": spark.sparkContext.applicationId,
        # The driver is listed too; a cluster adds one entry per executor.
        "executors": executors,
    }


if __name__ == "__main__":
    print(json.dumps(run_stages(sys.argv[1:])), flush=True)
