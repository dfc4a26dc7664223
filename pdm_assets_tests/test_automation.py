"""The landing-zone sensor, the automation conditions and the schedules, without Spark.

Everything is dated relative to today: the newest daily partition is yesterday, and automation
only ever considers the newest partitions.
"""

import json
import os
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test

from pdm_assets import automation as auto
from pdm_assets import schemas
from pdm_assets.definitions import defs
from pdm_assets.landing import day_path, hour_path, machines_path
from pdm_assets.partitions import (
    DEFAULT_HISTORY_MONTHS,
    FEATURE_LOOKBACK_DAYS,
    RANGE_END_TAG,
    RANGE_START_TAG,
    model_partition_for_day,
    training_window,
)
from pdm_assets.resources.sources import RawDataSource
from pdm_assets.settings import load_settings


def evaluate_conditions(**kwargs):
    """evaluate_automation_conditions in a worker thread: it calls asyncio.run, which refuses to
    run where another library (e.g. Playwright's sync API) left an event loop in this thread."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(dg.evaluate_automation_conditions, **kwargs).result()


def day(n: int) -> date:
    """Y - n days, Y being the newest daily partition (yesterday, read now: a suite may run past
    midnight UTC, and the partitions and sensors move with the clock)."""
    return datetime.now(UTC).date() - timedelta(days=n + 1)


class Landing:
    """A tmp landing zone written with the write-then-rename convention (headers suffice: the
    sensor only looks at names, sizes and mtimes)."""

    def __init__(self, root: Path):
        self.root = root
        self.write(machines_path(root), "machineID,model,age\n1,model3,18\n")

    @staticmethod
    def write(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)

    def land(self, d: date, tables=tuple(schemas.DAILY_TABLES), extra: str = "") -> None:
        for table in tables:
            header = ",".join(schemas.ALL_TABLES[table].column_names)
            self.write(day_path(self.root, table, d), header + "\n" + extra)

    def land_hour(self, d: date, hour: int, tables=tuple(schemas.DAILY_TABLES)) -> None:
        for table in tables:
            header = ",".join(schemas.ALL_TABLES[table].column_names)
            self.write(hour_path(self.root, table, d, hour), header + "\n")


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture
def zone(tmp_path, instance):
    """A landing zone whose inventory is already ingested (the usual state of a deployment)."""
    landing = Landing(tmp_path / "landing")
    instance.report_runless_asset_event(dg.AssetMaterialization("machines"))
    return landing


def tick(instance, zone, cursor=None) -> dg.SensorResult:
    sensor = defs.resolve_sensor_def(auto.LANDING_SENSOR)
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"raw_source": RawDataSource(kind="landing", landing_dir=str(zone.root))},
        definitions=defs,
    )
    result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def summary(result: dg.SensorResult) -> list[tuple[str, str | None, str | None]]:
    """(job, first, last) per run request."""
    out = []
    for r in result.run_requests or []:
        first = r.tags.get(RANGE_START_TAG, r.partition_key)
        last = r.tags.get(RANGE_END_TAG, r.partition_key)
        out.append((r.job_name, first, last))
    return sorted(out, key=lambda x: (x[0], x[1] or ""))


def iso(n: int) -> str:
    return day(n).isoformat()


def retrained(months: set[str], changed: list[date]) -> list[str]:
    """The model months whose training window holds a changed day: the chain retrains them
    before rescoring. Whether there is one depends on today's date (the newest month's window
    reaches back from its first day), so the tests ask rather than assume none."""
    settings = load_settings()
    out = []
    for month in sorted(months):
        window = training_window(
            datetime.combine(date.fromisoformat(month), time()),
            settings.start,
            settings.horizon_hours,
            DEFAULT_HISTORY_MONTHS,
        )
        if any(window.first_day <= d <= window.last_day for d in changed):
            out.append(month)
    return out


def succeed(instance, result: dg.SensorResult) -> None:
    """Record the requested runs as succeeded, as the daemon would after running them."""
    for r in result.run_requests:
        create_run_for_test(
            instance,
            job_name=r.job_name,
            status=dg.DagsterRunStatus.SUCCESS,
            tags={**r.tags, "dagster/run_key": r.run_key},
        )


def materialized(instance, asset: str, keys) -> None:
    for key in keys:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset, partition=key))


# --- the landing-zone sensor ---------------------------------------------------------------------
def test_a_new_day_requests_its_raw_partition_once(instance, zone):
    zone.land(day(0))
    first = tick(instance, zone)
    assert summary(first) == [("raw_job", iso(0), iso(0))]
    (request,) = first.run_requests
    fp = json.loads(first.cursor)["files"][iso(0)]
    assert fp in request.run_key or request.tags[auto.CHAIN_TAG] in request.run_key
    assert request.partition_key == iso(0)
    # The newest day's downstream belongs to automation: nothing else is queued.
    assert json.loads(first.cursor)["chains"] == []

    # A restarted sensor resumes from the stored cursor and requests nothing twice.
    again = tick(instance, zone, first.cursor)
    assert again.run_requests == [] and "no new" in again.skip_reason.skip_message
    assert again.cursor == first.cursor


def test_two_days_at_once_are_one_ranged_run_then_the_older_days_downstream(instance, zone):
    # ingested: the 7-day feature window of Y-3 (the oldest day re-featured below) is all there
    history = tuple(range(2, 3 + FEATURE_LOOKBACK_DAYS + 1))
    for n in history:
        zone.land(day(n))
    for asset in auto.RAW_ASSETS:
        materialized(instance, asset, [iso(n) for n in history])
    zone.land(day(1))
    zone.land(day(0))
    first = tick(instance, zone)
    assert summary(first) == [("raw_job", iso(1), iso(0))]
    (request,) = first.run_requests
    assert request.partition_key is None  # a single run over the range, not two runs
    # Y-1 is not the newest partition: automation will not build it, so the sensor queues it.
    waiting = tick(instance, zone, first.cursor)
    assert waiting.run_requests == []
    assert "waiting for" in waiting.skip_reason.skip_message
    # While that chain is in flight, changed files wait (its replacement state comes first).
    zone.land(day(3), tables=("errors",), extra=f"{iso(3)} 06:00:00,1,error1\n")
    assert tick(instance, zone, waiting.cursor).run_requests == []
    succeed(instance, first)
    second = tick(instance, zone, waiting.cursor)
    # The chain runs through the newest day: it does not depend on automation being on.
    assert summary(second) == [("features_job", iso(1), iso(0))]
    succeed(instance, second)
    late = tick(instance, zone, second.cursor)  # the chain is done: Y-3 is picked up now
    assert summary(late) == [("raw_job", iso(3), iso(3))]
    succeed(instance, late)
    refeatured = tick(instance, zone, late.cursor)
    # Only the errors file changed: its 7-day error history reaches D..D+7, here the newest day.
    assert summary(refeatured) == [("features_job", iso(3), iso(0))]


def test_features_wait_for_their_telemetry_window():
    """Features of a day need its 7-day telemetry window landed: a backlog may be arriving."""
    p = auto.PlanInputs(
        first_day=date(2026, 1, 1),
        daily_last=date(2026, 3, 10),
        label_last=date(2026, 3, 8),
        horizon_hours=48,
        landed=frozenset(date(2026, 2, 20) + timedelta(days=i) for i in range(15)),
        models=frozenset(),
        features=frozenset(),
        scores=frozenset(),
        labels=frozenset(),
    )
    phases = auto.plan_phases([date(2026, 3, 3)], False, p)
    # Landed 02-20..03-06: 03-03 reads 02-24..03-03, ..., 03-06 reads 02-27..03-06: all there;
    # 03-07 is not landed yet.
    assert [(s.job, s.first, s.last) for s in phases[1]] == [
        ("features_job", "2026-03-03", "2026-03-06")
    ]
    gap = auto.PlanInputs(**{**vars(p), "landed": p.landed - {date(2026, 3, 4)}})
    phases = auto.plan_phases([date(2026, 3, 3)], False, gap)
    assert [(s.job, s.first, s.last) for s in phases[1]] == [
        ("features_job", "2026-03-03", "2026-03-03")
    ]


def test_half_written_days_are_not_requested(instance, zone):
    # One table still being written (.tmp), another not delivered at all.
    for table in ("errors", "maintenance", "failures"):
        zone.land(day(1), tables=(table,))
    tmp = day_path(zone.root, "telemetry", day(1)).with_suffix(".csv.tmp")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text("half a file")
    zone.land(day(0), tables=("telemetry", "errors", "maintenance"))
    result = tick(instance, zone)
    assert result.run_requests == []
    assert set(json.loads(result.cursor)["files"]) == {"machines"}  # no day recorded

    os.replace(tmp, tmp.with_suffix(""))  # the rename makes the day final
    zone.land(day(0), tables=("failures",))
    done = tick(instance, zone, result.cursor)
    assert summary(done) == [("raw_job", iso(1), iso(0))]


def test_days_without_machines_inventory_wait(instance, zone):
    machines_path(zone.root).unlink()
    zone.land(day(0))
    result = tick(instance, zone)
    assert result.run_requests == [] and "machines.csv" in result.skip_reason.skip_message


def test_already_ingested_days_are_adopted_not_rerun(instance, zone):
    for n in range(3):
        zone.land(day(n))
    for asset in auto.RAW_ASSETS:
        materialized(instance, asset, [iso(n) for n in (1, 2)])
    result = tick(instance, zone)
    assert summary(result) == [("raw_job", iso(0), iso(0))]
    assert set(json.loads(result.cursor)["files"]) == {iso(0), iso(1), iso(2), "machines"}


def test_a_corrected_old_day_reruns_raw_then_its_downstream_window(instance, zone):
    for n in range(12):
        zone.land(day(n))
    ingested = [iso(n) for n in range(12)]
    for asset in auto.RAW_ASSETS:
        materialized(instance, asset, ingested)
    for asset in ("component_replacements", "machine_features", *auto.SCORE_ASSETS):
        materialized(instance, asset, ingested)
    materialized(instance, "failure_labels", [iso(n) for n in range(2, 12)])
    d = 5  # correct Y-5: a late failure record, which changes the labels of Y-7 .. Y-5
    months = {model_partition_for_day(day(n), load_settings().horizon_hours) for n in range(12)}
    # Only models that did not train on those labels are stored: this test follows the labels
    # path. Whether the newest month's window holds them depends on today's date; retraining is
    # test_reflow_plan's and the re-flow scenario's.
    months -= set(retrained(months, [day(d + 2), day(d + 1), day(d)]))
    materialized(instance, "failure_model", sorted(months))
    baseline = tick(instance, zone)
    assert baseline.run_requests == []  # all adopted

    zone.land(day(d), tables=("failures",), extra=f"{iso(d)} 06:00:00,1,comp2\n")
    raw = tick(instance, zone, baseline.cursor)
    assert summary(raw) == [("raw_job", iso(d), iso(d))]
    (request,) = raw.run_requests
    new_fp = json.loads(raw.cursor)["files"][iso(d)]
    assert new_fp != json.loads(baseline.cursor)["files"][iso(d)]
    assert request.tags[auto.CHAIN_TAG] in request.run_key

    succeed(instance, raw)
    # Only the failures file changed: no feature reads it, so labels D-2..D come next.
    labels = tick(instance, zone, raw.cursor)
    assert summary(labels) == [("labels_job", iso(d + 2), iso(d))]
    succeed(instance, labels)
    fourth = tick(instance, zone, labels.cursor)
    assert summary(fourth) == [("evaluation_job", iso(d + 2), iso(d))]
    succeed(instance, fourth)
    done = tick(instance, zone, fourth.cursor)
    assert done.run_requests == [] and json.loads(done.cursor)["chains"] == []


def test_a_corrected_maintenance_record_reflows_to_the_newest_day(instance, zone):
    """The day's fingerprint is per table: a changed maintenance file carries its replacement
    state into every later day, so features and scores run from D to the newest day, each in
    one run."""
    d = 8
    landed = range(d + FEATURE_LOOKBACK_DAYS + 1)  # day d's feature window is all there
    for n in landed:
        zone.land(day(n))
    ingested = [iso(n) for n in landed]
    for asset in (*auto.RAW_ASSETS, *auto.FEATURE_ASSETS, *auto.SCORE_ASSETS):
        materialized(instance, asset, ingested)
    materialized(instance, "failure_labels", ingested[2:])
    months = {model_partition_for_day(day(n), load_settings().horizon_hours) for n in landed}
    materialized(instance, "failure_model", sorted(months))
    baseline = tick(instance, zone)
    assert baseline.run_requests == []

    zone.land(day(d), tables=("maintenance",), extra=f"{iso(d)} 06:00:00,1,comp2\n")
    raw = tick(instance, zone, baseline.cursor)
    assert summary(raw) == [("raw_job", iso(d), iso(d))]
    old, new = (json.loads(c.cursor)["files"][iso(d)] for c in (baseline, raw))
    assert [p for p in new.split(",") if p not in old.split(",")][0].startswith("maintenance=")
    succeed(instance, raw)
    features = tick(instance, zone, raw.cursor)
    assert summary(features) == [("features_job", iso(d), iso(0))]
    (request,) = features.run_requests
    assert request.partition_key is None  # one run over the range
    succeed(instance, features)
    scores = tick(instance, zone, features.cursor)
    models = retrained(months, [day(n) for n in range(d + 1)])
    oldest = d
    if models:  # a stored model trained on the changed features: retrain it first
        assert summary(scores) == [("model_job", m, m) for m in models]
        succeed(instance, scores)
        scores = tick(instance, zone, scores.cursor)
        horizon = load_settings().horizon_hours
        # Every day a retrained model scores is rescored too, also before D.
        oldest = max(
            n for n in landed if model_partition_for_day(day(n), horizon) in models or n <= d
        )
    assert summary(scores) == [("scores_job", iso(oldest), iso(0))]  # labels unchanged: none


def test_a_failed_phase_stops_its_chain(instance, zone):
    zone.land(day(1))
    zone.land(day(0))
    first = tick(instance, zone)
    for r in first.run_requests:
        create_run_for_test(
            instance, job_name=r.job_name, status=dg.DagsterRunStatus.FAILURE, tags=r.tags
        )
    after = tick(instance, zone, first.cursor)
    assert after.run_requests == [] and json.loads(after.cursor)["chains"] == []


def test_newest_day_correction_is_left_to_automation(instance, zone):
    zone.land(day(0))
    first = tick(instance, zone)
    zone.land(day(0), tables=("errors",), extra=f"{iso(0)} 06:00:00,1,error1\n")
    second = tick(instance, zone, first.cursor)
    assert summary(second) == [("raw_job", iso(0), iso(0))]
    assert second.run_requests[0].run_key != first.run_requests[0].run_key
    assert json.loads(second.cursor)["chains"] == []


def test_each_hour_of_the_open_day_reruns_its_raw_partition_when_every_table_has_it(instance, zone):
    for hour in range(3):
        zone.land_hour(day(0), hour)
    first = tick(instance, zone)
    assert summary(first) == [("raw_job", iso(0), iso(0))]
    # Hour 3 of telemetry alone is not an hour landed: nothing to do yet.
    zone.land_hour(day(0), 3, tables=("telemetry",))
    waiting = tick(instance, zone, first.cursor)
    assert waiting.run_requests == [] and waiting.cursor == first.cursor
    # Once every table has it, the newest day is re-run, raw only (automation follows).
    zone.land_hour(day(0), 3, tables=("errors", "maintenance", "failures"))
    second = tick(instance, zone, first.cursor)
    assert summary(second) == [("raw_job", iso(0), iso(0))]
    assert second.run_requests[0].run_key != first.run_requests[0].run_key
    assert json.loads(second.cursor)["chains"] == []


def test_a_new_or_changed_inventory_refreshes_machines(instance, tmp_path):
    zone = Landing(tmp_path / "fresh")  # machines.csv never ingested
    zone.land(day(0))
    first = tick(instance, zone)
    assert summary(first) == [("machines_job", None, None), ("raw_job", iso(0), iso(0))]
    zone.write(machines_path(zone.root), "machineID,model,age\n1,model3,18\n2,model4,7\n")
    second = tick(instance, zone, first.cursor)
    assert summary(second) == [("machines_job", None, None)]


def test_plan_clamps_to_existing_partitions_and_skips_unscorable_days():
    p = auto.PlanInputs(
        first_day=date(2026, 1, 1),
        daily_last=date(2026, 3, 10),
        label_last=date(2026, 3, 8),
        horizon_hours=48,
        landed=frozenset(date(2026, 1, 1) + timedelta(days=i) for i in range(69)),
        models=frozenset(),  # no model yet: nothing can be scored
        features=frozenset(),
        scores=frozenset(),
        labels=frozenset(),
    )
    phases = auto.plan_phases([date(2026, 1, 1), date(2026, 3, 9)], False, p)
    as_tuples = [[(s.job, s.first, s.last) for s in phase] for phase in phases]
    assert as_tuples == [
        [("raw_job", "2026-01-01", "2026-01-01"), ("raw_job", "2026-03-09", "2026-03-09")],
        # the maintenance of 01-01 is carried to the newest day, in one run; nothing before
        # the first partition
        [("features_job", "2026-01-01", "2026-03-10")],
        # new feature grids get labels up to the newest label partition (03-08)
        [("labels_job", "2026-01-01", "2026-03-08")],
    ]


# --- declarative automation ----------------------------------------------------------------------
def test_a_new_raw_day_makes_automation_request_its_downstream_but_not_the_model(instance):
    history = [iso(n) for n in range(1, FEATURE_LOOKBACK_DAYS + 3)]  # Y's window, and more
    instance.report_runless_asset_event(dg.AssetMaterialization("machines"))
    for asset in (*auto.RAW_ASSETS, *auto.FEATURE_ASSETS, *auto.SCORE_ASSETS):
        materialized(instance, asset, history)
    materialized(instance, "failure_labels", history[2:])
    materialized(instance, "score_evaluation", history[2:])
    materialized(instance, "failure_model", [model_partition_for_day(day(0), 48)])

    quiet = evaluate_conditions(defs=defs, instance=instance)
    assert quiet.total_requested == 0
    for asset in auto.RAW_ASSETS:
        materialized(instance, asset, [iso(0)])
    result = evaluate_conditions(defs=defs, instance=instance, cursor=quiet.cursor)

    def requested(asset):
        return result.get_requested_partitions(dg.AssetKey(asset))

    for asset in (*auto.FEATURE_ASSETS, *auto.SCORE_ASSETS):
        assert requested(asset) == {iso(0)}, asset
    # Labels and evaluation partitions end a horizon earlier: Y's failures complete Y-2.
    assert requested("failure_labels") == {iso(2)}
    assert requested("score_evaluation") == {iso(2)}
    assert requested("failure_model") == set()
    assert result.total_requested == 6

    for asset in (*auto.FEATURE_ASSETS, *auto.SCORE_ASSETS):
        materialized(instance, asset, [iso(0)])
    materialized(instance, "failure_labels", [iso(2)])
    materialized(instance, "score_evaluation", [iso(2)])
    settled = evaluate_conditions(defs=defs, instance=instance, cursor=result.cursor)
    assert settled.total_requested == 0


def test_an_old_raw_day_is_ignored_by_automation(instance):
    old = FEATURE_LOOKBACK_DAYS + 1  # outside the newest day's 7-day window
    history = [iso(n) for n in range(0, old + 3)]
    instance.report_runless_asset_event(dg.AssetMaterialization("machines"))
    for asset in (*auto.RAW_ASSETS, *auto.FEATURE_ASSETS):
        materialized(instance, asset, history)
    quiet = evaluate_conditions(defs=defs, instance=instance)
    for asset in auto.RAW_ASSETS:
        materialized(instance, asset, [iso(old)])
    result = evaluate_conditions(defs=defs, instance=instance, cursor=quiet.cursor)
    assert result.get_requested_partitions(dg.AssetKey("machine_features")) == set()


def test_model_has_no_automation_condition_and_followers_do():
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey("failure_model")).automation_condition is None
    for name in auto.RAW_ASSETS:
        assert graph.get(dg.AssetKey(name)).automation_condition is None
    for name in auto.AUTOMATED_ASSETS:
        assert graph.get(dg.AssetKey(name)).automation_condition is not None, name


# --- schedules and default statuses --------------------------------------------------------------
def test_daily_schedule_scores_yesterday_and_model_schedule_the_current_month():
    daily = defs.resolve_schedule_def("daily_scoring_schedule")
    monthly = defs.resolve_schedule_def("monthly_model_schedule")
    assert daily.default_status == dg.DefaultScheduleStatus.STOPPED
    assert monthly.default_status == dg.DefaultScheduleStatus.STOPPED
    at = datetime.combine(day(-1), datetime.min.time(), tzinfo=UTC) + timedelta(hours=1)
    with dg.instance_for_test() as inst:
        repository = defs.get_repository_def()
        ctx = dg.build_schedule_context(
            instance=inst, scheduled_execution_time=at, repository_def=repository
        )
        (request,) = daily.evaluate_tick(ctx).run_requests
        assert request.partition_key == iso(0)
        month_start = datetime(2026, 12, 2, 3, tzinfo=UTC)
        ctx = dg.build_schedule_context(instance=inst, scheduled_execution_time=month_start)
        (request,) = monthly.evaluate_tick(ctx).run_requests
        assert request.partition_key == "2026-12-01"
    assert monthly.cron_schedule == "0 3 2 * *"


def test_landing_sensor_runs_by_default_only_for_the_landing_source(monkeypatch):
    jobs = auto.build_jobs()
    monkeypatch.setenv("PDM_SOURCE", "landing")
    assert auto.build_landing_sensor(jobs).default_status == dg.DefaultSensorStatus.RUNNING
    monkeypatch.setenv("PDM_SOURCE", "simulator")
    assert auto.build_landing_sensor(jobs).default_status == dg.DefaultSensorStatus.STOPPED
    monkeypatch.setenv("PDM_AUTOMATION", "off")
    assert auto.build_automation_sensor().default_status == dg.DefaultSensorStatus.STOPPED


def test_jobs_never_mix_partitions_definitions():
    for name in auto.JOB_ASSETS:
        job = defs.resolve_job_def(name)
        assert job.name == name  # resolving fails if a job mixed partitions definitions


# --- the CLI helpers for watching it work ---------------------------------------------------------
def test_alerts_cli_shows_the_newest_stored_partition_without_spark(tmp_path, capsys):
    import pandas as pd

    from pdm_assets.cli import main

    table = tmp_path / "tables" / "maintenance_alerts"
    for key, machine in ((iso(1), 7), (iso(0), 3)):
        folder = table / f"dt={key}"
        folder.mkdir(parents=True)
        pd.DataFrame(
            {
                "datetime": [pd.Timestamp(f"{key} 12:00:00")],
                "machineID": [machine],
                "rank": [1],
                "risk": [0.91],
                "component": ["comp2"],
                "explanation": ["vibration_mean_24h high"],
            }
        ).to_parquet(folder / "part-0.parquet")
    assert main(["alerts", "--tables-root", str(tmp_path / "tables")]) == 0
    out = capsys.readouterr().out
    assert f"maintenance alerts for {iso(0)}" in out and "machine    3" in out
    assert main(["alerts", "--tables-root", str(tmp_path / "tables"), "--day", iso(1)]) == 0
    assert "machine    7" in capsys.readouterr().out
    assert main(["alerts", "--tables-root", str(tmp_path / "tables"), "--day", iso(5)]) == 1


def test_land_yesterday_writes_one_complete_day_and_leaves_landed_days_alone(tmp_path, capsys):
    from pdm_assets.cli import main

    root = tmp_path / "landing"
    args = ["land", "--yesterday", "--machines", "2", "--landing-dir", str(root)]
    assert main(args) == 0
    assert machines_path(root).is_file()
    paths = [day_path(root, t, day(0)) for t in schemas.DAILY_TABLES]
    assert all(p.is_file() for p in paths)
    mtimes = [p.stat().st_mtime_ns for p in paths]
    assert main(args) == 0  # a second call must not look like a correction to the sensor
    assert "already landed" in capsys.readouterr().out
    assert [p.stat().st_mtime_ns for p in paths] == mtimes
