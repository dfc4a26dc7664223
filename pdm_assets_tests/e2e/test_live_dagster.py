"""A real dagster-webserver and dagster-daemon ingest, score and alert on a day that lands.

The history up to the day before yesterday is in place (see conftest.py); yesterday's files are
dropped into the landing zone and nothing else is done by hand: the landing-zone sensor must
request exactly yesterday's raw partition, and automation must take it from there. All checks go
through the webserver's GraphQL API.
"""

import time
from datetime import timedelta

import pytest

from pdm_assets.partitions import RANGE_END_TAG, RANGE_START_TAG
from pdm_assets_tests.e2e.conftest import LiveStack, materializations, wait_for

pytestmark = pytest.mark.slow
# The stack runs with PDM_OPEN_DAY: the daily assets follow today (open) and yesterday.
OPEN_DAY_EAGER = "eager, open day and yesterday"

RUNS_QUERY = """
query ($filter: RunsFilter!) {
  runsOrError(filter: $filter) {
    ... on Runs {
      results {
        runId status jobName tags { key value }
        assetMaterializations { assetKey { path } partition }
      }
    }
  }
}
"""

LINEAGE_QUERY = """
query ($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode {
      dependencyKeys { path }
      dependedByKeys { path }
      automationCondition { label }
      partitionKeysByDimension { partitionKeys }
    }
  }
}
"""

SENSOR_QUERY = """
query {
  workspaceOrError {
    ... on Workspace {
      locationEntries {
        locationOrLoadError {
          ... on RepositoryLocation {
            repositories {
              sensors {
                name
                sensorState { status ticks(limit: 50) { status runIds cursor } }
              }
            }
          }
        }
      }
    }
  }
}
"""


def runs(stack: LiveStack, **tags: str) -> list[dict]:
    flt = {"tags": [{"key": k, "value": v} for k, v in tags.items()]}
    return stack.graphql(RUNS_QUERY, {"filter": flt})["runsOrError"]["results"]


def run_by_id(stack: LiveStack, run_id: str) -> dict:
    (run,) = stack.graphql(RUNS_QUERY, {"filter": {"runIds": [run_id]}})["runsOrError"]["results"]
    return run


def tags_of(run: dict) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run["tags"]}


def span_of(tags: dict[str, str]) -> tuple[str | None, str | None]:
    """First and last partition of a run: a single-run range's tags, or its one partition."""
    one = tags.get("dagster/partition")
    return tags.get(RANGE_START_TAG, one), tags.get(RANGE_END_TAG, one)


def materialized_by(run: dict) -> list[tuple[str, str]]:
    return sorted((m["assetKey"]["path"][-1], m["partition"]) for m in run["assetMaterializations"])


def sensors(stack: LiveStack) -> dict[str, dict]:
    data = stack.graphql(SENSOR_QUERY)["workspaceOrError"]["locationEntries"]
    return {
        s["name"]: s
        for entry in data
        for repo in entry["locationOrLoadError"]["repositories"]
        for s in repo["sensors"]
    }


def lineage(stack: LiveStack, asset: str) -> dict:
    node = stack.graphql(LINEAGE_QUERY, {"key": {"path": [asset]}})["assetNodeOrError"]
    return {
        "up": sorted(k["path"][-1] for k in node["dependencyKeys"]),
        "down": sorted(k["path"][-1] for k in node["dependedByKeys"]),
        "condition": (node["automationCondition"] or {}).get("label"),
    }


def test_a_landed_day_is_ingested_by_the_sensor_and_scored_by_automation(scored_yesterday):
    stack = scored_yesterday
    started = time.monotonic()
    day = stack.plan.yesterday.isoformat()
    assert f'"first_day": "{day}"' in stack.landed

    # Both sensors run by default with PDM_SOURCE=landing.
    state = sensors(stack)
    assert state["landing_zone_sensor"]["sensorState"]["status"] == "RUNNING"
    assert state["pdm_automation_sensor"]["sensorState"]["status"] == "RUNNING"

    # The landing sensor asked for exactly the days that landed, yesterday and the open day (its
    # first hours came with yesterday), each once (the history it found in the landing zone was
    # adopted, not re-run), and those runs succeeded. Whether it saw both days in one tick (one
    # single-run range) or in two depends on when its tick fell between the two deliveries.
    today = stack.plan.today.isoformat()
    raw_runs = runs(stack, **{"dagster/sensor_name": "landing_zone_sensor"})
    assert {r["jobName"] for r in raw_runs} == {"raw_job"}
    assert {r["status"] for r in raw_runs} == {"SUCCESS"}
    spans = sorted(span_of(tags_of(r)) for r in raw_runs)
    assert spans in ([(day, today)], [(day, day), (today, today)]), spans
    assert any(day in tags_of(r)["dagster/run_key"] for r in raw_runs)
    raw = ("raw_errors", "raw_failures", "raw_maintenance", "raw_telemetry")
    done = sorted(m for r in raw_runs for m in materialized_by(r))
    assert done == sorted((a, d) for a in raw for d in (day, today))

    # Scores and alerts of yesterday were materialized by automation-launched runs.
    for asset in ("component_replacements", "machine_features", "failure_scores"):
        assert materializations(stack, asset, day), f"{asset} {day} not materialized"
    (alerts,) = materializations(stack, "maintenance_alerts", day)
    scored_by = run_by_id(stack, alerts["runId"])
    assert scored_by["status"] in ("SUCCESS", "STARTED")  # the run may still be finishing
    scored_tags = tags_of(scored_by)
    # Yesterday alone, or with the open day as one single-run range.
    assert span_of(scored_tags) in ((day, day), (day, today)), scored_tags
    assert scored_tags.get("dagster/sensor_name") == "pdm_automation_sensor", scored_tags
    assert scored_by["runId"] not in {r["runId"] for r in raw_runs}
    assert {("failure_scores", day), ("maintenance_alerts", day)} <= set(materialized_by(scored_by))

    # Labels of Y-2 became computable with Y's failures: automation requests them too.
    label_key = (stack.plan.yesterday - timedelta(days=2)).isoformat()
    wait_for(
        f"failure_labels {label_key}",
        lambda: materializations(stack, "failure_labels", label_key),
        180,
        3,
        stack.assert_alive,
    )
    # The model was not retrained by automation: only the history's partition exists.
    model = materializations(stack, "failure_model", stack.plan.model_month)
    assert len(model) == 1
    model_runs = runs(stack, **{"dagster/partition": stack.plan.model_month})
    assert [r["jobName"] for r in model_runs] == ["__ephemeral_asset_job__"]  # the history's

    # Lineage as declared.
    assert lineage(stack, "failure_scores") == {
        "up": ["failure_model", "machine_features"],
        "down": ["maintenance_alerts", "score_evaluation"],
        "condition": OPEN_DAY_EAGER,
    }
    assert lineage(stack, "maintenance_alerts") == {
        "up": ["failure_scores", "machine_features"],
        "down": ["score_evaluation"],
        "condition": OPEN_DAY_EAGER,
    }
    assert lineage(stack, "failure_model")["condition"] is None

    stack.timings["assertions"] = time.monotonic() - started
    print(f"\nlive e2e timings: {stack.timings}")
