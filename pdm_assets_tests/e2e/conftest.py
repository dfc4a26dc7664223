"""A live Dagster stack for the end-to-end and browser tests, started once for this package
and stopped after its last test (not at the end of the session: an idle daemon still ticks).

Layout of one session: a temporary data dir and DAGSTER_HOME; a landing zone with a recent,
small fleet; history up to the day before yesterday materialized in this process, on the session's
warm Spark, with the asset modules imported anew for the stack's dates (see fresh_modules.py); then
``dagster-webserver`` and ``dagster-daemon`` as process groups; then yesterday's files and
today's first hourly files are dropped into the landing zone and the sensor plus automation have
to score both days on their own.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pdm_assets_tests.fresh_modules import in_session_with
from pdm_assets_tests.spark_conf import spark_conf_env

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# 30 machines so that the 7-day hold-out is likely to see failures (it did when written): without
# any, the model asset logs a None metric, which MLflow refuses.
MACHINES = 30
SMALL_MODEL = {"num_trees": 5, "max_depth": 4, "holdout_days": 7, "min_threshold_failures": 0}
TRAINING_DAYS = 14  # days of history before the model's period (a 7-day hold-out)
STACK_START_TIMEOUT = 180
SCORING_TIMEOUT = 420


@dataclass(frozen=True)
class LivePlan:
    """Dates of one session, all relative to today (automation only handles the newest days)."""

    yesterday: date
    start: date
    history_start: date
    model_month: str
    today_model_month: str  # the open day's model: another month on the 4th of a month

    @property
    def today(self) -> date:
        return self.yesterday + timedelta(days=1)

    @classmethod
    def for_today(cls) -> "LivePlan":
        from pdm_assets.partitions import model_partition_for_day

        yesterday = datetime.now(UTC).date() - timedelta(days=1)
        month = model_partition_for_day(yesterday, 48)
        start = date.fromisoformat(month) - timedelta(days=TRAINING_DAYS)
        today_month = model_partition_for_day(yesterday + timedelta(days=1), 48)
        return cls(yesterday, start, start - timedelta(days=14), month, today_month)


def build_history(*model_months: str) -> dict[str, float]:
    """Lands start..day before yesterday and materializes their history into the stack's
    instance; returns seconds per step.

    Raw, replacements and features as one single-run range, labels as another, then the
    model partitions yesterday's and today's scores will use, with a tiny forest. Runs inside
    the test session (the stack's settings in the environment, the asset modules imported anew
    for them; see fresh_modules.py), on the session's warm Spark.
    """
    import dagster as dg

    from pdm_assets.definitions import build_definitions
    from pdm_assets.landing import land_simulated_days
    from pdm_assets.partitions import materialize_days
    from pdm_assets.settings import load_settings
    from pdm_assets.simulator import FleetSimulator

    s = load_settings()
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    sim = FleetSimulator(
        n_machines=s.n_machines,
        seed=s.seed,
        history_start=s.history_start_date,
        profile=s.sim_profile,
    )
    timings: dict[str, float] = {}
    t = time.monotonic()
    land_simulated_days(s.landing_dir, sim, s.start, yesterday)
    timings["land"] = time.monotonic() - t
    defs = build_definitions()
    features = ["raw_telemetry", "raw_errors", "raw_maintenance", "raw_failures"]
    features += ["component_replacements", "machine_features"]
    last_label = yesterday - timedelta(days=3)  # Y-2 is left for automation
    assets = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
    span = (s.start.isoformat(), (yesterday - timedelta(days=1)).isoformat())
    label_span = (s.start.isoformat(), last_label.isoformat())
    model_config = {"ops": {"failure_model": {"config": SMALL_MODEL}}}
    # Checks are left out: they are tested elsewhere and cost a Spark job each here.
    steps = [
        ("machines", ["machines"], None, None),
        ("features", features, span, None),
        ("labels", ["failure_labels"], label_span, None),
        *(("model", ["failure_model"], month, model_config) for month in model_months),
    ]
    with dg.DagsterInstance.get() as instance:
        for name, selection, span_or_key, run_config in steps:
            t = time.monotonic()
            first, last = span_or_key if isinstance(span_or_key, tuple) else (None, None)
            result = materialize_days(
                assets,
                selection,
                instance,
                defs.resources,
                first,
                last,
                partition_key=span_or_key if isinstance(span_or_key, str) else None,
                run_config=run_config,
            )
            assert result.success, name
            timings[name] = time.monotonic() - t
            print(f"{name}: {timings[name]:.1f} s", file=sys.stderr, flush=True)
    return timings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(
    what: str, probe: Callable[[], Any], timeout: float, every: float = 2.0, check=None
) -> Any:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        if check is not None:
            check()
        last = probe()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last: {last!r}")


@dataclass
class LiveStack:
    url: str
    env: dict[str, str]
    plan: LivePlan
    root: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    landed: str = ""  # what `pdm-assets land --yesterday` printed
    open_day_through: int = 0  # today's hours 00..this landed with yesterday

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = json.loads(response.read())
        if payload.get("errors"):
            raise AssertionError(f"GraphQL errors: {payload['errors']}")
        return payload["data"]

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            [str(BIN / "pdm-assets"), *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        return out.stdout

    def assert_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                log = (self.root / f"{name}.log").read_text()[-3000:]
                raise AssertionError(f"{name} exited with {proc.returncode}:\n{log}")

    def log_tail(self, name: str, chars: int = 3000) -> str:
        path = self.root / f"{name}.log"
        return path.read_text()[-chars:] if path.exists() else ""


def _start(stack: LiveStack, name: str, args: list[str]) -> None:
    log = open(stack.root / f"{name}.log", "w")  # closed when the process ends
    stack.processes[name] = subprocess.Popen(
        args,
        cwd=ROOT,
        env=stack.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # own process group: the finally below ends all its children
    )


def stop_process_group(proc: subprocess.Popen, grace_seconds: float = 30) -> None:
    """End a process started with start_new_session=True and all its children: SIGTERM, then
    SIGKILL after ``grace_seconds``."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


def _graphql_up(stack: LiveStack) -> bool:
    try:
        data = stack.graphql("{ version }")
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False
    return bool(data.get("version"))


@pytest.fixture(scope="package")
def live_stack(spark, tmp_path_factory) -> Iterator[LiveStack]:
    started = time.monotonic()
    root = tmp_path_factory.mktemp("live-dagster")
    plan = LivePlan.for_today()
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n"
        "run_coordinator:\n"
        "  module: dagster.core.run_coordinator\n"
        "  class: QueuedRunCoordinator\n"
        "  config:\n    dequeue_interval_seconds: 1\n"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PDM_", "DAGSTER_", "MLFLOW_TRACKING"))
    }
    env.update(
        {
            "DAGSTER_HOME": str(home),
            "PDM_DATA_DIR": str(root / "data"),
            "PDM_SOURCE": "landing",
            "PDM_MACHINES": str(MACHINES),
            "PDM_START_DATE": plan.start.isoformat(),
            "PDM_HISTORY_START": plan.history_start.isoformat(),
            "PDM_SENSOR_INTERVAL_SECONDS": "5",
            # Hourly freshness: today is a partition, refreshed as its hourly files land.
            "PDM_OPEN_DAY": "1",
            "PDM_SPARK_MASTER": "local[2]",
            "PDM_SPARK_CONF": spark_conf_env({"spark.default.parallelism": "2"}, short_lived=True),
            "PYSPARK_PYTHON": sys.executable,
            # The default store, made explicit: failure_scores loads "models:/…" without
            # pointing MLflow at the configured store, which a fresh run process needs.
            "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'data' / 'mlflow' / 'mlflow.db'}",
        }
    )
    port = free_port()
    stack = LiveStack(f"http://127.0.0.1:{port}", env, plan, root)
    try:
        # The webserver only serves: start it now, so it boots while the history is built.
        _start(
            stack,
            "webserver",
            [
                str(BIN / "dagster-webserver"),
                *("-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)),
            ],
        )
        t = time.monotonic()
        with in_session_with(env):
            history = build_history(*sorted({plan.model_month, plan.today_model_month}))
        stack.timings["history"] = time.monotonic() - t
        stack.timings.update({f"history.{k}": v for k, v in history.items()})
        # The daemon runs sensors, automation and the run queue; the history is in place now.
        # Real daemons; the backfill loop polls every few seconds (see quick_daemon.py).
        _start(
            stack,
            "daemon",
            [
                sys.executable,
                "-m",
                "pdm_assets_tests.e2e.quick_daemon",
                "run",
                "-w",
                "workspace.yaml",
            ],
        )
        wait_for(
            "the webserver", lambda: _graphql_up(stack), STACK_START_TIMEOUT, 1, stack.assert_alive
        )
        stack.timings["stack_ready"] = time.monotonic() - started
        yield stack
    finally:
        for proc in stack.processes.values():
            stop_process_group(proc)
        total = time.monotonic() - started
        print(f"\nlive stack: {json.dumps({k: round(v, 1) for k, v in stack.timings.items()})}")
        print(f"live stack wall time: {total:.1f} s")


ALERTS_PARTITION_QUERY = """
query ($key: AssetKeyInput!, $partition: String!) {
  assetNodeOrError(assetKey: $key) {
    ... on AssetNode {
      assetMaterializations(partitions: [$partition]) { partition runId timestamp }
    }
  }
}
"""


def materializations(stack: LiveStack, asset: str, partition: str) -> list[dict[str, Any]]:
    data = stack.graphql(ALERTS_PARTITION_QUERY, {"key": {"path": [asset]}, "partition": partition})
    return data["assetNodeOrError"].get("assetMaterializations") or []


def open_day_first_hours() -> int:
    """The newest hour that has begun, less one (hour 00 just after midnight): today's first
    delivery lands hours 00..this, and the open-day test one more hour."""
    return max(datetime.now(UTC).hour - 1, 0)


@pytest.fixture(scope="package")
def scored_yesterday(live_stack: LiveStack) -> LiveStack:
    """Yesterday's files and today's first hourly files dropped into the landing zone together,
    as a plant delivers them just after midnight, and waited for until both days are scored.

    Landing both at once costs one sensor-and-automation chain less than two deliveries, and
    exercises the open day following a closing yesterday.
    """
    stack = live_stack
    t = time.monotonic()
    stack.landed = stack.cli("land", "--yesterday")
    stack.open_day_through = open_day_first_hours()
    stack.cli("land", "--today-through", str(stack.open_day_through))
    for day in (stack.plan.yesterday.isoformat(), stack.plan.today.isoformat()):
        try:
            wait_for(
                f"maintenance_alerts {day} to be materialized by the sensor and automation",
                lambda day=day: materializations(stack, "maintenance_alerts", day),
                SCORING_TIMEOUT,
                3,
                stack.assert_alive,
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- daemon log ---\n{stack.log_tail('daemon')}") from None
        stack.timings[f"scored {day}"] = time.monotonic() - t
    return stack
