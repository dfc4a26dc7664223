"""Two alert levels, each with a threshold chosen on the model's hold-out for a stated target.

- *watch*: a component's precursor has started. Threshold: the highest risk that still catches
  `watch_catch` (default 90 %) of the hold-out's failures with a right-component row published at
  least `watch_lead_hours` (24 h) ahead. Its precision is limited by false precursors: the sensors
  alone cannot tell them apart.
- *act*: failure likely soon (after the confirming evidence). Threshold: the lowest risk whose
  alert episodes on the hold-out are right at least `act_precision` (default 70 %) of the time.
  When the rows carry `confirmed` (the component's confirming error is present, see
  act_confirmation), act may also require it: whichever of the two meets the target and catches
  more failures 12 h ahead is kept.

Everything here is numpy on the collected hold-out (or out-of-fold) rows, a few ten thousand at
most: per row machineID, hour (integer hours since the epoch), risk, the component at risk (1..4)
and the label flags fails_comp1..4. Failure times are recovered from the flags: a failure at hour
f flags the rows f - horizon .. f - 1, so it is the hour after the last flagged row, when that
next row exists unflagged. A row at hour t is taken to be published at t + 1 (hourly landing).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

DEFAULT_WATCH_CATCH = 0.90
DEFAULT_ACT_PRECISION = 0.70
WATCH_LEAD_HOURS = 24
ACT_LEAD_HOURS = 12
EPISODE_GAP_HOURS = 24
MIN_ACT_EPISODES = 3
PUBLISH_DELAY_HOURS = 1


@dataclass(frozen=True)
class LevelThresholds:
    """Thresholds of both levels and what they measured on the hold-out (None: not measurable)."""

    watch_threshold: float
    act_threshold: float
    holdout_failures: int
    watch_catch_24h: float | None  # share of failures with a watch alert published >= 24 h ahead
    watch_episode_precision: float | None
    watch_episodes: int
    act_catch_12h: float | None  # share of failures with an act alert published >= 12 h ahead
    act_episode_precision: float | None
    act_episodes: int
    watch_target: float = DEFAULT_WATCH_CATCH
    act_target: float = DEFAULT_ACT_PRECISION
    # 1: measured on the newest hold-out; k > 1: on out-of-fold scores of k blocks of the window.
    folds: int = 1
    # True: an act row must also carry its component's confirming evidence (act_confirmation).
    act_confirmed: bool = False

    @property
    def act_target_met(self) -> bool:
        return self.act_episode_precision is not None and (
            self.act_episode_precision >= self.act_target
        )

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)

    def as_markdown(self) -> str:
        def pct(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.0%}"

        return "\n".join(
            [
                "| level | threshold (risk >=) | target | failures caught | episode precision |"
                " episodes |",
                "|---|---:|---|---:|---:|---:|",
                f"| watch | {self.watch_threshold:.4f} | catch >= {self.watch_target:.0%} of "
                f"failures >= {WATCH_LEAD_HOURS} h ahead | {pct(self.watch_catch_24h)} "
                f"(>= {WATCH_LEAD_HOURS} h) | {pct(self.watch_episode_precision)} | "
                f"{self.watch_episodes} |",
                f"| act{' (confirmed)' if self.act_confirmed else ''} | {self.act_threshold:.4f} | "
                f"episode precision >= {self.act_target:.0%} | "
                f"{pct(self.act_catch_12h)} (>= {ACT_LEAD_HOURS} h) | "
                f"{pct(self.act_episode_precision)} | {self.act_episodes} |",
                f"\nhold-out failures: {self.holdout_failures}"
                + ("" if self.folds == 1 else f" (out-of-fold scores of {self.folds} blocks)"),
            ]
        )


def failures_from_flags(rows: pd.DataFrame) -> pd.DataFrame:
    """(machineID, component 1..4, hour) of the failures the label flags reveal (see module doc)."""
    out = []
    for machine, group in rows.sort_values("hour").groupby("machineID", sort=True):
        hours = group["hour"].to_numpy()
        present = set(hours.tolist())
        for c in range(1, 5):
            flags = group[f"fails_comp{c}"].to_numpy().astype(bool)
            flagged = set(hours[flags].tolist())
            for h in hours[flags]:
                nxt = h + 1
                if nxt in present and nxt not in flagged:
                    out.append((int(machine), c, int(nxt)))
    return pd.DataFrame(out, columns=["machineID", "component", "hour"])


def _episodes(alerts: pd.DataFrame, gap_hours: int) -> list[tuple[int, int, int, int]]:
    """(machine, component, first hour, last hour) of alert rows grouped with gaps <= gap_hours."""
    episodes = []
    for (machine, comp), group in alerts.groupby(["machineID", "component"], sort=True):
        hours = np.sort(group["hour"].to_numpy())
        starts = np.flatnonzero(np.diff(hours, prepend=-(10**12)) > gap_hours)
        ends = np.append(starts[1:] - 1, len(hours) - 1)
        for a, b in zip(starts, ends, strict=True):
            episodes.append((int(machine), int(comp), int(hours[a]), int(hours[b])))
    return episodes


def _episode_precision(
    rows: pd.DataFrame, threshold: float, failures: pd.DataFrame, horizon: int, gap: int
) -> tuple[float | None, int]:
    episodes = _episodes(rows[rows["risk"] >= threshold], gap)
    if not episodes:
        return None, 0
    fails: dict[tuple[int, int], np.ndarray] = {
        key: g["hour"].to_numpy() for key, g in failures.groupby(["machineID", "component"])
    }
    true = 0
    for machine, comp, first, last in episodes:
        f = fails.get((machine, comp))
        if f is not None and np.any((f > first) & (f <= last + horizon)):
            true += 1
    return true / len(episodes), len(episodes)


def check_landing_interval(landing_interval_hours: int) -> None:
    """Intervals are aligned to 00:00 UTC, so one that does not divide the day has no meaning."""
    if landing_interval_hours < 1 or 24 % landing_interval_hours:
        raise ValueError(
            f"landing_interval_hours must divide 24 (1, 2, 3, 4, 6, 8, 12 or 24), "
            f"got {landing_interval_hours}"
        )


def published_hour(hour: np.ndarray, every_hours: int = PUBLISH_DELAY_HOURS) -> np.ndarray:
    """When a row at `hour` (hours since the epoch) is published with files landing every
    `every_hours` (1: the next hour; 24: the next UTC midnight): the numpy form of
    `alert_episodes.available_at`, which the scores use, so thresholds and alerts agree."""
    check_landing_interval(every_hours)
    return (hour // every_hours + 1) * every_hours


def _best_score_before(
    rows: pd.DataFrame,
    failures: pd.DataFrame,
    lead_hours: int,
    horizon: int,
    every_hours: int = PUBLISH_DELAY_HOURS,
) -> np.ndarray:
    """Per failure, the highest risk of a right-component row published >= lead_hours ahead and
    inside the horizon; nan for a failure whose whole window is not in the rows."""
    by_key = {key: g for key, g in rows.groupby(["machineID", "component"])}
    first_hour = rows.groupby("machineID")["hour"].min().to_dict()
    scores = []
    for machine, comp, f in failures.itertuples(index=False):
        if first_hour.get(machine, f) > f - horizon:
            scores.append(np.nan)  # the rows do not reach back a whole horizon
            continue
        g = by_key.get((machine, comp))
        if g is None:
            scores.append(0.0)
            continue
        t = g["hour"].to_numpy()
        inside = (t >= f - horizon) & (published_hour(t, every_hours) <= f - lead_hours)
        scores.append(float(g["risk"].to_numpy()[inside].max()) if inside.any() else 0.0)
    return np.asarray(scores, dtype=np.float64)


def choose_level_thresholds(
    rows: pd.DataFrame,
    horizon_hours: int,
    fallback: float,
    watch_catch: float = DEFAULT_WATCH_CATCH,
    act_precision: float = DEFAULT_ACT_PRECISION,
    gap_hours: int = EPISODE_GAP_HOURS,
    min_act_episodes: int = MIN_ACT_EPISODES,
    landing_interval_hours: int = PUBLISH_DELAY_HOURS,
) -> LevelThresholds:
    """Watch and act thresholds from hold-out rows (columns machineID, hour, risk, component,
    fails_comp1..4). Without a failure in the rows both fall back to `fallback` (e.g. the F1
    threshold). Act is never below watch: an act alert is always also a watch alert."""
    horizon = int(horizon_hours)
    failures = failures_from_flags(rows)
    watch_scores = _best_score_before(rows, failures, WATCH_LEAD_HOURS, horizon)
    watch_scores = watch_scores[~np.isnan(watch_scores)]
    if len(watch_scores) and np.any(watch_scores > 0):
        ranked = np.sort(watch_scores)[::-1]
        k = max(1, math.ceil(watch_catch * len(ranked)))
        watch = float(ranked[k - 1])
        if watch <= 0:  # a failure without any right-component row: catch what can be caught
            watch = float(ranked[ranked > 0].min())
    else:
        watch = fallback

    def catch(
        level_rows: pd.DataFrame, threshold: float, lead: int, every: int = PUBLISH_DELAY_HOURS
    ) -> float | None:
        s = _best_score_before(level_rows, failures, lead, horizon, every)
        s = s[~np.isnan(s)]
        return float(np.mean(s >= threshold)) if len(s) else None

    # Act on the risk alone, or only on rows that carry their component's confirming evidence
    # (act_confirmation; a `confirmed` column): whichever meets the precision target and catches
    # more failures 12 h ahead as published with the deployment's files (`landing_interval_hours`:
    # with daily files the confirming error, a day ahead, is published a few hours ahead); if
    # neither meets it, the surer one. The watch level's choice still assumes hourly files.
    modes = [(False, rows)]
    if "confirmed" in rows.columns:
        confirmed = rows["confirmed"].to_numpy().astype(bool)
        modes.append((True, rows.assign(risk=np.where(confirmed, rows["risk"], -1.0))))
    choices = []
    for needs_confirmation, act_rows in modes:
        act, met = _act_threshold(
            act_rows, watch, failures, horizon, gap_hours, act_precision, min_act_episodes
        )
        if act is None:
            act = max(fallback, watch)
        precision, n = _episode_precision(act_rows, act, failures, horizon, gap_hours)
        caught = catch(act_rows, act, ACT_LEAD_HOURS, landing_interval_hours)
        surest = wilson_lower_bound(precision or 0.0, n)
        rank = (met, caught or 0.0, precision or 0.0) if met else (met, surest, 0.0)
        choices.append((rank, needs_confirmation, act, precision, n, caught))
    _, needs_confirmation, act, act_prec, act_n, act_caught = max(choices, key=lambda c: c[0])

    watch_precision, watch_n = _episode_precision(rows, watch, failures, horizon, gap_hours)
    return LevelThresholds(
        watch_threshold=watch,
        act_threshold=act,
        holdout_failures=len(failures),
        watch_catch_24h=catch(rows, watch, WATCH_LEAD_HOURS),
        watch_episode_precision=watch_precision,
        watch_episodes=watch_n,
        act_catch_12h=act_caught,
        act_episode_precision=act_prec,
        act_episodes=act_n,
        watch_target=watch_catch,
        act_target=act_precision,
        act_confirmed=needs_confirmation,
    )


def _act_threshold(
    rows: pd.DataFrame,
    watch: float,
    failures: pd.DataFrame,
    horizon: int,
    gap_hours: int,
    act_precision: float,
    min_act_episodes: int,
) -> tuple[float | None, bool]:
    """The lowest candidate threshold >= watch whose episodes are right often enough (and True),
    else the candidate whose precision is surest (the highest Wilson lower bound, and False);
    None when no candidate has enough episodes.

    The lower bound, not the point estimate, picks the fallback: a high threshold with a handful of
    episodes often measures the best precision by luck, and it catches few failures.
    """
    risks = rows["risk"].to_numpy()
    risks = np.unique(risks[risks >= watch])
    candidates = np.unique(np.quantile(risks, np.linspace(0, 1, 101))) if len(risks) else []
    best: tuple[float, float | None] = (-1.0, None)
    for threshold in candidates:
        precision, n = _episode_precision(rows, threshold, failures, horizon, gap_hours)
        if precision is None or n < min_act_episodes:
            continue
        if precision >= act_precision:
            return float(threshold), True
        surety = wilson_lower_bound(precision, n)
        if surety > best[0]:
            best = (surety, float(threshold))
    return (None if best[1] is None else max(best[1], watch)), False


def wilson_lower_bound(share: float, n: int, z: float = 1.645) -> float:
    """One-sided 95 % lower bound of a proportion measured as `share` of n (Wilson score)."""
    if n <= 0:
        return 0.0
    z2 = z * z
    centre = share + z2 / (2 * n)
    spread = z * math.sqrt(share * (1 - share) / n + z2 / (4 * n * n))
    return (centre - spread) / (1 + z2 / n)
