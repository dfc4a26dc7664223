"""Every shell command in README.md and docs/*.md runs as printed, so the documentation cannot rot.

The fenced ```bash blocks of each document run in order, as one bash script (``set -euo
pipefail``, so exports carry from one block to the next as they would for a reader), in a fresh
temporary directory holding a ``.venv`` link to this environment. What is not run, and what is
changed, is listed here and nowhere else:

* ``SKIPPED``: commands that serve a UI until stopped or run for minutes, each with the test that
  covers it instead;
* ``PLACEHOLDERS``: values a reader replaces (the folder of the published files) or that make
  the run small (a year of partitions becomes three days, 40 landed days become four);
* ``PDM_MACHINES=3``, local Spark with two shuffle partitions: a tiny fleet, same code.

A command added to the docs runs here from then on; one that fails fails this test, with the
command and its output.
"""

import os
import re
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from pdm_assets.landing import export_published
from pdm_assets.simulator import FleetSimulator
from pdm_assets_tests.spark_conf import spark_conf_env

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PUBLISHED_START = date(2015, 1, 1)
PUBLISHED_DAYS = 4
# Measured 2-3 min per document on 2 cores shared at load ~14 (each dagster command starts a
# Spark JVM); a guard against a hang, not a performance target.
TIMEOUT_SECONDS = 900

# A command (after joining ``\\`` continuations) matching one of these is not run: why, and what
# covers it instead.
SKIPPED = {
    r"^make (demo|test)\b": "the README's two top-level commands: minutes each (CI runs make test)",
    r"^make dev\b": "serves the Dagster UI until stopped (pdm_assets_tests/e2e runs the webserver)",
    r"^\.venv/bin/mlflow ui\b": "serves the MLflow UI until stopped",
    r"pdm-assets demo\b": "the whole demo; pdm_assets_tests/test_published_files.py runs it",
    r"^(\w+=\S+\s+)*\.venv/bin/python benchmarks/": "benchmarks run for minutes on purpose",
}


def _today() -> date:
    return datetime.now(UTC).date()


def placeholders(doc: str, published: Path) -> dict[str, str]:
    """Documented value -> what the test uses instead, per document."""
    if doc == "README.md":
        # The published files start on 2015-01-01 (PDM_START_DATE's default).
        last = PUBLISHED_START + timedelta(days=2)
        return {
            "/path/to/azure-pdm-files": str(published),
            "2015-01-01...2015-12-31": f"{PUBLISHED_START}...{last}",
        }
    if doc == "operating.md":
        # "Watch it work live" lands the N days ending yesterday, with partitions starting N
        # days ago; the backfill example then covers the first three of them.
        first = _today() - timedelta(days=4)
        return {
            "-40 days": "-4 days",
            "--days-back 40": "--days-back 4",
            "2015-01-01...2015-12-31": f"{first}...{first + timedelta(days=2)}",
        }
    return {}


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


def commands(block: str) -> list[str]:
    """Command lines of a block, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", block)
    return [line for line in joined.splitlines() if line.strip()]


def script_for(doc: Path, published: Path) -> tuple[str, list[str], set[str]]:
    """(bash script, commands run, skip patterns used) of one document."""
    text = doc.read_text()
    for value, replacement in placeholders(doc.name, published).items():
        assert value in text, f"placeholder {value!r} no longer appears in {doc.name}"
        text = text.replace(value, replacement)
    lines, ran, used = ["set -euo pipefail"], [], set()
    for block in bash_blocks(text):
        for command in commands(block):
            skip = next((p for p in SKIPPED if re.search(p, command.strip())), None)
            if skip:
                used.add(skip)
                continue
            ran.append(command)
            lines += [f"echo '>>> '{_quote(command)}", command]
    return "\n".join(lines) + "\n", ran, used


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _env(workdir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PDM_", "DAGSTER_", "MLFLOW_")) and k != "PYTEST_CURRENT_TEST"
    }
    env.update(
        PDM_MACHINES="3",
        PDM_SPARK_MASTER="local[2]",
        PDM_SPARK_CONF=spark_conf_env(short_lived=True),
        HOME=str(workdir),  # no reader's dotfiles
    )
    return env


def _seed_alerts(workdir: Path, day: date) -> None:
    """The alerts commands read a stored maintenance_alerts partition; in the docs the daemon and
    a trained model made it, here it is written directly (the CLI's reader only needs the files)."""
    folder = workdir / "data" / "tables" / "maintenance_alerts" / f"dt={day}"
    folder.mkdir(parents=True)
    pd.DataFrame(
        {
            "datetime": [pd.Timestamp(f"{day} 12:00:00")],
            "machineID": [2],
            "rank": [1],
            "risk": [0.8],
            "component": ["comp2"],
            "explanation": ["vibration_mean_24h +3.1σ vs fleet"],
        }
    ).to_parquet(folder / "part-0.parquet")


def _run(doc: Path, workdir: Path, published: Path) -> tuple[list[str], set[str], str]:
    script, ran, used = script_for(doc, published)
    (workdir / ".venv").symlink_to(Path(sys.prefix))
    try:
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=workdir,
            env=_env(workdir),
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired as stuck:
        partial = (stuck.stdout or b"").decode() + (stuck.stderr or b"").decode()
        pytest.fail(f"{doc.name}'s commands ran over {TIMEOUT_SECONDS} s:\n{partial[-6000:]}")
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"a documented command of {doc.name} failed:\n{output[-6000:]}"
    return ran, used, output


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("published")
    sim = FleetSimulator(n_machines=3, seed=5)
    end = PUBLISHED_START + timedelta(days=PUBLISHED_DAYS)
    export_published(folder, sim, PUBLISHED_START, end, us_dates=True)
    return folder


def _instance(workdir: Path) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(workdir / "data" / "dagster_home"))


def _materialized(workdir: Path, asset: str) -> set[str]:
    with _instance(workdir) as instance:
        return set(instance.get_materialized_partitions(dg.AssetKey(asset)))


@pytest.mark.slow
def test_readme_commands_run_as_printed(tmp_path, published):
    ran, used, _ = _run(ROOT / "README.md", tmp_path, published)
    assert any("dagster asset materialize" in c for c in ran)
    assert used >= {r"^make (demo|test)\b", r"^make dev\b", r"^\.venv/bin/mlflow ui\b"}
    # The runs went into the documented DAGSTER_HOME, not a throwaway instance.
    assert _materialized(tmp_path, "raw_telemetry") == {"2015-01-01", "2015-01-02", "2015-01-03"}
    with _instance(tmp_path) as instance:
        assert instance.get_latest_materialization_event(dg.AssetKey("machines")) is not None


@pytest.mark.slow
def test_operating_commands_run_as_printed(tmp_path, published):
    _seed_alerts(tmp_path, _today() - timedelta(days=1))
    ran, used, output = _run(ROOT / "docs" / "operating.md", tmp_path, published)
    assert any("pdm-assets alerts" in c for c in ran)
    assert r"^make dev\b" in used
    first = _today() - timedelta(days=4)
    days = {(first + timedelta(days=i)).isoformat() for i in range(3)}
    assert _materialized(tmp_path, "machine_features") == days
    assert '"machineID":2' in output  # the --json alerts of yesterday


def test_every_skip_pattern_still_matches_a_documented_command(published):
    used: set[str] = set()
    for doc in DOCS:
        used |= script_for(doc, published)[2]
    assert used == set(SKIPPED), f"unused skips (remove them): {set(SKIPPED) - used}"
