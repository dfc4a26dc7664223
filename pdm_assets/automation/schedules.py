"""Schedules, both STOPPED by default: daily scoring (simulator source) and the monthly model."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import dagster as dg

from pdm_assets.automation.jobs import DAILY_SCORING_JOB, MODEL_JOB

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )


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
        _daily_scoring_schedule(by_name[DAILY_SCORING_JOB]),
        dg.build_schedule_from_partitioned_job(
            by_name[MODEL_JOB],
            name="monthly_model_schedule",
            day_of_month=2,
            hour_of_day=3,
            description="Retrain the current month's failure model. Off by default.",
        ),
    ]


def _daily_scoring_schedule(job: "UnresolvedAssetJobDefinition") -> dg.ScheduleDefinition:
    """The day before the tick, named explicitly: with PDM_OPEN_DAY the newest partition is
    today, still open, which the schedule must not close as if it were complete."""

    @dg.schedule(
        job=job,
        name="daily_scoring_schedule",
        cron_schedule="0 1 * * *",
        execution_timezone="UTC",
        description="Simulate and score yesterday (PDM_SOURCE=simulator). Off by default.",
    )
    def daily_scoring_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        tick = context.scheduled_execution_time or datetime.now(UTC)
        day = (tick.astimezone(UTC) - timedelta(days=1)).date().isoformat()
        return dg.RunRequest(run_key=day, partition_key=day)

    return daily_scoring_schedule
