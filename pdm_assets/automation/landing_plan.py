"""What the landing-zone sensor requests for new or corrected days: runs in phases.

Pure functions of the stored state (``PlanInputs``); no instance access, so they are tested
directly.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import dagster as dg

from pdm_assets.automation.jobs import (
    EVALUATION_JOB,
    FEATURES_JOB,
    LABELS_JOB,
    MACHINES_JOB,
    RAW_JOB,
    SCORES_JOB,
)
from pdm_assets.partitions import (
    evaluation_lookback_days,
    horizon_days,
    model_partition_for_day,
    partition_range_tags,
)

CHAIN_TAG = "pdm/landing_chain"
STEP_TAG = "pdm/landing_step"
# A corrected day D changes features D..D+2 (36 h telemetry windows) and labels D-2..D.
FEATURE_REACH_DAYS = 2


@dataclass(frozen=True)
class Step:
    """One run: a job over a partition range (``first`` is None for the unpartitioned job)."""

    job: str
    first: str | None = None
    last: str | None = None

    def run_request(self, chain: str, phase: int, index: int) -> dg.RunRequest:
        step_id = f"{chain}:{phase}:{index}"
        tags = {CHAIN_TAG: chain, STEP_TAG: step_id}
        span = "" if self.first is None else f":{self.first}..{self.last}"
        run_key = f"{self.job}{span}:{step_id}"
        if self.first is None or self.first == self.last:
            return dg.RunRequest(
                job_name=self.job, partition_key=self.first, run_key=run_key, tags=tags
            )
        tags.update(partition_range_tags(self.first, self.last))
        return dg.RunRequest(job_name=self.job, run_key=run_key, tags=tags)


@dataclass(frozen=True)
class PlanInputs:
    """What the planner needs to know about the partitions that exist and what is stored."""

    first_day: date
    daily_last: date  # newest daily partition (yesterday)
    label_last: date  # newest label partition (yesterday - horizon days)
    horizon_hours: int
    landed: frozenset[date]
    models: frozenset[str]  # model partitions with a record
    features: frozenset[date]
    scores: frozenset[date]
    labels: frozenset[date]


def contiguous(days: Iterable[date]) -> list[tuple[date, date]]:
    runs: list[tuple[date, date]] = []
    for d in sorted(set(days)):
        if runs and runs[-1][1] + timedelta(days=1) == d:
            runs[-1] = (runs[-1][0], d)
        else:
            runs.append((d, d))
    return runs


def _steps(job: str, days: Iterable[date]) -> list[Step]:
    return [Step(job, a.isoformat(), b.isoformat()) for a, b in contiguous(days)]


def _window(days: Iterable[date], before: int, after: int, lo: date, hi: date) -> set[date]:
    out = set()
    for d in days:
        for i in range(-before, after + 1):
            x = d + timedelta(days=i)
            if lo <= x <= hi:
                out.add(x)
    return out


def plan_phases(changed: Sequence[date], machines: bool, p: PlanInputs) -> list[list[Step]]:
    """Runs for new or corrected raw days, in phases that must succeed one after the other.

    1. raw days (one run per contiguous range) and ``machines`` if its files changed;
    2. ``component_replacements`` + ``machine_features`` for D..D+2;
    3. ``failure_scores`` + ``maintenance_alerts`` for D..D+2 where that month's model exists,
       and ``failure_labels`` for D-2..D;
    4. ``score_evaluation`` for D-2..D where labels, and the scores and alerts of its lookback
       (a horizon plus a day), are then available.

    Phases 2-4 leave out the newest partition of each partitions definition: automation re-runs
    it when any of its inputs changes, and two writers of one partition would race. Each phase
    is one run per contiguous range (single-run backfills), so a year of days is one run per
    job. Limit, stated honestly: a changed maintenance record also moves the replacement state
    of every day after D+2; those days are not re-run (backfill ``features_job`` from D).
    """
    daily_hi = p.daily_last - timedelta(days=1)
    label_hi = p.label_last - timedelta(days=1)
    reach = horizon_days(p.horizon_hours)
    lookback = evaluation_lookback_days(p.horizon_hours)

    phase_raw = _steps(RAW_JOB, changed)
    if machines:
        phase_raw.append(Step(MACHINES_JOB))

    feature_days = {
        d
        for d in _window(changed, 0, FEATURE_REACH_DAYS, p.first_day, daily_hi)
        if all(  # the 36 h telemetry window must have landed (a backlog may still be arriving)
            d - timedelta(days=i) in p.landed or d - timedelta(days=i) < p.first_day
            for i in range(FEATURE_REACH_DAYS + 1)
        )
    }
    have_features = p.features | feature_days

    score_days = {
        d
        for d in feature_days
        if model_partition_for_day(d, p.horizon_hours) in p.models and d in have_features
    }
    label_days = {
        d
        for d in _window(changed, reach, 0, p.first_day, label_hi)
        if d in have_features and all(d + timedelta(days=i) in p.landed for i in range(reach + 1))
    }
    have_scores = p.scores | score_days
    have_labels = p.labels | label_days
    evaluation_days = {
        d
        for d in _window(changed, reach, 0, p.first_day, label_hi)
        if d in have_labels
        and all(d - timedelta(days=i) in have_scores for i in range(lookback + 1))
    }
    phases = [
        phase_raw,
        _steps(FEATURES_JOB, feature_days),
        [*_steps(SCORES_JOB, score_days), *_steps(LABELS_JOB, label_days)],
        _steps(EVALUATION_JOB, evaluation_days),
    ]
    return [phase for phase in phases if phase]
