"""The open day: how long one new hour takes from its landing files to published alerts.

    .venv/bin/python benchmarks/open_day.py --machines 1000

Lands a fleet's recent history as daily files and the open day hour by hour (``PDM_OPEN_DAY``,
with a fixed ``PDM_END_DATE`` as the open day so the run is reproducible), builds the history and
a small model, refreshes the open day through hour 11, then lands hour 12 and times its refresh:
raw (the landing sensor's run), then replacement state and features, then scores and alerts
(automation's runs). The runs are in one process here; a daemon launches each in its own process,
which adds a Python and JVM start per run. Target: one hour for 1,000 machines in <= 30 s.
"""

import argparse
import os
from datetime import date, timedelta

from harness import Bench

RAW = ["raw_telemetry", "raw_errors", "raw_maintenance", "raw_failures"]
FEATURES = ["component_replacements", "machine_features"]
SCORES = ["failure_scores", "maintenance_alerts"]
OPEN_DAY = date(2015, 2, 10)
HISTORY_DAYS = 25  # enough for the February model's 7-day hold-out
SMALL_MODEL = {
    "ops": {"failure_model": {"config": {"num_trees": 10, "max_depth": 5, "holdout_days": 7}}}
}
FIRST_HOURS = 12  # the open day holds hours 00..11 before the timed hour


def refresh(bench: Bench, label: str) -> float:
    day = OPEN_DAY.isoformat()
    seconds = sum(
        bench.run(f"{label}: {name}", assets, day)[0]
        for name, assets in (("raw", RAW), ("features", FEATURES), ("scores", SCORES))
    )
    print(f"{label}: {seconds:.1f} s")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=1000)
    args = parser.parse_args()
    start = OPEN_DAY - timedelta(days=HISTORY_DAYS)
    env = {
        "PDM_SOURCE": "landing",
        "PDM_OPEN_DAY": "1",
        "PDM_START_DATE": start.isoformat(),
        "PDM_END_DATE": OPEN_DAY.isoformat(),
    }
    bench = Bench(args.machines, env=env)
    landing_dir = os.path.join(bench.data_dir, "landing")
    os.environ["PDM_LANDING_DIR"] = landing_dir

    from pdm_assets.landing import land_simulated_days, land_simulated_hours
    from pdm_assets.partitions import label_partitions
    from pdm_assets.settings import load_settings
    from pdm_assets.simulator import FleetSimulator

    s = load_settings()
    sim = FleetSimulator(n_machines=args.machines, seed=s.seed, history_start=s.history_start_date)
    land_simulated_days(landing_dir, sim, start, OPEN_DAY)
    land_simulated_hours(landing_dir, sim, OPEN_DAY, range(FIRST_HOURS))
    print(f"{args.machines} machines, history {start} .. {OPEN_DAY - timedelta(days=1)}, open day")
    bench.run("machines", ["machines"])
    history_last = (OPEN_DAY - timedelta(days=1)).isoformat()
    bench.run("history: raw", RAW, start.isoformat(), history_last)
    bench.run("history: features", FEATURES, start.isoformat(), history_last)
    label_last = label_partitions().get_last_partition_key()
    bench.run("history: labels", ["failure_labels"], start.isoformat(), label_last)
    month = OPEN_DAY.replace(day=1).isoformat()
    bench.run("model", ["failure_model"], partition_key=month, run_config=SMALL_MODEL)

    warm = refresh(bench, f"open day through {FIRST_HOURS - 1:02d}:00")
    land_simulated_hours(landing_dir, sim, OPEN_DAY, range(FIRST_HOURS, FIRST_HOURS + 1))
    hour = refresh(bench, f"one new hour ({FIRST_HOURS:02d}:00)")
    print(f"\none open-day hour for {args.machines} machines: {hour:.1f} s (target <= 30 s)")
    bench.finish(
        machines=args.machines,
        open_day_first_refresh_seconds=round(warm, 2),
        open_day_hour_seconds=round(hour, 2),
    )


if __name__ == "__main__":
    main()
