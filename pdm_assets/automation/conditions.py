"""Declarative automation: the conditions on the daily assets and the sensor that evaluates them.

``sensor_interval_seconds`` sets the tick of both sensors (this one and the landing-zone sensor).
"""

import os
from collections.abc import Iterable
from datetime import timedelta

import dagster as dg

from pdm_assets.automation.jobs import AUTOMATED_ASSETS, FEATURE_ASSETS, SCORE_ASSETS
from pdm_assets.settings import load_settings

AUTOMATION_SENSOR = "pdm_automation_sensor"
DEFAULT_INTERVAL_SECONDS = 30


def follow_inputs() -> dg.AutomationCondition:
    """Eager, i.e. the newest partition only, once no input is missing or running.

    Why eager: it fires on *any* updated input, so a raw day landing is enough; inputs that will
    be requested in the same tick do not count as missing, so replacements, features, scores and
    alerts of a day can go in one run; yesterday's ``component_replacements`` (the self
    dependency) is an existing partition, not a missing one; and a missing model partition keeps
    ``failure_scores`` waiting instead of failing. ``any_deps_updated`` ignores inputs updated by a
    run that also materialized the asset, so the daily scoring schedule's one-run chain does not
    trigger a second run. Blocking checks stop downstream steps inside a run.
    """
    return dg.AutomationCondition.eager()


def follow_inputs_open_day() -> dg.AutomationCondition:
    """Eager over the newest two daily partitions: the open day (today) and yesterday.

    With PDM_OPEN_DAY the newest partition is today, refreshed as its hours land, while
    yesterday's last hours (and yesterday's daily file, where a plant sends one) arrive after
    midnight; both must be followed without a person.
    """
    # Partitions whose window starts at most two days before the end of the latest one.
    window = dg.AutomationCondition.in_latest_time_window(timedelta(days=2))
    return (
        dg.AutomationCondition.eager()
        .replace(dg.AutomationCondition.in_latest_time_window(), window)
        .with_label("eager, open day and yesterday")
    )


def automation_conditions(open_day: bool | None = None) -> dict[str, dg.AutomationCondition]:
    """The daily assets follow today and yesterday with PDM_OPEN_DAY, the newest day otherwise;
    labels and evaluation (closed days only) always the newest."""
    if open_day is None:
        open_day = load_settings().open_day
    daily = set(FEATURE_ASSETS + SCORE_ASSETS) if open_day else set()
    return {
        name: follow_inputs_open_day() if name in daily else follow_inputs()
        for name in AUTOMATED_ASSETS
    }


def with_automation(
    assets: Iterable[dg.AssetsDefinition],
    conditions: dict[str, dg.AutomationCondition] | None = None,
) -> list[dg.AssetsDefinition]:
    """The same assets with automation conditions attached by asset key (others unchanged)."""
    conditions = automation_conditions() if conditions is None else conditions

    def attach(spec: dg.AssetSpec) -> dg.AssetSpec:
        condition = conditions.get(spec.key.to_user_string())
        if condition is None:
            return spec
        return spec.replace_attributes(automation_condition=condition)

    out = []
    for asset in assets:
        names = {key.to_user_string() for key in asset.keys}
        out.append(asset.map_asset_specs(attach) if names & conditions.keys() else asset)
    return out


def sensor_interval_seconds() -> int:
    """PDM_SENSOR_INTERVAL_SECONDS (default 30): how often both sensors tick."""
    return int(os.environ.get("PDM_SENSOR_INTERVAL_SECONDS", "") or DEFAULT_INTERVAL_SECONDS)


def automation_sensor_enabled() -> bool:
    """PDM_AUTOMATION=on|off (default on): whether the automation sensor starts RUNNING."""
    return os.environ.get("PDM_AUTOMATION", "on").strip().lower() not in ("off", "0", "false")


def build_automation_sensor() -> dg.AutomationConditionSensorDefinition:
    """Evaluates the automation conditions; RUNNING by default (PDM_AUTOMATION=off stops it).

    Declared explicitly (rather than Dagster's implicit default sensor) to set its status and
    interval in code.
    """
    return dg.AutomationConditionSensorDefinition(
        AUTOMATION_SENSOR,
        target=dg.AssetSelection.all(),
        default_status=(
            dg.DefaultSensorStatus.RUNNING
            if automation_sensor_enabled()
            else dg.DefaultSensorStatus.STOPPED
        ),
        minimum_interval_seconds=sensor_interval_seconds(),
        description="Keeps the newest partition of each automated asset up to date.",
    )
