"""Jobs, schedules, the landing-zone sensor and the declarative automation of the assets.

Who moves which partition (see docs/operating.md), and where each lives:

* ``jobs.py``: the asset groups and the jobs over them (one partitions definition per job);
* ``landing_sensor.py`` (``landing_zone_sensor``) turns complete days of CSV files into raw
  runs; for days that are not the newest partition (late deliveries, backlogs, corrections) it
  also re-flows exactly the partitions the changed files make stale, to the newest day where the
  change reaches, phase by phase (``landing_plan.py``; its cursor in ``landing_cursor.py``),
  because automation only ever looks at the newest partition;
* ``conditions.py``: automation conditions (``with_automation``) let every daily asset below the
  raw tables follow its inputs for the newest partition, and the sensor that evaluates them;
* ``schedules.py``, off by default: ``daily_scoring_schedule`` simulates and scores yesterday
  with the simulator source, ``monthly_model_schedule`` retrains the current month's model. The
  model is never retrained per day by automation.
"""

from typing import Any

import dagster as dg

from pdm_assets.automation.conditions import (
    AUTOMATION_SENSOR,
    automation_conditions,
    automation_sensor_enabled,
    build_automation_sensor,
    follow_inputs,
    sensor_interval_seconds,
    with_automation,
)
from pdm_assets.automation.jobs import (
    AUTOMATED_ASSETS,
    DAILY_SCORING_JOB,
    EVALUATION_ASSETS,
    EVALUATION_JOB,
    FEATURE_ASSETS,
    FEATURES_JOB,
    JOB_ASSETS,
    LABEL_ASSETS,
    LABELS_JOB,
    MACHINES_JOB,
    MODEL_ASSETS,
    MODEL_JOB,
    RAW_ASSETS,
    RAW_JOB,
    SCORE_ASSETS,
    SCORES_JOB,
    build_jobs,
)
from pdm_assets.automation.landing_cursor import Chain, LandingCursor
from pdm_assets.automation.landing_plan import (
    CHAIN_TAG,
    STEP_TAG,
    PlanInputs,
    Reflow,
    Step,
    plan_phases,
    reflow,
)
from pdm_assets.automation.landing_sensor import (
    LANDING_SENSOR,
    build_landing_sensor,
    evaluate_landing_zone,
)
from pdm_assets.automation.schedules import build_schedules
from pdm_assets.settings import Settings

__all__ = [
    "AUTOMATED_ASSETS",
    "AUTOMATION_SENSOR",
    "CHAIN_TAG",
    "DAILY_SCORING_JOB",
    "EVALUATION_ASSETS",
    "EVALUATION_JOB",
    "FEATURES_JOB",
    "FEATURE_ASSETS",
    "JOB_ASSETS",
    "LABELS_JOB",
    "LABEL_ASSETS",
    "LANDING_SENSOR",
    "MACHINES_JOB",
    "MODEL_ASSETS",
    "MODEL_JOB",
    "RAW_ASSETS",
    "RAW_JOB",
    "SCORES_JOB",
    "SCORE_ASSETS",
    "STEP_TAG",
    "Chain",
    "LandingCursor",
    "PlanInputs",
    "Reflow",
    "Step",
    "automation_conditions",
    "automation_definitions",
    "automation_sensor_enabled",
    "build_automation_sensor",
    "build_jobs",
    "build_landing_sensor",
    "build_schedules",
    "evaluate_landing_zone",
    "follow_inputs",
    "plan_phases",
    "reflow",
    "sensor_interval_seconds",
    "with_automation",
]


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
