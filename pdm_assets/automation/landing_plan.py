"""What the landing-zone sensor requests for new or corrected days: runs in phases.

Pure functions of the stored state (``PlanInputs``); no instance access, so they are tested
directly.
"""

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import dagster as dg

from pdm_assets.automation.jobs import (
    EVALUATION_JOB,
    FEATURES_JOB,
    LABELS_JOB,
    MACHINES_JOB,
    MODEL_JOB,
    RAW_JOB,
    SCORES_JOB,
)
from pdm_assets.partitions import (
    DEFAULT_HISTORY_MONTHS,
    FEATURE_LOOKBACK_DAYS,
    evaluation_lookback_days,
    horizon_days,
    model_partition_for_day,
    partition_range_tags,
    training_window,
)

CHAIN_TAG = "pdm/landing_chain"
STEP_TAG = "pdm/landing_step"
DAILY_TABLES = ("telemetry", "errors", "maintenance", "failures")
# Feature days a corrected raw day D reaches, by table: the 7-day sensor baseline and error
# history (D..D+7). Maintenance reaches every later day through the replacement state;
# failures reach no feature, only labels (D-horizon..D).
FEATURE_REACH_DAYS = {
    "telemetry": FEATURE_LOOKBACK_DAYS,
    "errors": FEATURE_LOOKBACK_DAYS,
    "maintenance": 0,
}
# The features of day D read raw days back to D-7.
FEATURE_WINDOW_DAYS = FEATURE_LOOKBACK_DAYS


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
    history_months: int = DEFAULT_HISTORY_MONTHS  # the model's training window
    # Newest daily partitions that automation follows: 1, or 2 with the open day (today and
    # yesterday, whose last hours land after midnight).
    automated_days: int = 1


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


Changed = Mapping[date, Collection[str]] | Sequence[date]


def changed_tables(changed: Changed) -> dict[date, frozenset[str]]:
    """``{day: tables}``; a plain list of days means every table of those days changed."""
    if isinstance(changed, Mapping):
        return {d: frozenset(t) for d, t in changed.items() if t}
    return {d: frozenset(DAILY_TABLES) for d in changed}


@dataclass(frozen=True)
class Reflow:
    """What a delivery changes, per partitions definition: the partitions to re-materialize."""

    raw: frozenset[date]
    machines: bool
    features: frozenset[date]  # component_replacements + machine_features
    labels: frozenset[date]
    models: frozenset[str]  # monthly partitions to retrain
    scores: frozenset[date]  # failure_scores + maintenance_alerts
    evaluation: frozenset[date]


def reflow(changed: Changed, machines: bool, p: PlanInputs) -> Reflow:
    """Every partition that a delivery of changed raw tables (and inventory) makes stale.

    * features: telemetry and errors D..D+7; maintenance D .. the newest day, because the
      replacement state of D is carried into every later day; the inventory, every day (age,
      model, the pre-partition replacement history). A feature day needs its 7 days of raw history
      landed; a maintenance re-flow stops before the first day that has not landed (that
      day's delivery re-flows the rest);
    * labels: failures D-horizon..D, and days whose feature grid is new (first features, or a
      changed inventory); labels read nothing else of the features;
    * models: every stored model partition whose training window holds a changed feature or
      label day (a from-scratch run would train it on the corrected rows);
    * scores and alerts: changed feature days, and every day scored by a retrained model, where
      that day's model exists;
    * evaluation: changed label days and the days whose score lookback holds a changed score day,
      where labels and the whole lookback of scores exist.

    The newest partitions are included: the chain does not depend on automation being on.
    """
    tables = changed_tables(changed)
    reach = horizon_days(p.horizon_hours)
    lookback = evaluation_lookback_days(p.horizon_hours)
    one = timedelta(days=1)

    def landed(d: date) -> bool:
        return d < p.first_day or d in p.landed

    def window_landed(d: date) -> bool:
        return all(landed(d - i * one) for i in range(FEATURE_WINDOW_DAYS + 1))

    def carry_from(d: date) -> set[date]:
        out, x = set(), max(d, p.first_day)
        while x <= p.daily_last and x in p.landed:
            out.add(x)
            x += one
        return out

    feature_days: set[date] = set()
    if machines:
        feature_days |= carry_from(p.first_day)
    for d, ts in tables.items():
        if "maintenance" in ts:
            feature_days |= carry_from(d)
        for t in ts & {"telemetry", "errors"}:
            feature_days |= _window([d], 0, FEATURE_REACH_DAYS[t], p.first_day, p.daily_last)
    feature_days = {d for d in feature_days if window_landed(d)}
    have_features = p.features | feature_days

    failure_days = [d for d, ts in tables.items() if "failures" in ts]
    label_candidates = _window(failure_days, reach, 0, p.first_day, p.label_last)
    new_grid = feature_days if machines else feature_days - p.features
    label_candidates |= {d for d in new_grid if d <= p.label_last}
    label_days = {
        d
        for d in label_candidates
        if d in have_features and all(landed(d + i * one) for i in range(reach + 1))
    }
    have_labels = p.labels | label_days

    changed_training = feature_days | label_days
    models = set()
    for period in p.models:
        start = date.fromisoformat(period)
        w = training_window(
            datetime.combine(start, datetime.min.time()),
            p.first_day,
            p.horizon_hours,
            p.history_months,
        )
        if any(w.first_day <= d <= w.last_day for d in changed_training):
            models.add(period)

    def scorable(d: date) -> bool:
        return d in have_features and model_partition_for_day(d, p.horizon_hours) in p.models

    score_days = {d for d in feature_days if scorable(d)}
    if models:
        score_days |= {
            d
            for d in p.scores | have_features
            if p.first_day <= d <= p.daily_last
            and model_partition_for_day(d, p.horizon_hours) in models
            and scorable(d)
        }
    have_scores = p.scores | score_days
    evaluation_days = {
        d
        for d in label_days | _window(score_days, 0, lookback, p.first_day, p.label_last)
        if d in have_labels and all(d - i * one in have_scores for i in range(lookback + 1))
    }
    return Reflow(
        raw=frozenset(tables),
        machines=machines,
        features=frozenset(feature_days),
        labels=frozenset(label_days),
        models=frozenset(models),
        scores=frozenset(score_days),
        evaluation=frozenset(evaluation_days),
    )


def plan_phases(changed: Changed, machines: bool, p: PlanInputs) -> list[list[Step]]:
    """Runs for new or corrected raw days, in phases that must succeed one after the other.

    1. raw days (one run per contiguous range) and ``machines`` if its files changed;
    2. ``component_replacements`` + ``machine_features``;
    3. ``failure_labels``, and ``failure_scores`` + ``maintenance_alerts`` when no model is
       retrained;
    4. ``failure_model``, one run per month whose training window changed;
    5. then scores and alerts;
    6. ``score_evaluation``.

    The partitions of each phase are those of ``reflow``; each phase is one run per contiguous
    range (single-run backfills), so a correction of an old maintenance record is one run per
    job however many days it re-flows through, plus one per retrained month.

    A delivery that touches only the newest daily partition (the daily arrival; with the open day,
    today or yesterday) is raw only: its downstream is automation's, which follows those
    partitions by itself.
    """
    tables = changed_tables(changed)
    phase_raw = _steps(RAW_JOB, tables)
    if machines:
        phase_raw.append(Step(MACHINES_JOB))
    followed = {p.daily_last - timedelta(days=i) for i in range(p.automated_days)}
    if not machines and set(tables) <= followed:
        return [phase_raw] if phase_raw else []

    r = reflow(tables, machines, p)
    models = [Step(MODEL_JOB, m, m) for m in sorted(r.models)]
    labels = _steps(LABELS_JOB, r.labels)
    scores = _steps(SCORES_JOB, r.scores)
    phases = [
        phase_raw,
        _steps(FEATURES_JOB, r.features),
        [*labels, *scores] if not models else labels,
        models,
        scores if models else [],
        _steps(EVALUATION_JOB, r.evaluation),
    ]
    return [phase for phase in phases if phase]
