"""Scoring, alerts and day evaluation on hand-built frames with hand-computed expectations."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pytest
from pyspark.ml import Pipeline
from pyspark.ml.classification import DecisionTreeClassifier
from pyspark.ml.feature import VectorAssembler
from pyspark.sql import functions as F

from pdm_assets.schemas import COMPONENTS
from pdm_assets.transforms.act_confirmation import ActConfirmation
from pdm_assets.transforms.labels import LABELS
from pdm_assets.transforms.model import ModelParams, build_pipeline
from pdm_assets.transforms.scoring import (
    EXPLAIN_COLUMNS,
    PROBABILITY_COLUMNS,
    evaluate_day,
    evaluate_days,
    maintenance_alerts,
    score_features,
)

H = timedelta(hours=1)
D = datetime(2015, 3, 10, tzinfo=UTC)  # the day under test
SCORES_DDL = (
    "machineID int, datetime timestamp, p_none double, p_comp1 double, p_comp2 double, "
    "p_comp3 double, p_comp4 double, predicted string, risk double, model_version string, "
    "available_at timestamp"
)


def score_row(machine: int, t: datetime, p: tuple[float, ...], predicted: str | None = None):
    """A score row from (p_none, p_comp1..4); predicted defaults to the argmax; published when
    the row's UTC day closes (daily landing)."""
    predicted = predicted or LABELS[int(np.argmax(p))]
    published = datetime.combine(t.astimezone(UTC).date() + timedelta(days=1), time(), UTC)
    return (machine, t, *p, predicted, 1.0 - p[0], "3", published)


def iso(t: datetime) -> str:
    """A collected timestamp (naive, in the local zone) as UTC text."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


# --- score_features ------------------------------------------------------------------------------


def test_score_features_unpacks_five_probabilities(spark):
    features = ["vibration_mean_24h", "age"]
    rows = spark.createDataFrame(
        [
            (m, D + 12 * i * H, 40.0 + 20.0 * (m % 3) + i, 5, m % 3)
            for m in range(1, 7)
            for i in range(4)
        ],
        "machineID int, datetime timestamp, vibration_mean_24h double, age int, label_index int",
    )
    model = build_pipeline(ModelParams(algorithm="decision_tree", max_depth=2), features).fit(rows)
    scores = score_features(model, rows.drop("label_index"), "7")

    assert scores.columns == [
        "machineID",
        "datetime",
        *PROBABILITY_COLUMNS,
        "predicted",
        "risk",
        "model_version",
        "available_at",
        "act_confirmed",
    ]
    assert PROBABILITY_COLUMNS == ["p_none", "p_comp1", "p_comp2", "p_comp3", "p_comp4"]
    assert all(scores.schema[c].dataType.simpleString() == "double" for c in PROBABILITY_COLUMNS)
    got = scores.collect()
    assert len(got) == 24
    for r in got:
        p = [r[c] for c in PROBABILITY_COLUMNS]
        assert sum(p) == pytest.approx(1.0)
        assert r["risk"] == max(p[1:])  # the component at risk's probability
        assert r["predicted"] == LABELS[int(np.argmax(p))]
        assert r["model_version"] == "7"
        assert r["act_confirmed"]  # no confirmation: the risk alone decides
        # Daily landing by default: a row is published when its UTC day closes.
        day = r["datetime"].astimezone(UTC).date()
        assert r["available_at"].astimezone(UTC) == datetime.combine(
            day + timedelta(days=1), time(), UTC
        )
    hourly = score_features(model, rows.drop("label_index"), "7", landing_interval_hours=1)
    assert all(
        r["available_at"] - r["datetime"] == H
        for r in hourly.select("datetime", "available_at").collect()
    )
    # With a confirmation, act_confirmed follows the features' hours since the confirming code.
    confirming = ActConfirmation(codes=dict.fromkeys(COMPONENTS, ("error1",)), window_hours=36)
    with_errors = rows.drop("label_index").withColumn(
        "error1_hours_since", F.when(F.col("machineID") % 2 == 0, 5).otherwise(100)
    )
    confirmed = score_features(model, with_errors, "7", confirmation=confirming).collect()
    assert {(r["machineID"] % 2 == 0, r["act_confirmed"]) for r in confirmed} == {
        (True, True),
        (False, False),
    }
    # The tree separates the three vibration levels: labels none, comp1, comp2 by machine % 3.
    assert {(r["machineID"] % 3, r["predicted"]) for r in got} == {
        (0, "none"),
        (1, "comp1"),
        (2, "comp2"),
    }

    # A model that does not declare the 5 classes would misname the columns: refused.
    bare = Pipeline(
        stages=[
            VectorAssembler(inputCols=features, outputCol="features"),
            DecisionTreeClassifier(labelCol="label_index", maxDepth=2),
        ]
    ).fit(rows)
    with pytest.raises(ValueError, match="3 classes"):
        score_features(bare, rows, "bare")


# --- maintenance_alerts --------------------------------------------------------------------------

N_FLEET = 20
OUTLIER = 1  # machine made to stand out at D 12:00


def fleet_features(spark):
    """Explainable features for 20 machines at D 00:00, D 12:00 and D+1 00:00.

    At D 12:00 machine 1 has a far higher vibration, an error5 count shared with one other
    machine, and a recently replaced comp4; its other values equal the fleet mean (z = 0),
    volt_std_24h is null for it (no z) and error1 is 0 everywhere (constant, no z).
    """
    rng = np.random.default_rng(3)
    times = [D, D + 12 * H, D + 24 * H]
    values = {t: rng.normal(40.0, 1.0, size=(N_FLEET, len(EXPLAIN_COLUMNS))) for t in times}
    col = {name: j for j, name in enumerate(EXPLAIN_COLUMNS)}
    v = values[D + 12 * H]
    v[OUTLIER - 1, :] = v[1:, :].mean(axis=0)  # z = 0 for everything not set below
    v[:, col["error1_count_24h"]] = 0.0
    v[:, col["error5_count_24h"]] = 0.0
    v[[OUTLIER - 1, 6], col["error5_count_24h"]] = 2.0
    v[OUTLIER - 1, col["vibration_mean_24h"]] = 80.0
    v[:, col["comp4_days_since_replacement"]] = np.linspace(10, 100, N_FLEET)
    v[OUTLIER - 1, col["comp4_days_since_replacement"]] = 0.0
    rows = []
    for t in times:
        for m in range(1, N_FLEET + 1):
            row = [float(x) for x in values[t][m - 1]]
            if t == D + 12 * H and m == OUTLIER:
                row[col["volt_std_24h"]] = None
            rows.append((m, t, *row))
    ddl = "machineID int, datetime timestamp, " + ", ".join(f"{c} double" for c in EXPLAIN_COLUMNS)
    return spark.createDataFrame(rows, ddl), values[D + 12 * H]


def test_maintenance_alerts_are_episodes_with_levels_rank_and_explanation(spark):
    features, at_noon = fleet_features(spark)
    low = (0.9, 0.025, 0.025, 0.025, 0.025)
    special = {
        (1, D): (0.8, 0.05, 0.05, 0.05, 0.05),
        (1, D + 12 * H): (0.1, 0.1, 0.1, 0.1, 0.6),  # riskiest row of machine 1 -> comp4
        (2, D): (0.3, 0.1, 0.5, 0.05, 0.05),
        (2, D + 12 * H): (0.25, 0.1, 0.55, 0.05, 0.05),  # 0.75, ties with machine 6
        (3, D): (0.51, 0.49, 0.0, 0.0, 0.0),  # 0.49: below the threshold
        (4, D): (0.5, 0.2, 0.2, 0.05, 0.05),  # exactly at the threshold; comp1/comp2 tie
        (6, D): (0.25, 0.0, 0.0, 0.75, 0.0),
        (7, D): (0.2, 0.0, 0.0, 0.0, 0.8),  # 0.8 twice: the earlier row is kept
        (7, D + 12 * H): (0.2, 0.0, 0.0, 0.8, 0.0),
        (5, D + 24 * H): (0.4, 0.0, 0.6, 0.0, 0.0),  # the next day
    }
    rows = [
        score_row(m, t, special.get((m, t), low))
        for m in range(1, N_FLEET + 1)
        for t in (D, D + 12 * H, D + 24 * H)
    ]
    scores = spark.createDataFrame(rows, SCORES_DDL)

    alerts = maintenance_alerts(scores, features, threshold=0.5, act_threshold=0.8)
    got = alerts.orderBy("day", "rank").collect()
    # One row per episode (machine, component, rows <= 24 h apart on the day), act first.
    assert [
        (
            str(r["day"]),
            r["rank"],
            r["level"],
            r["machineID"],
            r["component"],
            iso(r["datetime"]),
            r["risk"],
            r["alerts"],
        )
        for r in got
    ] == [
        ("2015-03-10", 1, "act", 1, "comp4", "2015-03-10T12:00", pytest.approx(0.9), 1),
        ("2015-03-10", 2, "act", 7, "comp3", "2015-03-10T12:00", pytest.approx(0.8), 1),
        ("2015-03-10", 3, "act", 7, "comp4", "2015-03-10T00:00", pytest.approx(0.8), 1),
        # machine 2's two alert hours are one episode, shown at its riskiest hour
        ("2015-03-10", 4, "watch", 2, "comp2", "2015-03-10T12:00", pytest.approx(0.75), 2),
        ("2015-03-10", 5, "watch", 6, "comp3", "2015-03-10T00:00", pytest.approx(0.75), 1),
        ("2015-03-10", 6, "watch", 4, "comp1", "2015-03-10T00:00", 0.5, 1),
        ("2015-03-11", 1, "watch", 5, "comp2", "2015-03-11T00:00", pytest.approx(0.6), 1),
    ]
    two = got[3]
    assert two["episode_id"] == "2-comp2-2015031000"
    assert (iso(two["first_alert"]), iso(two["last_alert"])) == (
        "2015-03-10T00:00",
        "2015-03-10T12:00",
    )
    assert iso(two["available_at"]) == "2015-03-11T00:00"  # its first alert's publication
    assert two["act_available_at"] is None and got[0]["act_available_at"] is not None
    assert got[0]["model_version"] == "3"
    # Without an act threshold every episode is a watch episode.
    levels = {r["level"] for r in maintenance_alerts(scores, features, 0.5).collect()}
    assert levels == {"watch"}

    # Expected z-scores of machine 1 against the fleet at D 12:00 (sample std), by hand in numpy.
    col = {name: j for j, name in enumerate(EXPLAIN_COLUMNS)}

    def z(name: str) -> float:
        x = at_noon[:, col[name]]
        return float((x[0] - x.mean()) / x.std(ddof=1))

    expected = ["vibration_mean_24h", "error5_count_24h", "comp4_days_since_replacement"]
    z_vib, z_err, z_comp4 = (z(n) for n in expected)
    assert z_vib > 4 and 2.5 < z_err < z_vib and -2.5 < z_comp4 < -1  # the premise
    top = got[0]["top_features"]
    assert [f["name"] for f in top] == expected
    assert [f["z"] for f in top] == pytest.approx([z_vib, z_err, z_comp4])
    assert [f["value"] for f in top] == [80.0, 2.0, 0.0]
    assert got[0]["explanation"] == (
        f"vibration_mean_24h {z_vib:+.1f}σ vs fleet; error5_count_24h {z_err:+.1f}σ; "
        f"comp4_days_since_replacement {z_comp4:+.1f}σ"
    )
    assert got[0]["explanation"].startswith("vibration_mean_24h +4.")
    none = maintenance_alerts(scores, features, threshold=0.95)
    assert none.count() == 0
    assert none.schema == alerts.schema
    assert alerts.columns == [
        "day",
        "rank",
        "machineID",
        "component",
        "level",
        "episode_id",
        "risk",
        "datetime",
        "first_alert",
        "last_alert",
        "available_at",
        "act_available_at",
        "alerts",
        "model_version",
        "explanation",
        "top_features",
    ]


def test_an_unconfirmed_row_stays_watch_however_high_its_risk(spark):
    features, _ = fleet_features(spark)
    # Machines 1 and 2 both pass the act threshold; only machine 2's component has its error.
    rows = [
        (*score_row(1, D, (0.05, 0.0, 0.0, 0.0, 0.95)), False),
        (*score_row(2, D, (0.1, 0.0, 0.9, 0.0, 0.0)), True),
        (*score_row(3, D, (0.4, 0.6, 0.0, 0.0, 0.0)), True),  # confirmed, under act
    ]
    scores = spark.createDataFrame(rows, SCORES_DDL + ", act_confirmed boolean")
    got = maintenance_alerts(scores, features, threshold=0.5, act_threshold=0.8)
    levels = {r["machineID"]: (r["level"], r["rank"]) for r in got.collect()}
    assert levels == {2: ("act", 1), 1: ("watch", 2), 3: ("watch", 3)}


# --- evaluate_day --------------------------------------------------------------------------------


def test_evaluate_day_matches_hand_computation(spark):
    low = (0.95, 0.0125, 0.0125, 0.0125, 0.0125)
    special = {
        # Day D (threshold 0.5):             risk  predicted  label   alerting  failure coming
        (1, D): (0.4, 0.05, 0.05, 0.0, 0.5),  # .6  comp4     comp4   yes       yes
        (2, D): (0.1, 0.05, 0.8, 0.05, 0.0),  # .9  comp2     comp2   yes       yes
        (2, D + 12 * H): (0.45, 0.15, 0.4, 0.0, 0.0),  # .55 none none  yes       no
        (3, D): (0.7, 0.3, 0.0, 0.0, 0.0),  # .3  none      comp1   no        yes
        (3, D + 12 * H): (0.45, 0.5, 0.05, 0.0, 0.0),  # .55 comp1 comp1 yes      yes
        (4, D + 12 * H): (0.35, 0.0, 0.0, 0.6, 0.05),  # .65 comp3 none  yes      no
        # Earlier rows, for the failures of D (m1 comp4 and m2 comp2, both at D 06:00):
        # m1: one comp4 episode from D-2 12:00, published when D-2 closes: 30 h ahead.
        (1, D - 36 * H): (0.3, 0.1, 0.0, 0.0, 0.6),
        (1, D - 24 * H): (0.3, 0.1, 0.0, 0.0, 0.6),
        # m2: a comp2 alert at D-2 00:00, 36 h before the next: its own episode, which ends
        # more than the horizon before the failure; a comp1 alert (wrong component); then a comp2
        # episode from D-1 12:00, published at D 00:00: 6 h ahead.
        (2, D - 48 * H): (0.1, 0.0, 0.9, 0.0, 0.0),
        (2, D - 24 * H): (0.2, 0.5, 0.3, 0.0, 0.0),
        (2, D - 12 * H): (0.2, 0.0, 0.8, 0.0, 0.0),
    }
    times = [D + 12 * i * H for i in range(-4, 2)]  # D-2 00:00 .. D 12:00
    scores = spark.createDataFrame(
        [score_row(m, t, special.get((m, t), low)) for m in range(1, 5) for t in times],
        SCORES_DDL,
    )
    labels = spark.createDataFrame(
        [
            (1, D, "comp4"),
            (1, D + 12 * H, "none"),
            (2, D, "comp2"),
            (2, D + 12 * H, "none"),
            (3, D, "comp1"),
            (3, D + 12 * H, "comp1"),
            (4, D, "none"),
            (4, D + 12 * H, "none"),
        ],
        "machineID int, datetime timestamp, label string",
    )
    failures = spark.createDataFrame(
        [
            (D + 6 * H, 1, "comp4"),
            (D + 6 * H, 2, "comp2"),
            (D + 30 * H, 3, "comp1"),  # D+1: makes machine 3's alert true, not a failure of D
            (D - 18 * H, 4, "comp3"),  # before machine 4's alert: it stays a false alarm
        ],
        "datetime timestamp, machineID int, failure string",
    )
    # Each machine's riskiest row of D at or above 0.5, ranked (as maintenance_alerts makes them),
    # plus one alert of the day before, which must be ignored.
    alerts = spark.createDataFrame(
        [
            (date(2015, 3, 10), 1, 2, D),
            (date(2015, 3, 10), 2, 4, D + 12 * H),
            (date(2015, 3, 10), 3, 1, D),
            (date(2015, 3, 10), 4, 3, D + 12 * H),
            (date(2015, 3, 9), 1, 2, D - 12 * H),
        ],
        "day date, rank int, machineID int, datetime timestamp",
    )

    got = evaluate_day(scores, alerts, labels, failures, threshold=0.5, alert_budget=2)
    assert got == {
        "rows": 8,
        "machines": 4,
        "alert_rows": 5,
        "positive_rows": 4,
        "alert_precision": pytest.approx(3 / 5),
        "alert_recall": pytest.approx(3 / 4),
        # comp1: P 1, R 1/2 -> 2/3; comp2, comp4: 1; comp3 (predicted once, never actual): 0.
        "macro_f1": pytest.approx((2 / 3 + 1 + 0 + 1) / 4),
        "failures": 2,
        "failures_published_12h_ahead": 0.5,
        "failures_published_24h_ahead": 0.5,
        "median_published_lead_h": pytest.approx((30 + 6) / 2),
        "episodes_started": 2,  # m3 comp1 and m4 comp3 at D 12:00; the others began earlier
        "alerts": 4,
        "false_alarms": 1,  # machine 4
        "false_alarms_per_machine_month": pytest.approx(1 / 4 * 30),
        "alert_budget": 2,
        "top_k_precision": 0.5,  # rank 1 (machine 2) true, rank 2 (machine 4) false
    }

    # D-2 has no labels, failures or alerts here: undefined shares are None, not 0.
    quiet = evaluate_day(scores, alerts, labels, failures, 0.5, day=date(2015, 3, 8))
    assert quiet["rows"] == 0 and quiet["machines"] == 4
    assert quiet["alert_precision"] is None and quiet["macro_f1"] is None
    assert quiet["failures"] == 0 and quiet["failures_published_12h_ahead"] is None
    assert (quiet["alerts"], quiet["top_k_precision"]) == (0, None)
    assert quiet["false_alarms_per_machine_month"] == 0.0


def test_a_range_of_days_grades_each_day_as_that_day_alone(spark):
    """evaluate_days over four days, with the threshold changing mid-range (a new model), gives
    each day what evaluate_day gives it from that day's own look-back only: long alert episodes
    that start before the look-back must not lengthen a day's leads in a range run."""
    rng = np.random.default_rng(7)
    first = D - timedelta(days=5)
    times = [first + 3 * i * H for i in range(8 * 8)]  # D-5 .. D+2, every 3 h
    rows = []
    for m in range(1, 7):
        for t in times:
            p_fail = rng.dirichlet([1.0] * 4) * rng.uniform(0.0, 0.9)
            if m == 1:  # one episode that never ends: alerting from the first row on
                p_fail = np.array([0.0, 0.0, 0.0, 0.8])
            rows.append(score_row(m, t, tuple(float(x) for x in (1.0 - p_fail.sum(), *p_fail))))
    scores = spark.createDataFrame(rows, SCORES_DDL)
    labels = spark.createDataFrame(
        [(m, t, LABELS[(m + t.day) % 5]) for m in range(1, 7) for t in times],
        "machineID int, datetime timestamp, label string",
    )
    failures = spark.createDataFrame(
        [
            (first + timedelta(days=d, hours=5), m, f"comp{1 + (m + d) % 4}")
            for m in range(1, 7)
            for d in range(0, 8, 2)
        ]
        + [(D + 7 * H, 1, "comp4"), (D - 2 * timedelta(days=1) + 7 * H, 1, "comp4")],
        "datetime timestamp, machineID int, failure string",
    )
    day_of = lambda t: t.date()  # noqa: E731
    alerts = spark.createDataFrame(
        [(day_of(t), m, m, t) for m in range(1, 7) for t in times if t.hour == 12],
        "day date, rank int, machineID int, datetime timestamp",
    )
    days = [(D - timedelta(days=k)).date() for k in range(2, -2, -1)]  # D-2 .. D+1
    thresholds = {d: (0.5 if d < D.date() else 0.35) for d in days}
    lookback = 2

    together = evaluate_days(
        scores, alerts, labels, failures, thresholds, alert_budget=3, lookback_days=lookback
    )

    assert sorted(together) == days
    for d in days:
        start = datetime.combine(d - timedelta(days=lookback), time(), UTC)
        own = scores.where(scores.datetime >= start).where(
            scores.datetime < datetime.combine(d + timedelta(days=1), time(), UTC)
        )
        alone = evaluate_day(own, alerts, labels, failures, thresholds[d], alert_budget=3, day=d)
        assert together[d] == alone, d
    # Not vacuous: leads were measured, and machine 1's endless episode is capped by the
    # look-back (its failure at D 07:00 is announced from D-2 00:00 at most: 31 h ahead).
    assert sum(together[d]["failures"] for d in days) > 5
    assert together[D.date()]["median_published_lead_h"] is not None
    everything = evaluate_day(
        scores.where(scores.datetime < D + timedelta(days=1)),
        alerts,
        labels,
        failures,
        thresholds[D.date()],
        alert_budget=3,
        day=D.date(),
    )
    assert everything != together[D.date()]


def test_score_day_column_is_utc(spark):
    """Alert days follow UTC even when the session zone is elsewhere."""
    scores = spark.createDataFrame(
        [score_row(1, D - timedelta(minutes=1), (0.1, 0.9, 0.0, 0.0, 0.0))], SCORES_DDL
    )
    features = spark.createDataFrame(
        [(1, D - timedelta(minutes=1), 1.0)], "machineID int, datetime timestamp, age double"
    )
    zone = spark.conf.get("spark.sql.session.timeZone")
    try:
        spark.conf.set("spark.sql.session.timeZone", "Asia/Tokyo")
        got = maintenance_alerts(scores, features, 0.5, explain_columns=["age"]).collect()
    finally:
        spark.conf.set("spark.sql.session.timeZone", zone)
    assert [str(r["day"]) for r in got] == ["2015-03-09"]
