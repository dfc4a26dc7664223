"""Scoring feature rows, turning scores into a short daily alert list, and grading a scored day.

A score row per (machine, 12-hour grid time) is what the model produces, but a maintenance planner
acts per machine and day and can only visit a few machines: so alerts keep each machine's riskiest
row of the day, rank them, name the component, and say in fleet terms why the machine stands out.
Explanations are z-scores against the rest of the fleet at the same instant (not model
attributions): they are cheap, model-agnostic and read as "what is unusual about this machine now".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime

from pyspark.ml import PipelineModel
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column, DataFrame, Row, Window
from pyspark.sql import functions as F

from pdm_assets.schemas import COMPONENTS, ERROR_CODES, SENSORS
from pdm_assets.transforms.act_confirmation import ActConfirmation
from pdm_assets.transforms.alert_episodes import (
    DEFAULT_EPISODE_GAP_HOURS,
    DEFAULT_LANDING_INTERVAL_HOURS,
    alert_episodes,
    alert_rows,
    available_at,
    component_at_risk,
    published_leads,
    summarize_leads,
)
from pdm_assets.transforms.features import HOUR_US, micros, to_utc, utc_day
from pdm_assets.transforms.labels import DEFAULT_HORIZON_HOURS, LABELS
from pdm_assets.transforms.model import evaluation_from_confusion, risk_column
from pdm_assets.transforms.small_frames import small_frame

PROBABILITY_COLUMNS: list[str] = [f"p_{label}" for label in LABELS]
COMPONENT_PROBABILITY_COLUMNS: list[str] = [f"p_{c}" for c in COMPONENTS]
# What a technician can check on the machine: 24 h sensor levels and spread, recent errors, and
# component ages. The 12/36 h windows would mostly repeat the 24 h ones in an explanation.
EXPLAIN_COLUMNS: tuple[str, ...] = (
    *(f"{s}_{stat}_24h" for s in SENSORS for stat in ("mean", "std")),
    *(f"{e}_count_24h" for e in ERROR_CODES),
    *(f"{c}_days_since_replacement" for c in COMPONENTS),
)
DEFAULT_ALERT_BUDGET = 5
DEFAULT_LEAD_HOURS: tuple[int, ...] = (12, 24)


def score_features(
    model: PipelineModel,
    features: DataFrame,
    model_version: str,
    landing_interval_hours: int = DEFAULT_LANDING_INTERVAL_HOURS,
    confirmation: ActConfirmation | None = None,
) -> DataFrame:
    """Per feature row: machineID, datetime, p_none, p_comp1..p_comp4 (double), predicted (a label
    of LABELS), risk (the largest of p_comp1..p_comp4, see model.risk_column), model_version
    (string), available_at (when the row could have been published live, see
    alert_episodes.available_at), act_confirmed (boolean: the component at risk has its
    confirming evidence, see act_confirmation; always true without a `confirmation`).

    Probabilities are unpacked into named columns so the table is usable from SQL and parquet
    readers without MLlib's vector type; the model must declare exactly the 5 LABELS, otherwise
    the columns would silently mean different classes.
    """
    classifier = model.stages[-1]
    n_classes = getattr(classifier, "numClasses", None)
    if n_classes != len(LABELS):
        raise ValueError(
            f"score_features: model {model_version!r} predicts {n_classes} classes, expected "
            f"{len(LABELS)} ({', '.join(LABELS)}); was it trained with build_pipeline?"
        )
    probability = vector_to_array(F.col("probability"))
    predicted = F.element_at(
        F.array(*(F.lit(label) for label in LABELS)), F.col("prediction").cast("int") + 1
    )
    scored = model.transform(features).select(
        "*", *(probability[i].alias(name) for i, name in enumerate(PROBABILITY_COLUMNS))
    )
    confirmed = F.lit(True) if confirmation is None else confirmation.confirmed(component_at_risk())
    return scored.select(
        "machineID",
        "datetime",
        *PROBABILITY_COLUMNS,
        predicted.alias("predicted"),
        risk_column().alias("risk"),
        F.lit(model_version).cast("string").alias("model_version"),
        available_at(landing_interval_hours).alias("available_at"),
        confirmed.alias("act_confirmed"),
    )


def maintenance_alerts(
    scores: DataFrame,
    features: DataFrame,
    threshold: float | Column,
    explain_columns: Sequence[str] = EXPLAIN_COLUMNS,
    top_features: int = 3,
    act_threshold: float | Column | None = None,
    gap_hours: float = DEFAULT_EPISODE_GAP_HOURS,
) -> DataFrame:
    """The alert list: one row per alert *episode* open on the UTC day, not one per hour.

    A score row alerts when risk >= `threshold` (the watch level); it is an *act* row when also
    risk >= `act_threshold` (None: no act level) and, when scores carry `act_confirmed`, its
    component's confirming evidence is present. Alert rows of one machine and component (the
    argmax of p_comp1..p_comp4) at most `gap_hours` apart form an episode, as in
    alert_episodes. Thresholds may be columns (each row's model's thresholds).

    Columns: day (date), rank (int, 1..n per day: act episodes first, then by risk desc, then
    machineID), machineID, component, level ("act" once any of its rows reached act, else
    "watch"), episode_id ("<machine>-<component>-<first alert yyyyMMddHH>"), risk (the
    episode's highest), datetime (its riskiest row; earliest on ties), first_alert, last_alert,
    available_at (when its first alert could be published), act_available_at (when its first act
    row could be published; null for watch), alerts (hourly rows in it), model_version,
    explanation (string) and top_features (array<struct<name, z, value>>, by |z| desc) of the
    riskiest row. The schema is the same with zero alerts. Episodes are formed from the rows
    given (a day's scores): one that carries on from the previous day starts a new id that day.

    The explanation lists the `top_features` inputs of `explain_columns` whose value is furthest,
    in fleet standard deviations, from the mean of all machines in `features` at that same
    datetime, e.g. "vibration_mean_24h +3.2σ vs fleet; error5_count_24h +2.5σ". A feature that is
    null for the machine or constant across the fleet has no z and is skipped.
    """
    watch = threshold if isinstance(threshold, Column) else F.lit(float(threshold))
    if act_threshold is None:
        act = F.lit(None).cast("double")
    else:
        act = act_threshold if isinstance(act_threshold, Column) else F.lit(float(act_threshold))
    confirmed = F.col("act_confirmed") if "act_confirmed" in scores.columns else F.lit(True)
    rows = (
        scores.filter(F.col("risk") >= watch)
        .withColumn("day", utc_day())
        .withColumn("component", component_at_risk())
        .withColumn("_act", F.coalesce((F.col("risk") >= act) & confirmed, F.lit(False)))
    )
    # Episodes are formed per UTC day (the table's partition), so a range run writes exactly what
    # day-by-day runs write.
    series = Window.partitionBy("day", "machineID", "component").orderBy("datetime")
    t = micros("datetime")
    new_episode = (
        F.lag(t).over(series).isNull()
        | ((t - F.lag(t).over(series)) > F.lit(round(gap_hours * HOUR_US)))
    ).cast("int")
    rows = rows.withColumn("_new", new_episode).withColumn("_ep", F.sum("_new").over(series))
    episode = Window.partitionBy("day", "machineID", "component", "_ep")
    riskiest = episode.orderBy(F.desc("risk"), "datetime")
    rows = rows.select(
        "*",
        F.min("datetime").over(episode).alias("first_alert"),
        F.max("datetime").over(episode).alias("last_alert"),
        F.min("available_at").over(episode).alias("_first_available"),
        F.min(F.when(F.col("_act"), F.col("available_at"))).over(episode).alias("act_available_at"),
        F.count(F.lit(1)).over(episode).alias("alerts"),
        F.max(F.col("_act").cast("int")).over(episode).alias("_any_act"),
        F.row_number().over(riskiest).alias("_n"),
    )
    level = F.when(F.col("_any_act") == 1, F.lit("act")).otherwise(F.lit("watch"))
    episode_id = F.concat_ws(
        "-",
        F.col("machineID").cast("string"),
        F.col("component"),
        F.date_format("first_alert", "yyyyMMddHH"),
    )
    by_day = Window.partitionBy("day").orderBy(
        F.desc(F.col("_any_act")), F.desc("risk"), "machineID", "component"
    )
    alerts = (
        rows.filter(F.col("_n") == 1)
        .withColumn("rank", F.row_number().over(by_day))
        .select(
            "day",
            "rank",
            "machineID",
            "component",
            level.alias("level"),
            episode_id.alias("episode_id"),
            "risk",
            "datetime",
            "first_alert",
            "last_alert",
            F.col("_first_available").alias("available_at"),
            "act_available_at",
            F.col("alerts").cast("int").alias("alerts"),
            "model_version",
        )
    )

    columns = list(explain_columns)
    fleet = features.groupBy("datetime").agg(
        *(F.avg(c).alias(f"_mean_{i}") for i, c in enumerate(columns)),
        *(F.stddev_samp(c).alias(f"_std_{i}") for i, c in enumerate(columns)),
    )
    own = features.select(
        "machineID", "datetime", *(F.col(c).alias(f"_v_{i}") for i, c in enumerate(columns))
    )
    joined = alerts.join(own, ["machineID", "datetime"], "left").join(fleet, "datetime", "left")

    def z(i: int) -> Column:
        std = F.col(f"_std_{i}")
        return F.when(std > 0, (F.col(f"_v_{i}") - F.col(f"_mean_{i}")) / std)

    candidates = F.array(
        *(
            F.struct(
                (-F.abs(z(i))).alias("key"),  # sort_array ascending: largest |z| first, then name
                F.lit(name).alias("name"),
                z(i).alias("z"),
                F.col(f"_v_{i}").cast("double").alias("value"),
            )
            for i, name in enumerate(columns)
        )
    )
    top = F.transform(
        F.slice(F.sort_array(F.filter(candidates, lambda s: s["z"].isNotNull())), 1, top_features),
        lambda s: F.struct(s["name"].alias("name"), s["z"].alias("z"), s["value"].alias("value")),
    )
    explanation = F.concat_ws(
        "; ",
        F.transform(
            F.col("top_features"),
            lambda s, i: F.concat(
                s["name"],
                F.lit(" "),
                F.format_string("%+.1fσ", s["z"]),
                F.when(i == 0, F.lit(" vs fleet")).otherwise(F.lit("")),
            ),
        ),
    )
    return joined.withColumn("top_features", top if columns else F.array()).select(
        "day",
        F.col("rank").cast("int").alias("rank"),
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
        explanation.alias("explanation"),
        "top_features",
    )


def evaluate_day(
    scores: DataFrame,
    alerts: DataFrame,
    labels: DataFrame,
    failures: DataFrame,
    threshold: float,
    alert_budget: int = DEFAULT_ALERT_BUDGET,
    lead_hours: Sequence[float] = DEFAULT_LEAD_HOURS,
    horizon_hours: float = DEFAULT_HORIZON_HOURS,
    day: date | datetime | None = None,
) -> dict[str, float | int | None]:
    """How the scores and alerts of UTC day D did, once its labels are final.

    D is `day`, or else the day of the latest score row. Inputs: `scores` covering D - 2 .. D
    (horizon before D, for lead times), `alerts` (maintenance_alerts), `labels` of D, and
    `failures` covering D .. D + horizon. Definitions (None where the denominator is 0):

    - rows, machines: score rows of D joined to labels; distinct machines scored on D.
    - alert_precision / alert_recall: row level on D, "risk >= threshold" against
      "label != none" (precision over alerting rows, recall over rows with a failure coming).
    - macro_f1: `predicted` vs `label` on D, averaged over the failure classes that occur
      (same rule as model.evaluate).
    - failures: failures dated on D. failures_published_{L}h_ahead: share of them announced by a
      right-component alert episode (alert rows = risk >= threshold, grouped per machine and
      component with gaps <= 24 h) whose first alert was published (available_at) at least L
      hours before the failure; median_published_lead_h over them (a missed failure counts 0 h).
      Leads are capped by how far back `scores` reach.
    - episodes_started: alert episodes whose first alert is on D (the crew's new jobs that day).
    - alerts: alert rows of D. An alert is true when its machine has a failure (any component)
      with T < f <= T + horizon after the alert's row T, i.e. a failure its label would see.
      false_alarms counts the others; false_alarms_per_machine_month = false_alarms / machines
      / 1 day * 30.
    - top_k_precision: share of true alerts among the alerts ranked 1..alert_budget on D.
    """
    if day is None:
        latest = scores.agg(F.max(utc_day()).alias("d")).first()
        if latest is None or latest["d"] is None:
            raise ValueError("evaluate_day: no score rows, and no day given")
        day = latest["d"]
    d = to_utc(day).date() if isinstance(day, datetime) else day
    graded = evaluate_days(
        scores,
        alerts,
        labels,
        failures,
        {d: threshold},
        alert_budget=alert_budget,
        lead_hours=lead_hours,
        horizon_hours=horizon_hours,
    )
    return graded[d]


def evaluate_days(
    scores: DataFrame,
    alerts: DataFrame,
    labels: DataFrame,
    failures: DataFrame,
    thresholds: Mapping[date, float],
    alert_budget: int = DEFAULT_ALERT_BUDGET,
    lead_hours: Sequence[float] = DEFAULT_LEAD_HOURS,
    horizon_hours: float = DEFAULT_HORIZON_HOURS,
    lookback_days: int | None = None,
) -> dict[date, dict[str, float | int | None]]:
    """`evaluate_day` for every day of `thresholds` (day -> that day's alert threshold), in five
    Spark jobs however many days: a range run of the evaluation would otherwise pay seven jobs
    per day. Day D reads the scores of D - `lookback_days` .. D (every earlier one when None),
    whatever other days are graded with it, so a day's figures do not depend on the range."""
    days = sorted(thresholds)
    spark = scores.sparkSession
    graded_days = F.broadcast(
        small_frame(
            spark, [(d, float(thresholds[d])) for d in days], "_day date, _threshold double"
        )
    )
    on_graded_day = scores.withColumn("_day", utc_day()).join(graded_days, "_day")
    alerting = F.col("risk") >= F.col("_threshold")

    # Row-level alerting and the class confusion of each day, in one small collect.
    cells = (
        on_graded_day.join(
            labels.select("machineID", "datetime", "label"), ["machineID", "datetime"]
        )
        .groupBy("_day", "label", "predicted", alerting.alias("alerting"))
        .agg(F.count(F.lit(1)).alias("n"))
        .collect()
    )
    machines = {
        r["_day"]: r["n"]
        for r in on_graded_day.groupBy("_day")
        .agg(F.countDistinct("machineID").alias("n"))
        .collect()
    }

    # Failures of each day D: published lead of the first right-component alert episode, from
    # D's own copy of the scores it may look back on (a score row of day s serves D in s .. s +
    # lookback), alerting at D's threshold.
    row_day = utc_day()
    reach = F.col("_day") >= row_day
    if lookback_days is not None:
        reach &= F.col("_day") <= F.date_add(row_day, lookback_days)
    seen_from = scores.join(graded_days, reach)
    # Read twice below (leads, episodes started): computed once.
    episodes = alert_episodes(
        alert_rows(seen_from, F.col("_threshold"), keep=("_day",)), within=("_day",)
    ).cache()
    failed = failures.filter(F.col("failure").isin(*COMPONENTS)).withColumn("_day", utc_day())
    leads_by_day: dict[date, list[float | None]] = {d: [] for d in days}
    for r in published_leads(
        failed.join(graded_days.select("_day"), "_day"), episodes, horizon_hours, within=("_day",)
    ).collect():
        leads_by_day[r["_day"]].append(r["lead_hours"])
    started = {
        r["_day"]: r["n"]
        for r in episodes.filter(utc_day("first_alert") == F.col("_day"))
        .groupBy("_day")
        .agg(F.count(F.lit(1)).alias("n"))
        .collect()
    }
    episodes.unpersist()

    # Alerts of each day: true if a failure follows within the horizon.
    horizon_us = round(horizon_hours * HOUR_US)
    day_alerts = (
        alerts.withColumn("_day", utc_day())
        .join(graded_days.select("_day"), "_day")
        .select("_day", "machineID", micros("datetime").alias("_a_us"), "rank")
    )
    following = failures.select("machineID", micros("datetime").alias("_f_us"))
    truth = (
        day_alerts.join(following, "machineID", "left")
        .groupBy("_day", "machineID", "_a_us", "rank")
        .agg(
            F.max(
                (F.col("_f_us") > F.col("_a_us"))
                & (F.col("_f_us") <= F.col("_a_us") + F.lit(horizon_us))
            ).alias("_true")
        )
        .select("_day", "rank", F.coalesce("_true", F.lit(False)).alias("_true"))
        .collect()
    )
    truth_by_day: dict[date, list[Row]] = {d: [] for d in days}
    for r in truth:
        truth_by_day[r["_day"]].append(r)

    index = {label: i for i, label in enumerate(LABELS)}
    confusion = {d: [[0] * len(LABELS) for _ in LABELS] for d in days}
    counts = {d: {"alerting": 0, "positive": 0, "hits": 0} for d in days}
    for c in cells:
        if c["label"] not in index or c["predicted"] not in index:
            raise ValueError(
                f"evaluate_day: {c['n']} rows on {c['_day']} with label={c['label']!r}, "
                f"predicted={c['predicted']!r}; expected values of {LABELS}"
            )
        confusion[c["_day"]][index[c["label"]]][index[c["predicted"]]] += c["n"]
        is_positive = c["label"] != LABELS[0]
        counts[c["_day"]]["alerting"] += c["n"] if c["alerting"] else 0
        counts[c["_day"]]["positive"] += c["n"] if is_positive else 0
        counts[c["_day"]]["hits"] += c["n"] if c["alerting"] and is_positive else 0
    return {
        d: _day_metrics(
            confusion[d],
            counts[d],
            machines.get(d, 0),
            leads_by_day[d],
            started.get(d, 0),
            truth_by_day[d],
            alert_budget,
            lead_hours,
        )
        for d in days
    }


def _day_metrics(
    confusion: list[list[int]],
    counts: dict[str, int],
    machines: int,
    leads: list[float | None],
    episodes_started: int,
    truth: list[Row],
    alert_budget: int,
    lead_hours: Sequence[float],
) -> dict[str, float | int | None]:
    def share(num: int, den: int) -> float | None:
        return num / den if den else None

    ahead, median_lead = summarize_leads(leads, lead_hours)
    false_alarms = sum(1 for r in truth if not r["_true"])
    top = [r for r in truth if r["rank"] <= alert_budget]
    out: dict[str, float | int | None] = {
        "rows": sum(map(sum, confusion)),
        "machines": machines,
        "alert_rows": counts["alerting"],
        "positive_rows": counts["positive"],
        "alert_precision": share(counts["hits"], counts["alerting"]),
        "alert_recall": share(counts["hits"], counts["positive"]),
        "macro_f1": evaluation_from_confusion(confusion).macro_f1,
        "failures": len(leads),
    }
    for lead in lead_hours:
        out[f"failures_published_{lead:g}h_ahead"] = ahead[lead]
    out["median_published_lead_h"] = median_lead
    out.update(
        {
            "episodes_started": episodes_started,
            "alerts": len(truth),
            "false_alarms": false_alarms,
            "false_alarms_per_machine_month": (false_alarms / machines * 30 if machines else None),
            "alert_budget": alert_budget,
            "top_k_precision": share(sum(1 for r in top if r["_true"]), len(top)),
        }
    )
    return out
