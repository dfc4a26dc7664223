"""The reference approach against this platform, stage by stage, on the same simulated data.

    .venv/bin/python benchmarks/compare.py            # 20 x 90 and 1,000 x 90 (machines x days)
    .venv/bin/python benchmarks/compare.py --full     # also 1,000 x 365
    .venv/bin/python benchmarks/compare.py --quick    # a tiny size, for the test suite
    .venv/bin/python benchmarks/compare.py --sizes 20x90 --trees 50
    .venv/bin/python benchmarks/compare.py --platform-forest 60x10   # the platform's own forest

Each side runs in its own process (its own Python and JVM, so memory peaks are its own), one
after the other, in this one invocation: the reference (``reference_baseline.py``, one PySpark
script, a full recompute) and the platform through Dagster (single-run backfills with
``dg.materialize`` in one process, the simulator as source). Both fit the same forest
(``--trees``/``--depth``, default the reference's 200/15), train the model of the last month on
the days before it and score that month's days from its 4th on (earlier days are scored by the
previous month's model). Prints per stage the seconds of each side, the ratio (reference /
platform: above 1 the platform is faster), and peak Python (driver) and JVM resident memory, then
one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

STAGES = ("ingest", "features+labels", "training", "scoring", "end to end")
SIDES = ("reference", "platform")
DEFAULT_SIZES = ((20, 90), (1000, 90))
FULL_SIZE = (1000, 365)
QUICK_SIZE = (2, 35)
QUICK_FOREST = (5, 5)
FOREST_HEAP = "spark.driver.memory=4g"
FIRST_DAY = date(2015, 1, 1)
HISTORY_START = date(2014, 1, 1)
RESULT_PREFIX = "COMPARE_SIDE "
FIELDS = (
    "reference_s",
    "platform_s",
    "ratio",
    "reference_python_peak_mb",
    "reference_jvm_peak_mb",
    "platform_python_peak_mb",
    "platform_jvm_peak_mb",
)


# --- plan -----------------------------------------------------------------------------------------
def plan(days: int) -> dict[str, date]:
    """The days both sides work on: the model of the last month, scoring its days from the 4th."""
    last = FIRST_DAY + timedelta(days=days - 1)
    model_month = (last - timedelta(days=3)).replace(day=1)
    return {
        "first": FIRST_DAY,
        "last": last,
        "label_last": last - timedelta(days=2),
        "model_month": model_month,
        "score_first": model_month + timedelta(days=3),
    }


# --- memory ---------------------------------------------------------------------------------------
def _rss_mb(pid: int | str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _java_children(pid: int) -> list[str]:
    """Java processes started by this one (the local Spark driver JVM)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == pid and name == "java":
            found.append(entry)
    return found


class MemorySampler:
    """Polls resident memory of this process and its JVM; peaks per stage."""

    def __init__(self, interval: float = 0.1):
        self.interval = interval
        self.python_peak = 0.0
        self.jvm_peak = 0.0
        self._jvms: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        me = os.getpid()
        while not self._stop.wait(self.interval):
            self.python_peak = max(self.python_peak, _rss_mb(me))
            if not self._jvms:
                self._jvms = _java_children(me)
            self.jvm_peak = max(self.jvm_peak, sum(_rss_mb(p) for p in self._jvms))

    def reset(self) -> None:
        self.python_peak = _rss_mb(os.getpid())
        self.jvm_peak = sum(_rss_mb(p) for p in self._jvms)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class StageTimer:
    def __init__(self) -> None:
        self.memory = MemorySampler()
        self.stages: dict[str, dict[str, float]] = {}
        self.python_overall = 0.0
        self.jvm_overall = 0.0

    @contextmanager
    def __call__(self, name: str):
        self.memory.reset()
        start = time.perf_counter()
        try:
            yield
        finally:
            seconds = time.perf_counter() - start
            time.sleep(self.memory.interval * 1.5)  # one more sample
            entry = self.stages.setdefault(name, {"seconds": 0.0, "python_mb": 0.0, "jvm_mb": 0.0})
            entry["seconds"] += seconds
            entry["python_mb"] = max(entry["python_mb"], self.memory.python_peak)
            entry["jvm_mb"] = max(entry["jvm_mb"], self.memory.jvm_peak)
            self.python_overall = max(self.python_overall, entry["python_mb"])
            self.jvm_overall = max(self.jvm_overall, entry["jvm_mb"])


# --- the two sides (each in its own process) ------------------------------------------------------
def run_reference_side(machines: int, days: int, trees: int, depth: int) -> dict:
    from reference_baseline import run_reference

    from pdm_assets.resources.spark import build_local_spark

    p = plan(days)
    timer = StageTimer()
    with timer("ingest"):
        spark = build_local_spark()
    counts = run_reference(
        spark,
        machines,
        p["first"],
        p["last"],
        p["model_month"],
        p["score_first"],
        trees,
        depth,
        HISTORY_START,
        stage=timer,
    )
    timer.memory.stop()
    return {"stages": timer.stages, "counts": counts}


RAW = ["machines", "raw_telemetry", "raw_errors", "raw_maintenance", "raw_failures"]
FEATURES = ["component_replacements", "machine_features"]
SCORING = ["failure_scores", "maintenance_alerts"]


def run_platform_side(machines: int, days: int, trees: int, depth: int) -> dict:
    p = plan(days)
    data_dir = tempfile.mkdtemp(prefix="pdm-compare-")
    os.environ.update(
        {
            "PDM_DATA_DIR": data_dir,
            "PDM_MACHINES": str(machines),
            "PDM_SOURCE": "simulator",
            "PDM_START_DATE": p["first"].isoformat(),
            "PDM_END_DATE": p["last"].isoformat(),
            "PDM_HISTORY_START": HISTORY_START.isoformat(),
        }
    )
    for name in ("MLFLOW_TRACKING_URI", "PDM_MLFLOW_TRACKING_URI", "PDM_TABLES_ROOT"):
        os.environ.pop(name, None)
    import dagster as dg
    from harness import QUIET, step_seconds

    from pdm_assets.definitions import build_definitions
    from pdm_assets.partitions import materialize_days

    defs = build_definitions()
    assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    instance = dg.DagsterInstance.ephemeral()
    steps: dict[str, float] = {}

    def run(selection, first=None, last=None, partition_key=None, run_config=None) -> None:
        result = materialize_days(
            assets,
            selection,
            instance,
            defs.resources,
            first,
            last,
            partition_key=partition_key,
            run_config={**QUIET, **(run_config or {})},
        )
        for key, seconds in step_seconds(instance, result).items():
            steps[key] = round(steps.get(key, 0.0) + seconds, 2)

    first, last = p["first"].isoformat(), p["last"].isoformat()
    timer = StageTimer()
    with timer("ingest"):
        run(["machines"])
        run(RAW[1:], first, last)
    with timer("features+labels"):
        run(FEATURES, first, last)
        run(["failure_labels"], first, p["label_last"].isoformat())
    with timer("training"):
        model_config = {"num_trees": trees, "max_depth": depth}
        run(
            ["failure_model"],
            partition_key=p["model_month"].isoformat(),
            run_config={"ops": {"failure_model": {"config": model_config}}},
        )
    with timer("scoring"):
        run(SCORING, p["score_first"].isoformat(), last)
    timer.memory.stop()
    shutil.rmtree(data_dir, ignore_errors=True)  # 0.9 GB at 1,000 x 90
    return {"stages": timer.stages, "steps": steps}


def side_main(side: str, machines: int, days: int, trees: int, depth: int) -> None:
    fn = run_reference_side if side == "reference" else run_platform_side
    result = fn(machines, days, trees, depth)
    print(RESULT_PREFIX + json.dumps(result), flush=True)


# --- the parent: both sides per size, then the table ----------------------------------------------
def run_side(side: str, machines: int, days: int, trees: int, depth: int) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--side", side]
    cmd += ["--machines", str(machines), "--days", str(days)]
    cmd += ["--trees", str(trees), "--depth", str(depth)]
    # The reference's forest (200 trees of depth 15) does not fit the default 2g driver heap at
    # 1,000 machines: both sides get 4g (a PDM_SPARK_CONF of the caller's still wins).
    env = dict(os.environ)
    env["PDM_SPARK_CONF"] = ",".join(filter(None, [FOREST_HEAP, env.get("PDM_SPARK_CONF", "")]))
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-8000:])
        raise SystemExit(f"{side} side failed for {machines} x {days} (exit {proc.returncode})")
    result = json.loads(lines[-1][len(RESULT_PREFIX) :])
    stages = result["stages"]
    stages["end to end"] = {
        "seconds": seconds,
        "python_mb": max(s["python_mb"] for s in stages.values()),
        "jvm_mb": max(s["jvm_mb"] for s in stages.values()),
    }
    return result


def compare(
    machines: int,
    days: int,
    trees: int,
    depth: int,
    platform_forest: tuple[int, int] | None = None,
) -> dict:
    """Both sides at one size; the platform fits `platform_forest` (trees, depth) if given."""
    p = plan(days)
    forests = {"reference": (trees, depth), "platform": platform_forest or (trees, depth)}
    results = {side: run_side(side, machines, days, *forests[side]) for side in SIDES}
    rows = {}
    for stage in STAGES:
        ref, plat = (results[s]["stages"][stage] for s in SIDES)
        rows[stage] = {
            "reference_s": round(ref["seconds"], 1),
            "platform_s": round(plat["seconds"], 1),
            "ratio": round(ref["seconds"] / plat["seconds"], 2) if plat["seconds"] else None,
            "reference_python_peak_mb": round(ref["python_mb"]),
            "reference_jvm_peak_mb": round(ref["jvm_mb"]),
            "platform_python_peak_mb": round(plat["python_mb"]),
            "platform_jvm_peak_mb": round(plat["jvm_mb"]),
        }
    print(
        f"\n{machines} machines x {days} days ({p['first']}..{p['last']}), model "
        f"{p['model_month']:%Y-%m} trained on the days before it, scoring "
        f"{p['score_first']}..{p['last']}; RF {trees} trees, depth {depth}"
        + (
            f" (platform: {platform_forest[0]} trees, depth {platform_forest[1]})"
            if platform_forest
            else ""
        )
    )
    header = (
        f"{'stage':<17}{'reference s':>12}{'platform s':>12}{'ratio':>7}"
        f"{'ref py MB':>11}{'ref JVM MB':>11}{'plat py MB':>11}{'plat JVM MB':>12}"
    )
    print(header)
    print("-" * len(header))
    for stage, r in rows.items():
        print(
            f"{stage:<17}{r['reference_s']:>12.1f}{r['platform_s']:>12.1f}"
            f"{r['ratio'] if r['ratio'] is not None else '-':>7}"
            f"{r['reference_python_peak_mb']:>11}{r['reference_jvm_peak_mb']:>11}"
            f"{r['platform_python_peak_mb']:>11}{r['platform_jvm_peak_mb']:>12}"
        )
    steps = results["platform"]["steps"]
    print("platform steps (s): " + ", ".join(f"{k} {v:.1f}" for k, v in steps.items()))
    print("reference rows: " + json.dumps(results["reference"]["counts"]))
    sys.stdout.flush()
    return {
        "machines": machines,
        "days": days,
        "platform_forest": list(forests["platform"]),
        "stages": rows,
        "platform_steps": steps,
        "reference_rows": results["reference"]["counts"],
    }


def parse_size(text: str) -> tuple[int, int]:
    machines, _, days = text.lower().partition("x")
    return int(machines), int(days)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help=f"only {QUICK_SIZE[0]} x {QUICK_SIZE[1]}"
    )
    parser.add_argument("--full", action="store_true", help="add 1,000 machines x 365 days")
    parser.add_argument("--sizes", nargs="+", type=parse_size, help="e.g. 20x90 1000x90")
    parser.add_argument("--trees", type=int, help="forest size (default 200; --quick 5)")
    parser.add_argument("--depth", type=int, help="tree depth (default 15; --quick 5)")
    parser.add_argument(
        "--platform-forest",
        type=parse_size,
        metavar="TREESxDEPTH",
        help="the platform's forest only, e.g. 60x10 (its default, which benchmarks/quality.py "
        "measured as no worse than 200x15); the reference keeps --trees/--depth",
    )
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--machines", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--days", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    trees, depth = args.trees, args.depth
    if trees is None:
        trees = QUICK_FOREST[0] if args.quick else 200
    if depth is None:
        depth = QUICK_FOREST[1] if args.quick else 15
    if args.side:
        side_main(args.side, args.machines, args.days, trees, depth)
        return
    if args.quick:
        sizes = [QUICK_SIZE]
    else:
        sizes = list(args.sizes or DEFAULT_SIZES) + ([FULL_SIZE] if args.full else [])
    results = [compare(m, d, trees, depth, args.platform_forest) for m, d in sizes]
    print(json.dumps({"trees": trees, "depth": depth, "sizes": results}))


if __name__ == "__main__":
    main()
