"""Asset groups and the jobs over them: what sensors and schedules can request."""

from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

RAW_ASSETS = ("raw_telemetry", "raw_errors", "raw_maintenance", "raw_failures")
FEATURE_ASSETS = ("component_replacements", "machine_features")
SCORE_ASSETS = ("failure_scores", "maintenance_alerts")
LABEL_ASSETS = ("failure_labels",)
EVALUATION_ASSETS = ("score_evaluation",)
MODEL_ASSETS = ("failure_model",)
# Assets that follow their inputs for the newest partition; the model is deliberately absent.
AUTOMATED_ASSETS = (*FEATURE_ASSETS, *SCORE_ASSETS, *LABEL_ASSETS, *EVALUATION_ASSETS)

RAW_JOB = "raw_job"
MACHINES_JOB = "machines_job"
FEATURES_JOB = "features_job"
SCORES_JOB = "scores_job"
LABELS_JOB = "labels_job"
EVALUATION_JOB = "evaluation_job"
MODEL_JOB = "model_job"
DAILY_SCORING_JOB = "daily_scoring_job"

# Assets with different partitions definitions cannot share a run, so each job holds one kind.
JOB_ASSETS: dict[str, tuple[str, ...]] = {
    RAW_JOB: RAW_ASSETS,
    MACHINES_JOB: ("machines",),
    FEATURES_JOB: FEATURE_ASSETS,
    SCORES_JOB: SCORE_ASSETS,
    LABELS_JOB: LABEL_ASSETS,
    EVALUATION_JOB: EVALUATION_ASSETS,
    MODEL_JOB: MODEL_ASSETS,
    DAILY_SCORING_JOB: (*RAW_ASSETS, *FEATURE_ASSETS, *SCORE_ASSETS),
}
JOB_DESCRIPTIONS = {
    RAW_JOB: "Ingest raw days (the landing-zone sensor's first step).",
    MACHINES_JOB: "Refresh the fleet inventory after machines.csv changed.",
    FEATURES_JOB: "Replacement state and features for days that automation does not maintain.",
    SCORES_JOB: "Scores and alerts for days that automation does not maintain.",
    LABELS_JOB: "Labels (label partitions end one horizon before the raw ones).",
    EVALUATION_JOB: "Evaluation of scores against labels.",
    MODEL_JOB: "Train one month's failure model (monthly schedule or on demand).",
    DAILY_SCORING_JOB: "Simulate and score one day: raw -> features -> scores and alerts.",
}


def build_jobs() -> "list[UnresolvedAssetJobDefinition]":
    return [
        dg.define_asset_job(name, selection=list(assets), description=JOB_DESCRIPTIONS[name])
        for name, assets in JOB_ASSETS.items()
    ]
