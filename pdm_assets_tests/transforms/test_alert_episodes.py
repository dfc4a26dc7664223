"""Publication time, alert episodes and published lead time on hand-made cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pdm_assets.transforms.alert_episodes import (
    alert_episodes,
    alert_rows,
    available_at,
    crew_metrics,
    judge_episodes,
    published_leads,
)

H = timedelta(hours=1)
T0 = datetime(2015, 3, 10, tzinfo=UTC)


def utc(t: datetime) -> datetime:
    """A collected timestamp (naive, session-local) as an aware UTC datetime."""
    return t.astimezone(UTC)


@pytest.mark.parametrize(
    ("t", "interval", "expected"),
    [
        (T0, 24, T0 + 24 * H),  # a row at 00:00 waits for the whole day's file
        (T0 + 23 * H, 24, T0 + 24 * H),
        (T0 + 5 * H, 1, T0 + 6 * H),  # hourly files: the reading's hour closes
        (T0 + 5 * H, 6, T0 + 6 * H),
        (T0 + 6 * H, 6, T0 + 12 * H),
    ],
)
def test_available_at_is_the_end_of_the_landing_interval(spark, t, interval, expected):
    frame = spark.createDataFrame([(t,)], "datetime timestamp")
    got = frame.select(available_at(interval).alias("a")).first()["a"]
    assert utc(got) == expected


def test_available_at_rejects_intervals_that_do_not_tile_a_day():
    with pytest.raises(ValueError, match="divide 24"):
        available_at(5)


ALERT_DDL = (
    "machineID int, datetime timestamp, component string, risk double, available_at timestamp"
)


@pytest.fixture
def alerts(spark):
    rows = [
        # machine 1, comp1: t0, +12 h, +36 h (gaps <= 24 h: one episode), then +72 h (a new one)
        (1, T0, "comp1", 0.6, T0 + H),
        (1, T0 + 12 * H, "comp1", 0.9, T0 + 13 * H),
        (1, T0 + 36 * H, "comp1", 0.7, T0 + 37 * H),
        (1, T0 + 72 * H, "comp1", 0.8, T0 + 73 * H),
        # machine 1, comp2: its own series even though it overlaps comp1's episode
        (1, T0 + 12 * H, "comp2", 0.5, T0 + 13 * H),
        (2, T0, "comp1", 0.55, T0 + H),
    ]
    return spark.createDataFrame(rows, ALERT_DDL)


@pytest.fixture
def failures(spark):
    return spark.createDataFrame(
        [
            (T0 + 60 * H, 1, "comp1"),  # 24 h after the first episode's last alert: announced
            (T0 + 10 * H, 2, "comp2"),  # machine 2 was alerted for comp1: wrong component
        ],
        "datetime timestamp, machineID int, failure string",
    )


def test_consecutive_alerts_of_a_machine_and_component_form_one_episode(alerts):
    got = sorted(
        (r["machineID"], r["component"], utc(r["first_alert"]), utc(r["last_alert"]), r["alerts"])
        for r in alert_episodes(alerts).collect()
    )
    assert got == [
        (1, "comp1", T0, T0 + 36 * H, 3),
        (1, "comp1", T0 + 72 * H, T0 + 72 * H, 1),
        (1, "comp2", T0 + 12 * H, T0 + 12 * H, 1),
        (2, "comp1", T0, T0, 1),
    ]
    first = [r for r in alert_episodes(alerts).collect() if r["alerts"] == 3][0]
    assert first["episode_id"] == "1-comp1-2015031000"
    assert first["max_risk"] == 0.9 and utc(first["first_available_at"]) == T0 + H
    # A tighter gap splits the first episode at its 24 h hole.
    assert alert_episodes(alerts, gap_hours=12).count() == 5


def test_an_episode_is_true_when_its_component_fails_within_the_horizon(alerts, failures):
    judged = judge_episodes(alert_episodes(alerts), failures, horizon_hours=48).collect()
    truth = {(r["machineID"], r["component"], utc(r["first_alert"])): r["is_true"] for r in judged}
    assert truth == {
        (1, "comp1", T0): True,  # failure at +60 h <= last alert +36 h + 48 h
        (1, "comp1", T0 + 72 * H): False,  # after the failure: nothing follows
        (1, "comp2", T0 + 12 * H): False,
        (2, "comp1", T0): False,  # machine 2's comp2 failed, not comp1
    }
    # With a 12 h horizon the failure is 24 h after the last alert: not announced.
    short = judge_episodes(alert_episodes(alerts), failures, horizon_hours=12).collect()
    assert not any(r["is_true"] for r in short)


def test_published_lead_counts_from_the_first_alerts_publication(alerts, failures):
    leads = {
        (r["machineID"], r["failure"]): r["lead_hours"]
        for r in published_leads(failures, alert_episodes(alerts), 48).collect()
    }
    assert leads == {(1, "comp1"): 59.0, (2, "comp2"): None}

    metrics = crew_metrics(alerts, failures, failures, machine_months=2.0, horizon_hours=48)
    assert metrics.failures == 2
    assert metrics.published_ahead == {12: 0.5, 24: 0.5}
    assert metrics.median_lead_hours == pytest.approx(29.5)  # (0 for the miss + 59) / 2
    assert (metrics.episodes, metrics.true_episodes) == (4, 1)
    assert metrics.episode_precision == 0.25
    assert metrics.false_episodes_per_machine_month == 1.5
    assert metrics.alert_rows == 6


def test_daily_publication_costs_the_lead_of_a_whole_day(spark, failures):
    """The same alerts, but published when the day's file closes (24 h landing interval)."""
    scores = spark.createDataFrame(
        [
            (1, T0 + 12 * H, 0.2, 0.7, 0.05, 0.05, 0.0, 0.8),  # comp1 at risk
            (1, T0 + 36 * H, 0.3, 0.6, 0.05, 0.05, 0.0, 0.7),
            (1, T0 + 48 * H, 0.9, 0.04, 0.03, 0.03, 0.0, 0.1),  # below the threshold
        ],
        "machineID int, datetime timestamp, p_none double, p_comp1 double, p_comp2 double, "
        "p_comp3 double, p_comp4 double, risk double",
    )
    for interval, lead in ((24, 36.0), (1, 47.0)):
        rows = alert_rows(scores.withColumn("available_at", available_at(interval)), 0.5)
        assert [r["component"] for r in rows.collect()] == ["comp1", "comp1"]
        got = published_leads(failures, alert_episodes(rows), 48).collect()
        assert {r["machineID"]: r["lead_hours"] for r in got} == {1: lead, 2: None}
