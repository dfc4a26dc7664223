"""Quality in the crew's units: when an alert could have been published, alert episodes, and the
published lead time of each failure.

A crew does not act on score rows: it acts on an alert it has *received* (so lead time counts from
publication, not from the row's timestamp) and handles a run of alerts for the same machine and
component as one job (an episode). Everything here is pure PySpark; only the final counts are
collected by callers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from pdm_assets.schemas import COMPONENTS
from pdm_assets.transforms.alert_levels import check_landing_interval
from pdm_assets.transforms.features import HOUR_US, micros

DEFAULT_EPISODE_GAP_HOURS = 24
DEFAULT_LANDING_INTERVAL_HOURS = 24
EPISODE_COLUMNS: tuple[str, ...] = (
    "machineID",
    "component",
    "episode_id",
    "first_alert",
    "last_alert",
    "first_available_at",
    "alerts",
    "max_risk",
)


def available_at(
    landing_interval_hours: int = DEFAULT_LANDING_INTERVAL_HOURS, column: str = "datetime"
) -> Column:
    """The earliest moment a row computed from readings up to `column` could be published live:
    the end of the landing interval that holds its newest input reading (intervals aligned to
    00:00 UTC). A feature row at T reads records at or before T, so with daily files a row at
    00:00 waits until the day's file is complete, 24 h later; with hourly files, one hour."""
    check_landing_interval(landing_interval_hours)
    interval_us = landing_interval_hours * HOUR_US
    end_us = (F.floor(micros(column) / F.lit(interval_us)) + 1) * F.lit(interval_us)
    return F.timestamp_micros(end_us.cast("long"))


def component_at_risk() -> Column:
    """Argmax of p_comp1..p_comp4 (lowest component on ties), as a component name."""
    columns = [f"p_{c}" for c in COMPONENTS]
    best = F.greatest(*(F.col(c) for c in columns))
    name = F.lit(COMPONENTS[-1])
    for comp, column in reversed(list(zip(COMPONENTS, columns, strict=True))):
        name = F.when(F.col(column) == best, F.lit(comp)).otherwise(name)
    return name


def alert_rows(scores: DataFrame, threshold: float | Column, keep: Sequence[str] = ()) -> DataFrame:
    """Score rows that raise an alert (risk >= threshold): `keep` columns, machineID, datetime,
    component (at risk), risk, available_at. `threshold` may be a column (e.g. each row's model
    threshold)."""
    limit = threshold if isinstance(threshold, Column) else F.lit(float(threshold))
    return scores.filter(F.col("risk") >= limit).select(
        *keep,
        "machineID",
        "datetime",
        component_at_risk().alias("component"),
        "risk",
        "available_at",
    )


def alert_episodes(
    alerts: DataFrame,
    gap_hours: float = DEFAULT_EPISODE_GAP_HOURS,
    within: Sequence[str] = (),
) -> DataFrame:
    """Alert rows grouped into episodes: consecutive alerts of one machine and component at most
    `gap_hours` apart. Columns: EPISODE_COLUMNS (after `within`, extra keys that keep separate
    series apart, e.g. the day an evaluation looks back from); episode_id = "<machine>-<component>-
    <first alert as yyyyMMddHH>", stable however the rows were split into partitions."""
    by_series = Window.partitionBy(*within, "machineID", "component").orderBy("datetime")
    t = micros("datetime")
    new_episode = (
        F.lag(t).over(by_series).isNull()
        | ((t - F.lag(t).over(by_series)) > F.lit(round(gap_hours * HOUR_US)))
    ).cast("int")
    numbered = alerts.withColumn("_new", new_episode).withColumn(
        "_episode", F.sum("_new").over(by_series)
    )
    episodes = numbered.groupBy(*within, "machineID", "component", "_episode").agg(
        F.min("datetime").alias("first_alert"),
        F.max("datetime").alias("last_alert"),
        F.min("available_at").alias("first_available_at"),
        F.count(F.lit(1)).alias("alerts"),
        F.max("risk").alias("max_risk"),
    )
    episode_id = F.concat_ws(
        "-",
        F.col("machineID").cast("string"),
        F.col("component"),
        F.date_format("first_alert", "yyyyMMddHH"),
    )
    return episodes.withColumn("episode_id", episode_id).select(*within, *EPISODE_COLUMNS)


def judge_episodes(episodes: DataFrame, failures: DataFrame, horizon_hours: float) -> DataFrame:
    """`episodes` plus failure_time (the first failure of the episode's component on its machine
    in (first_alert, last_alert + horizon], else null) and is_true (failure_time is not null).

    `failures` must cover that whole span, or late failures count as missing (false episodes).
    """
    fails = failures.select(
        "machineID", F.col("failure").alias("component"), F.col("datetime").alias("_f")
    )
    f_us, first_us, last_us = micros("_f"), micros("first_alert"), micros("last_alert")
    inside = (f_us > first_us) & (f_us <= last_us + F.lit(round(horizon_hours * HOUR_US)))
    matched = (
        episodes.join(fails, ["machineID", "component"], "left")
        .withColumn("_f", F.when(inside, F.col("_f")))
        .groupBy(*EPISODE_COLUMNS)
        .agg(F.min("_f").alias("failure_time"))
    )
    return matched.withColumn("is_true", F.col("failure_time").isNotNull())


def published_leads(
    failures: DataFrame, episodes: DataFrame, horizon_hours: float, within: Sequence[str] = ()
) -> DataFrame:
    """Per failure (`within` keys, machineID, failure, datetime): lead_hours = failure time -
    first_available_at of the earliest right-component episode that announces it (first_alert <
    failure <= last_alert + horizon). Null without such an episode; negative when it was published
    only after the failure (useless to a crew)."""
    eps = episodes.select(
        *within,
        "machineID",
        F.col("component").alias("failure"),
        "first_alert",
        "last_alert",
        "first_available_at",
    )
    f_us = micros("datetime")
    announces = (micros("first_alert") < f_us) & (
        f_us <= micros("last_alert") + F.lit(round(horizon_hours * HOUR_US))
    )
    lead = (f_us - micros("first_available_at")) / F.lit(HOUR_US)
    return (
        failures.select(*within, "machineID", "failure", "datetime")
        .join(eps, [*within, "machineID", "failure"], "left")
        .withColumn("_lead", F.when(announces, lead))
        .groupBy(*within, "machineID", "failure", "datetime")
        .agg(F.max("_lead").alias("lead_hours"))
    )


def summarize_leads(
    leads: Sequence[float | None], lead_hours: Sequence[float]
) -> tuple[dict, float | None]:
    """({L: share of failures published at least L h ahead}, median lead) over all failures; a
    failure never announced, or announced only after it happened, counts as 0 h. Shares and the
    median are None without failures."""
    padded = sorted(x if x is not None and x > 0 else 0.0 for x in leads)
    n = len(padded)
    ahead = {h: (sum(x >= h for x in padded if x > 0) / n if n else None) for h in lead_hours}
    median = (padded[(n - 1) // 2] + padded[n // 2]) / 2 if n else None
    return ahead, median


@dataclass(frozen=True)
class CrewMetrics:
    """What a crew experiences over a period (see crew_metrics)."""

    failures: int
    published_ahead: dict[int, float | None]  # lead hours -> share of failures
    median_lead_hours: float | None
    episodes: int
    true_episodes: int
    episode_precision: float | None
    false_episodes_per_machine_month: float | None
    episodes_per_machine_month: float | None
    alert_rows: int

    def as_dict(self) -> dict[str, float | int | None]:
        out: dict[str, float | int | None] = {"failures": self.failures}
        for lead, share in self.published_ahead.items():
            out[f"failures_published_{lead}h_ahead"] = share
        out.update(
            {
                "median_published_lead_h": self.median_lead_hours,
                "alert_episodes": self.episodes,
                "true_alert_episodes": self.true_episodes,
                "episode_precision": self.episode_precision,
                "false_episodes_per_machine_month": self.false_episodes_per_machine_month,
                "episodes_per_machine_month": self.episodes_per_machine_month,
                "alert_rows": self.alert_rows,
            }
        )
        return out


def crew_metrics(
    alerts: DataFrame,
    failures_scored: DataFrame,
    failures_all: DataFrame,
    machine_months: float,
    horizon_hours: float,
    lead_hours: Sequence[int] = (12, 24),
    gap_hours: float = DEFAULT_EPISODE_GAP_HOURS,
) -> CrewMetrics:
    """Published lead per failure of the scored period (`failures_scored`), and episode precision
    and workload of the alerts (rows of `alert_rows`). `failures_all` must reach a horizon past
    the last alert so late episodes are judged fairly. Collects only counts and leads."""
    episodes = alert_episodes(alerts, gap_hours).cache()
    try:
        judged = judge_episodes(episodes, failures_all, horizon_hours)
        counts = judged.agg(
            F.count(F.lit(1)).alias("n"), F.sum(F.col("is_true").cast("int")).alias("true")
        ).first()
        leads = [
            r["lead_hours"]
            for r in published_leads(failures_scored, episodes, horizon_hours).collect()
        ]
        n_alert_rows = alerts.count()
    finally:
        episodes.unpersist()
    n_episodes, n_true = int(counts["n"]), int(counts["true"] or 0)
    ahead, median = summarize_leads(leads, lead_hours)

    def share(num: int, den: int) -> float | None:
        return num / den if den else None

    def per_month(n: int) -> float | None:
        return n / machine_months if machine_months else None

    return CrewMetrics(
        failures=len(leads),
        published_ahead=ahead,
        median_lead_hours=median,
        episodes=n_episodes,
        true_episodes=n_true,
        episode_precision=share(n_true, n_episodes),
        false_episodes_per_machine_month=per_month(n_episodes - n_true),
        episodes_per_machine_month=per_month(n_episodes),
        alert_rows=n_alert_rows,
    )
