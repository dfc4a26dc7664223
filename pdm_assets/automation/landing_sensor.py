"""The landing-zone sensor: complete days of CSV files in, phased run requests out.

A tick is the plain function ``evaluate_landing_zone`` (files -> plan -> cursor); the sensor
definition only binds it to the ``raw_source`` resource.

No ``from __future__ import annotations`` here: Dagster reads the sensor's parameter annotations
at decoration time.
"""

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from pdm_assets import landing, schemas
from pdm_assets.automation.conditions import sensor_interval_seconds
from pdm_assets.automation.jobs import (
    EVALUATION_JOB,
    FEATURES_JOB,
    LABELS_JOB,
    MACHINES_JOB,
    MODEL_JOB,
    RAW_ASSETS,
    RAW_JOB,
    SCORES_JOB,
)
from pdm_assets.automation.landing_cursor import Chain, LandingCursor, chain_id
from pdm_assets.automation.landing_plan import CHAIN_TAG, STEP_TAG, PlanInputs, plan_phases
from pdm_assets.partitions import DEFAULT_HISTORY_MONTHS, daily_partitions, label_partitions
from pdm_assets.resources.sources import RawDataSource
from pdm_assets.settings import Settings, load_settings

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

LANDING_SENSOR = "landing_zone_sensor"
MACHINES_ENTRY = "machines"


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
    """Days with all four final ``.csv`` files (``.tmp`` files are still being written), or with
    hours of the open day landed for all four tables.

    The fingerprint of a day is one short hash per table (``telemetry=…,errors=…``), so a
    corrected day says which of its files changed: a corrected maintenance file re-flows to the
    newest day, a corrected telemetry file only through its 7-day windows. A new hour of the open
    day changes all four, and re-runs the day like any newest day.
    """
    tables = list(schemas.DAILY_TABLES)
    days = set(landing.landed_days(landing_dir, tables[0]))
    for table in tables[1:]:
        days &= set(landing.landed_days(landing_dir, table))
    out = {}
    for day in sorted(days):
        parts, newest = [], 0
        for table in tables:
            files = landing.day_files(landing_dir, table, day)
            fp = fingerprint(files) if files else None
            if fp is None:
                break
            parts.append(f"{table}={fp[0][:10]}")
            newest = max(newest, fp[1])
        else:
            out[day] = (",".join(parts), newest)
    return out


def tables_changed(old: str | None, new: str) -> frozenset[str]:
    """The tables whose files differ between two day fingerprints; all of them if ``old`` is
    missing or in the older one-hash-per-day form."""
    new_parts = dict(part.split("=", 1) for part in new.split(","))
    if not old or "=" not in old:
        return frozenset(new_parts)
    old_parts = dict(part.split("=", 1) for part in old.split(","))
    return frozenset(t for t, h in new_parts.items() if old_parts.get(t) != h)


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
        history_months=DEFAULT_HISTORY_MONTHS,
        first_day=s.start,
        daily_last=date.fromisoformat(daily_partitions().get_last_partition_key()),
        label_last=date.fromisoformat(label_partitions().get_last_partition_key()),
        horizon_hours=s.horizon_hours,
        landed=frozenset(landed),
        models=frozenset(instance.get_materialized_partitions(dg.AssetKey("failure_model"))),
        features=_materialized_days(instance, "machine_features"),
        scores=_materialized_days(instance, "failure_scores"),
        labels=_materialized_days(instance, "failure_labels"),
        automated_days=2 if s.open_day else 1,
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
        which = {
            d: tables_changed(cursor.files.get(d.isoformat()), fp[0]) for d, fp in changed.items()
        }
        phases = plan_phases(which, machines_changed, inputs)
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

    used = {
        RAW_JOB,
        MACHINES_JOB,
        FEATURES_JOB,
        SCORES_JOB,
        LABELS_JOB,
        MODEL_JOB,
        EVALUATION_JOB,
    }

    @dg.sensor(
        name=LANDING_SENSOR,
        jobs=[job for job in jobs if job.name in used],
        minimum_interval_seconds=sensor_interval_seconds(),
        default_status=status,
        description=(
            "Requests raw runs for complete days in the CSV landing zone (all four "
            "<table>/<YYYY-MM-DD>.csv files, final names only), and for each new hour of the "
            "open day (<table>/<YYYY-MM-DD>/<HH>.csv, PDM_OPEN_DAY) and, for days that are not the "
            "newest, re-flows what the changed files make stale (a maintenance record or the "
            "inventory to the newest day; telemetry, errors, failures through their windows; "
            "retrained models' days) phase by phase, one run per job and contiguous range. A "
            "changed file (size or mtime) re-runs its day."
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
