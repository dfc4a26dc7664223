"""The one Definitions object of the code location. Importing it starts no Spark."""

from __future__ import annotations

import dagster as dg

from pdm_assets.assets.evaluation import score_evaluation
from pdm_assets.assets.features import component_replacements, machine_features
from pdm_assets.assets.labels import build_failure_labels
from pdm_assets.assets.model import failure_model
from pdm_assets.assets.raw import build_raw_assets
from pdm_assets.assets.scoring import failure_scores, maintenance_alerts
from pdm_assets.automation import automation_definitions, with_automation
from pdm_assets.checks import ALL_CHECKS
from pdm_assets.resources.deployments import build_resources, deployment_assets


def build_assets() -> list[dg.AssetsDefinition]:
    return [
        *build_raw_assets(),
        component_replacements,
        machine_features,
        build_failure_labels(),
        failure_model,
        failure_scores,
        maintenance_alerts,
        score_evaluation,
    ]


def build_definitions() -> dg.Definitions:
    # --- automation hook (issue 6): conditions on the assets; jobs, schedules, sensors ---
    return dg.Definitions(
        assets=with_automation(deployment_assets(build_assets())),
        asset_checks=ALL_CHECKS,
        resources=build_resources(),
        **automation_definitions(),
    )
    # --- end automation hook ---


defs = build_definitions()
