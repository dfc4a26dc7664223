"""Jobs, schedules, the landing-zone sensor and the declarative automation of the assets.

Who moves which partition (see docs/operating.md):

* the **landing-zone sensor** (``landing_zone_sensor``) turns complete days of CSV files into raw
  runs; for days that are not the newest partition (late deliveries, backlogs, corrections) it
  also pushes the affected downstream partitions, phase by phase, because automation only ever
  looks at the newest partition;
* **automation conditions** (``with_automation``) let every daily asset below the raw tables
  follow its inputs for the newest partition;
* **schedules**, off by default: ``daily_scoring_schedule`` simulates and scores yesterday with
  the simulator source, ``monthly_model_schedule`` retrains the current month's model. The model
  is never retrained per day by automation.

No ``from __future__ import annotations`` here: Dagster reads the sensor's parameter annotations
at decoration time.
"""

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from pdm_assets import landing, schemas
from pdm_assets.partitions import (
    daily_partitions,
    horizon_days,
    label_partitions,
    model_partition_for_day,
    partition_range_tags,
)
from pdm_assets.resources.sources import RawDataSource
from pdm_assets.settings import Settings, load_settings

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

RAW_ASSETS = ("raw_telemetry", "raw_errors", "raw_maintenance", "raw_failures")
FEATURE_ASSETS = ("component_replacements", "machine_features")
SCORE_ASSETS = ("failure_scores", "maintenance_alerts")
LABEL_ASSETS = ("failure_labels",)
EVALUATION_ASSETS = ("score_evaluation",)
MODEL_ASSETS = ("failure_model",)
# Assets that follow their inputs for the newest partition; the model is deliberately absent.
AUTOMATED_ASSETS = (*FEATURE_ASSETS, *SCORE_ASSETS, *LABEL_ASSETS, *EVALUATION_ASSETS)

CHAIN_TAG = "pdm/landing_chain"
STEP_TAG = "pdm/landing_step"

LANDING_SENSOR = "landing_zone_sensor"
AUTOMATION_SENSOR = "pdm_automation_sensor"
MACHINES_ENTRY = "machines"
CURSOR_VERSION = 1
DEFAULT_INTERVAL_SECONDS = 30
# A corrected day D changes features D..D+2 (36 h telemetry windows) and labels D-2..D.
FEATURE_REACH_DAYS = 2

# --- jobs ----------------------------------------------------------------------------------------
RAW_JOB = "raw_job"
MACHINES_JOB = "machines_job"
FEATURES_JOB = "features_job"
SCORES_JOB = "scores_job"
LABELS_JOB = "labels_job"
EVALUATION_JOB = "evaluation_job"
MODEL_JOB = "model_job"
DAILY_SCORING_JOB = "daily_scoring_job"

# Assets with different partitions definitions cannot share a run, so each job holds one kind.
JOB_ASSETS: dict[str, tuple[str, ...]] = {
    RAW_JOB: RAW_ASSETS,
    MACHINES_JOB: ("machines",),
    FEATURES_JOB: FEATURE_ASSETS,
    SCORES_JOB: SCORE_ASSETS,
    LABELS_JOB: LABEL_ASSETS,
    EVALUATION_JOB: EVALUATION_ASSETS,
    MODEL_JOB: MODEL_ASSETS,
    DAILY_SCORING_JOB: (*RAW_ASSETS, *FEATURE_ASSETS, *SCORE_ASSETS),
}
JOB_DESCRIPTIONS = {
    RAW_JOB: "Ingest raw days (the landing-zone sensor's first step).",
    MACHINES_JOB: "Refresh the fleet inventory after machines.csv changed.",
    FEATURES_JOB: "Replacement state and features for days that automation does not maintain.",
    SCORES_JOB: "Scores and alerts for days that automation does not maintain.",
    LABELS_JOB: "Labels (label partitions end one horizon before the raw ones).",
    EVALUATION_JOB: "Evaluation of scores against labels.",
    MODEL_JOB: "Train one month's failure model (monthly schedule or on demand).",
    DAILY_SCORING_JOB: "Simulate and score one day: raw -> features -> scores and alerts.",
}


def build_jobs() -> "list[UnresolvedAssetJobDefinition]":
    return [
        dg.define_asset_job(name, selection=list(assets), description=JOB_DESCRIPTIONS[name])
        for name, assets in JOB_ASSETS.items()
    ]


# --- declarative automation ----------------------------------------------------------------------
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


def automation_conditions() -> dict[str, dg.AutomationCondition]:
    return {name: follow_inputs() for name in AUTOMATED_ASSETS}


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


# --- schedules -----------------------------------------------------------------------------------
def build_schedules(jobs: "Sequence[UnresolvedAssetJobDefinition]") -> list[Any]:
    """Both STOPPED by default: start them in the UI (Automation tab) or with
    ``dagster schedule start``.

    * ``daily_scoring_schedule`` at 01:00 UTC runs yesterday's partition of
      ``daily_scoring_job`` (simulator source: the raw day is generated, not delivered). Labels and
      evaluation follow by automation, since they have other partitions.
    * ``monthly_model_schedule`` on the 2nd at 03:00 UTC trains the current month's model. A day
      after the month starts: the training window ends three days before the period and its
      labels need the raw days of the month's end, which land on the 1st.
    """
    by_name = {job.name: job for job in jobs}
    return [
        dg.build_schedule_from_partitioned_job(
            by_name[DAILY_SCORING_JOB],
            name="daily_scoring_schedule",
            hour_of_day=1,
            description="Simulate and score yesterday (PDM_SOURCE=simulator). Off by default.",
        ),
        dg.build_schedule_from_partitioned_job(
            by_name[MODEL_JOB],
            name="monthly_model_schedule",
            day_of_month=2,
            hour_of_day=3,
            description="Retrain the current month's failure model. Off by default.",
        ),
    ]


# --- the landing zone ----------------------------------------------------------------------------
def fingerprint(paths: Sequence[Path]) -> tuple[str, int] | None:
    """A short hash of (size, mtime_ns) of the files, and their newest mtime; None if one is gone.

    Size and mtime change on every rewrite-and-rename, and cost one ``stat`` per file, so a
    sensor tick never reads file contents.
    """
    parts, newest = [], 0
    for path in paths:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        parts.append(f"{path.name}:{st.st_size}:{st.st_mtime_ns}")
        newest = max(newest, st.st_mtime_ns)
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:16], newest


def complete_days(landing_dir: str) -> dict[date, tuple[str, int]]:
    """Days with all four final ``.csv`` files (``.tmp`` files are still being written)."""
    tables = list(schemas.DAILY_TABLES)
    days = set(landing.landed_days(landing_dir, tables[0]))
    for table in tables[1:]:
        days &= set(landing.landed_days(landing_dir, table))
    out = {}
    for day in sorted(days):
        fp = fingerprint([landing.day_path(landing_dir, t, day) for t in tables])
        if fp is not None:
            out[day] = fp
    return out


def machines_fingerprint(landing_dir: str, first_day: date) -> tuple[str, int] | None:
    """machines.csv plus the maintenance files before the first partition: the ``machines``
    asset reads both (each component's last replacement before the data)."""
    history = [d for d in landing.landed_days(landing_dir, "maintenance") if d < first_day]
    return fingerprint(
        [
            landing.machines_path(landing_dir),
            *(landing.day_path(landing_dir, "maintenance", d) for d in history),
        ]
    )


# --- plans: what to request for a set of new or changed days --------------------------------------
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
    4. ``score_evaluation`` for D-2..D where labels, scores and alerts are then available.

    Phases 2-4 leave out the newest partition of each partitions definition: automation re-runs
    it when any of its inputs changes, and two writers of one partition would race. Each phase
    is one run per contiguous range (single-run backfills), so a year of days is one run per
    job. Limit, stated honestly: a changed maintenance record also moves the replacement state
    of every day after D+2; those days are not re-run (backfill ``features_job`` from D).
    """
    daily_hi = p.daily_last - timedelta(days=1)
    label_hi = p.label_last - timedelta(days=1)
    reach = horizon_days(p.horizon_hours)

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
        if d in have_labels and all(d - timedelta(days=i) in have_scores for i in range(3))
    }
    phases = [
        phase_raw,
        _steps(FEATURES_JOB, feature_days),
        [*_steps(SCORES_JOB, score_days), *_steps(LABELS_JOB, label_days)],
        _steps(EVALUATION_JOB, evaluation_days),
    ]
    return [phase for phase in phases if phase]


# --- the cursor ----------------------------------------------------------------------------------
@dataclass
class Chain:
    """Phases of one delivery; ``phase`` is the one whose runs were requested last."""

    id: str
    phases: list[list[dict[str, Any]]]
    phase: int = 0

    def steps(self, phase: int) -> list[Step]:
        return [Step(**s) for s in self.phases[phase]]

    def requests(self, phase: int) -> list[dg.RunRequest]:
        return [s.run_request(self.id, phase, i) for i, s in enumerate(self.steps(phase))]


@dataclass
class LandingCursor:
    """``files``: fingerprint per day (and of the machines files) as last acted on."""

    files: dict[str, str]
    chains: list[Chain]

    @classmethod
    def parse(cls, text: str | None) -> "LandingCursor":
        if not text:
            return cls({}, [])
        data = json.loads(text)
        if data.get("v") != CURSOR_VERSION:
            raise ValueError(f"unknown landing cursor version {data.get('v')!r}")
        return cls(dict(data["files"]), [Chain(**c) for c in data["chains"]])

    def dump(self) -> str:
        return json.dumps(
            {"v": CURSOR_VERSION, "files": self.files, "chains": [asdict(c) for c in self.chains]},
            sort_keys=True,
            separators=(",", ":"),
        )


def chain_id(entries: dict[str, str]) -> str:
    text = "|".join(f"{k}={v}" for k, v in sorted(entries.items()))
    return hashlib.sha1(text.encode()).hexdigest()[:12]


# --- instance queries ----------------------------------------------------------------------------
def _materialized_since(
    instance: dg.DagsterInstance, asset: str, partitions: Sequence[str]
) -> dict[str, float]:
    """Newest materialization time (seconds) per partition, for the given partitions."""
    newest: dict[str, float] = {}
    cursor = None
    while True:
        result = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=list(partitions)),
            limit=1000,
            cursor=cursor,
        )
        for record in result.records:
            key = record.partition_key or ""
            newest[key] = max(newest.get(key, 0.0), record.timestamp)
        if not result.has_more:
            return newest
        cursor = result.cursor


def already_ingested(instance: dg.DagsterInstance, days: dict[date, tuple[str, int]]) -> set[date]:
    """Days whose raw partitions were all materialized after their files were last written.

    A sensor started on an existing deployment (or with a lost cursor) adopts these instead of
    re-running history; a file changed after its ingestion still counts as a correction.
    """
    if not days:
        return set()
    keys = [d.isoformat() for d in days]
    times = [_materialized_since(instance, asset, keys) for asset in RAW_ASSETS]
    return {
        d
        for d, (_, mtime_ns) in days.items()
        if all(t.get(d.isoformat(), 0.0) * 1e9 >= mtime_ns for t in times)
    }


def _machines_ingested(instance: dg.DagsterInstance, mtime_ns: int) -> bool:
    record = instance.get_latest_materialization_event(dg.AssetKey("machines"))
    return record is not None and record.timestamp * 1e9 >= mtime_ns


def _materialized_days(instance: dg.DagsterInstance, asset: str) -> frozenset[date]:
    keys = instance.get_materialized_partitions(dg.AssetKey(asset))
    return frozenset(date.fromisoformat(k) for k in keys)


def plan_inputs(instance: dg.DagsterInstance, landed: Iterable[date], s: Settings) -> PlanInputs:
    return PlanInputs(
        first_day=s.start,
        daily_last=date.fromisoformat(daily_partitions().get_last_partition_key()),
        label_last=date.fromisoformat(label_partitions().get_last_partition_key()),
        horizon_hours=s.horizon_hours,
        landed=frozenset(landed),
        models=frozenset(instance.get_materialized_partitions(dg.AssetKey("failure_model"))),
        features=_materialized_days(instance, "machine_features"),
        scores=_materialized_days(instance, "failure_scores"),
        labels=_materialized_days(instance, "failure_labels"),
    )


FINISHED_BADLY = {dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def phase_state(instance: dg.DagsterInstance, chain: Chain) -> str:
    """``done`` when every run of the requested phase succeeded (a re-execution that succeeds
    counts), ``failed`` when one finished badly and none of its step succeeded, else ``waiting``."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={CHAIN_TAG: chain.id}))
    by_step: dict[str, list[dg.DagsterRun]] = {}
    for run in runs:
        by_step.setdefault(run.tags.get(STEP_TAG, ""), []).append(run)
    state = "done"
    for index in range(len(chain.phases[chain.phase])):
        step_runs = by_step.get(f"{chain.id}:{chain.phase}:{index}", [])
        if any(r.status == dg.DagsterRunStatus.SUCCESS for r in step_runs):
            continue
        if step_runs and all(r.status in FINISHED_BADLY for r in step_runs):
            return "failed"
        state = "waiting"
    return state


# --- the sensor ----------------------------------------------------------------------------------
def evaluate_landing_zone(
    instance: dg.DagsterInstance,
    landing_dir: str,
    cursor_text: str | None,
    settings: Settings,
    log: Callable[[str], None] = lambda _msg: None,
) -> dg.SensorResult:
    """One sensor tick as a plain function: advance running chains, then look for new files."""
    cursor = LandingCursor.parse(cursor_text)
    requests: list[dg.RunRequest] = []

    # 1. Chains in flight: request the next phase once the previous one succeeded.
    still_running = []
    for chain in cursor.chains:
        state = phase_state(instance, chain)
        if state == "waiting":
            still_running.append(chain)
        elif state == "failed":
            log(f"chain {chain.id}: a run of phase {chain.phase + 1} failed; later phases dropped")
        elif chain.phase + 1 < len(chain.phases):
            chain.phase += 1
            requests.extend(chain.requests(chain.phase))
            still_running.append(chain)
    cursor.chains = still_running
    if still_running:
        # One chain at a time: a later chain's features would need the replacement state that
        # this one is still computing. New files are picked up once it is done.
        waiting = ", ".join(f"{c.id} (phase {c.phase + 1}/{len(c.phases)})" for c in still_running)
        return dg.SensorResult(
            run_requests=requests,
            cursor=cursor.dump(),
            skip_reason=None if requests else f"waiting for {waiting} before new files",
        )

    # 2. The files: complete days that are partitions already, and the inventory.
    if not landing.machines_path(landing_dir).is_file():
        return dg.SensorResult(
            run_requests=requests,
            cursor=cursor.dump(),
            skip_reason=None if requests else f"no {landing.machines_path(landing_dir)} yet",
        )
    last = date.fromisoformat(daily_partitions().get_last_partition_key())
    days = {d: fp for d, fp in complete_days(landing_dir).items() if settings.start <= d <= last}
    changed = {d: fp for d, fp in days.items() if cursor.files.get(d.isoformat()) != fp[0]}
    unseen = {d: fp for d, fp in changed.items() if d.isoformat() not in cursor.files}
    adopted = already_ingested(instance, unseen)
    for d in adopted:
        cursor.files[d.isoformat()] = changed.pop(d)[0]
    machines_fp = machines_fingerprint(landing_dir, settings.start)
    machines_changed = False
    if machines_fp is not None and cursor.files.get(MACHINES_ENTRY) != machines_fp[0]:
        if MACHINES_ENTRY not in cursor.files and _machines_ingested(instance, machines_fp[1]):
            cursor.files[MACHINES_ENTRY] = machines_fp[0]
        else:
            machines_changed = True
    if adopted:
        log(f"adopted {len(adopted)} day(s) whose raw partitions were already ingested")

    if changed or machines_changed:
        entries = {d.isoformat(): fp[0] for d, fp in changed.items()}
        if machines_changed and machines_fp is not None:
            entries[MACHINES_ENTRY] = machines_fp[0]
        inputs = plan_inputs(instance, days, settings)
        phases = plan_phases(sorted(changed), machines_changed, inputs)
        chain = Chain(chain_id(entries), [[asdict(s) for s in phase] for phase in phases])
        requests.extend(chain.requests(0))
        if len(chain.phases) > 1:
            cursor.chains.append(chain)
        cursor.files.update(entries)
        corrected = sorted(d for d in changed if d not in unseen)
        log(
            f"chain {chain.id}: {len(changed)} day(s) ({len(corrected)} corrected), "
            f"machines changed: {machines_changed}, phases: "
            + " | ".join(", ".join(f"{s.job} {s.first}..{s.last}" for s in p) for p in phases)
        )

    if not requests:
        return dg.SensorResult(skip_reason="no new or changed files", cursor=cursor.dump())
    return dg.SensorResult(run_requests=requests, cursor=cursor.dump())


def sensor_interval_seconds() -> int:
    """PDM_SENSOR_INTERVAL_SECONDS (default 30): how often both sensors tick."""
    return int(os.environ.get("PDM_SENSOR_INTERVAL_SECONDS", "") or DEFAULT_INTERVAL_SECONDS)


def build_landing_sensor(
    jobs: "Sequence[UnresolvedAssetJobDefinition]", settings: Settings | None = None
) -> dg.SensorDefinition:
    """RUNNING by default only when PDM_SOURCE=landing; otherwise start it in the UI."""
    settings = settings or load_settings()
    status = (
        dg.DefaultSensorStatus.RUNNING
        if settings.source == "landing"
        else dg.DefaultSensorStatus.STOPPED
    )

    used = {RAW_JOB, MACHINES_JOB, FEATURES_JOB, SCORES_JOB, LABELS_JOB, EVALUATION_JOB}

    @dg.sensor(
        name=LANDING_SENSOR,
        jobs=[job for job in jobs if job.name in used],
        minimum_interval_seconds=sensor_interval_seconds(),
        default_status=status,
        description=(
            "Requests raw runs for complete days in the CSV landing zone (all four "
            "<table>/<YYYY-MM-DD>.csv files, final names only) and, for days that are not the "
            "newest, the affected downstream partitions phase by phase. A changed file "
            "(size or mtime) re-runs its day."
        ),
    )
    def landing_zone_sensor(
        context: dg.SensorEvaluationContext, raw_source: RawDataSource
    ) -> dg.SensorResult:
        if raw_source.kind != "landing":
            return dg.SensorResult(
                skip_reason=f"raw_source is {raw_source.kind!r}, not 'landing' (PDM_SOURCE)",
                cursor=context.cursor,
            )
        return evaluate_landing_zone(
            context.instance,
            raw_source.landing_dir,
            context.cursor,
            load_settings(),
            context.log.info,
        )

    return landing_zone_sensor


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


def automation_definitions(settings: Settings | None = None) -> dict[str, Any]:
    """``jobs``, ``schedules``, ``sensors`` and ``executor`` for ``dg.Definitions(**...)``.

    The executor is in-process: runs launched by sensors, schedules and automation would
    otherwise start one process, and so one Spark JVM, per step (each asset check included),
    which costs more than the steps themselves on a small machine.
    """
    jobs = build_jobs()
    return {
        "jobs": jobs,
        "schedules": build_schedules(jobs),
        "sensors": [build_landing_sensor(jobs, settings), build_automation_sensor()],
        "executor": dg.in_process_executor,
    }
