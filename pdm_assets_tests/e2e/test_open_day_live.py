"""Hourly freshness, live: today's hourly files are picked up by the landing-zone sensor and
automation re-publishes today's features, scores and alerts, with nobody running anything.

The stack runs with PDM_OPEN_DAY (see conftest.py): yesterday and today's first hours, landed
together, are already scored. One more hour is written by the simulator as hourly landing files
(``pdm-assets land --today-through HH``); every check goes through the webserver's GraphQL API
or the stored tables.
"""

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from pdm_assets_tests.e2e.conftest import MACHINES, SCORING_TIMEOUT, LiveStack, wait_for

pytestmark = pytest.mark.slow

MATERIALIZATIONS_QUERY = """
query ($key: AssetKeyInput!, $partition: String!) {
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode {
      assetMaterializations(partitions: [$partition]) {
        runId timestamp
        metadataEntries { label ... on TextMetadataEntry { text } }
      }
    }
  }
}
"""


def materialized(stack: LiveStack, asset: str, day: str) -> list[dict]:
    data = stack.graphql(MATERIALIZATIONS_QUERY, {"key": {"path": [asset]}, "partition": day})
    return data["assetNodeOrError"].get("assetMaterializations") or []


def newest(stack: LiveStack, asset: str, day: str) -> dict | None:
    found = materialized(stack, asset, day)
    return max(found, key=lambda m: float(m["timestamp"])) if found else None


def published_after(stack: LiveStack, asset: str, day: str, since: float) -> dict | None:
    """The asset's newest materialization of ``day`` if it happened after ``since`` (epoch s)."""
    record = newest(stack, asset, day)
    return record if record and float(record["timestamp"]) / 1000 > since else None


def text_entry(record: dict, label: str) -> str | None:
    return next((e.get("text") for e in record["metadataEntries"] if e["label"] == label), None)


def stored(stack: LiveStack, table: str, day: str) -> pd.DataFrame:
    folder = Path(stack.env["PDM_DATA_DIR"]) / "tables" / table / f"dt={day}"
    frame = pd.read_parquet(folder)
    return frame.sort_values(["machineID", "datetime"]).reset_index(drop=True)


def land_and_wait(stack: LiveStack, through: int) -> tuple[float, dict]:
    """Land today's hours up to ``through``; seconds until its alerts were published, and the
    features' newest materialization."""
    day = stack.plan.today.isoformat()
    landed_at = time.time()
    stack.cli("land", "--today-through", str(through))
    try:
        alerts = wait_for(
            f"maintenance_alerts {day} to be re-published after hour {through:02d} landed",
            lambda: published_after(stack, "maintenance_alerts", day, landed_at),
            SCORING_TIMEOUT,
            3,
            stack.assert_alive,
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- daemon log ---\n{stack.log_tail('daemon')}") from None
    features = newest(stack, "machine_features", day)
    assert features is not None and float(features["timestamp"]) / 1000 > landed_at
    return float(alerts["timestamp"]) / 1000 - landed_at, features


def test_each_hour_of_the_open_day_is_published_within_the_hour(scored_yesterday):
    stack = scored_yesterday
    day = stack.plan.today
    # Hours 00..first landed with yesterday (conftest.py) and are published already.
    first = stack.open_day_through
    second = first + 1

    features = newest(stack, "machine_features", day.isoformat())
    assert features is not None
    through = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=first)
    assert text_entry(features, "rows_through") == through.isoformat()
    before = stored(stack, "machine_features", day.isoformat())
    assert len(before) == MACHINES * (first + 1)  # every machine, hours 00..first
    scores = stored(stack, "failure_scores", day.isoformat())
    assert len(scores) == MACHINES * (first + 1)
    # Hourly files: a row is published one hour after its newest reading.
    lag = (scores["available_at"] - scores["datetime"]).unique()
    assert list(lag) == [pd.Timedelta(hours=1)]

    seconds, features = land_and_wait(stack, second)
    assert seconds < 3600, f"hour {second:02d} published {seconds:.0f} s after it landed"
    assert text_entry(features, "rows_through") == (through + timedelta(hours=1)).isoformat()
    after = stored(stack, "machine_features", day.isoformat())
    assert len(after) == MACHINES * (second + 1)
    # The refresh added the new hour's rows and left every published row exactly as it was.
    # The stored timestamps are UTC without a zone.
    earlier = after[after["datetime"] <= pd.Timestamp(through.replace(tzinfo=None))]
    earlier = earlier.reset_index(drop=True)
    pd.testing.assert_frame_equal(earlier, before, check_exact=True)
    stack.timings["open_day_hour_published_s"] = seconds
    print(f"\nopen day: hour {second:02d} published {seconds:.1f} s after it landed")
