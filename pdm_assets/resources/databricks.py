"""The Databricks deployment: Spark steps run on a cluster through dagster-databricks.

The launcher is ``dagster_databricks.databricks_pyspark_step_launcher``, unmodified. What this
module adds is the configuration, read from the environment in one place, and the code it ships:
the launcher zips ``local_pipeline_package_path`` before every step, and a project root holds a
virtualenv and data (its exclusion rules miss ``.venv``), so the ``pdm_assets`` package is
copied to a small content-addressed folder first and that folder is shipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

# Set by the Databricks runtime on every cluster node (and by the local stand-in).
RUNTIME_MARKER = "DATABRICKS_RUNTIME_VERSION"
DEFAULT_TABLES_ROOT = "dbfs:/pdm/tables"
DEFAULT_EXPERIMENT = "/Shared/pdm-assets"  # Databricks wants workspace paths for experiments
# Settings the remote step needs to build the same resources; never secrets.
FORWARDED_PREFIXES = ("PDM_",)


def on_databricks_cluster() -> bool:
    return bool(os.environ.get(RUNTIME_MARKER))


@dataclass(frozen=True)
class DatabricksSettings:
    """Everything the Databricks deployment reads from the environment (see the README)."""

    cluster: dict[str, Any]
    poll_interval_sec: float = 10.0
    max_wait_seconds: int = 24 * 3600
    libraries: list[dict[str, Any]] = field(default_factory=list)
    staging_prefix: str = "/dagster_staging"
    tables_root: str = DEFAULT_TABLES_ROOT
    table_format: str = "delta"
    mlflow_tracking_uri: str = "databricks"
    mlflow_experiment: str = DEFAULT_EXPERIMENT
    code_dir: str = ""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> DatabricksSettings:
        env = dict(os.environ if env is None else env)
        cluster_id = env.get("PDM_DATABRICKS_CLUSTER_ID", "").strip()
        new_cluster = env.get("PDM_DATABRICKS_NEW_CLUSTER", "").strip()
        if bool(cluster_id) == bool(new_cluster):
            raise ValueError(
                "PDM_DEPLOYMENT=databricks needs exactly one of PDM_DATABRICKS_CLUSTER_ID (reuse a "
                "running cluster) or PDM_DATABRICKS_NEW_CLUSTER (JSON: a new cluster per step, "
                "in the launcher's shape: spark_version, nodes, size, ...)"
            )
        cluster = {"existing": cluster_id} if cluster_id else {"new": _json(env, new_cluster)}
        return cls(
            cluster=cluster,
            poll_interval_sec=float(env.get("PDM_DATABRICKS_POLL_SECONDS", "10")),
            max_wait_seconds=int(env.get("PDM_DATABRICKS_MAX_WAIT_SECONDS", str(24 * 3600))),
            libraries=_json(env, env.get("PDM_DATABRICKS_LIBRARIES", "[]")),
            staging_prefix=env.get("PDM_DATABRICKS_STAGING", "/dagster_staging"),
            tables_root=env.get("PDM_TABLES_ROOT", DEFAULT_TABLES_ROOT),
            table_format=env.get("PDM_TABLE_FORMAT", "delta"),
            mlflow_tracking_uri=env.get("PDM_MLFLOW_TRACKING_URI", "databricks"),
            mlflow_experiment=env.get("PDM_MLFLOW_EXPERIMENT", DEFAULT_EXPERIMENT),
            code_dir=env.get("PDM_DATABRICKS_CODE_DIR", ""),
        )


def _json(env: dict[str, str], text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        names = [k for k, v in env.items() if v == text and k.startswith("PDM_")]
        raise ValueError(f"{names[0] if names else 'setting'} is not valid JSON: {e}") from None


def stage_code_package(dest_root: str | None = None) -> str:
    """A folder holding only a copy of ``pdm_assets``, named by its content; returns its path.

    Content-addressed and moved into place with one rename, so concurrent steps neither race
    nor ship a half-copied package.
    """
    import pdm_assets

    source = Path(pdm_assets.__file__).parent
    files = sorted(p for p in source.rglob("*.py") if "__pycache__" not in p.parts)
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(source)).encode())
        digest.update(path.read_bytes())
    root = Path(dest_root or Path(tempfile.gettempdir()) / "pdm-assets-databricks-code")
    target = root / digest.hexdigest()[:16]
    # The launcher's zip skips every path matching these patterns (e.g. "pytest", "/venv/").
    from dagster_pyspark.utils import DEFAULT_EXCLUDE

    excluded = [p for p in DEFAULT_EXCLUDE if re.search(p, str(target / "pdm_assets" / "x.py"))]
    if excluded:
        raise ValueError(
            f"PDM_DATABRICKS_CODE_DIR={root} would ship an empty package: the launcher's zip "
            f"excludes paths matching {excluded}; choose another folder"
        )
    if not target.exists():
        tmp = root / f".{uuid.uuid4().hex}"
        for path in files:
            copy = tmp / "pdm_assets" / path.relative_to(source)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, copy)
        try:
            tmp.rename(target)
        except OSError:  # another step staged the same content first
            shutil.rmtree(tmp, ignore_errors=True)
    return str(target)


def forwarded_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The project's settings for the remote process, which builds the same resources."""
    env = dict(os.environ if env is None else env)
    forwarded = {k: v for k, v in env.items() if k.startswith(FORWARDED_PREFIXES)}
    forwarded["PDM_DEPLOYMENT"] = "databricks"
    return forwarded


def databricks_step_launcher(settings: DatabricksSettings) -> dg.ResourceDefinition:
    """The real launcher, configured; host and token come from DATABRICKS_HOST/_TOKEN at run time.

    It is dagster-databricks' own class, subclassed only to report the remote run's URL and
    cluster minutes when it ends (``databricks_launcher.py``).

    The configuration is produced when a run starts (not at import), which is when the code is
    staged. The remote step gets the ``PDM_*`` settings and binds a no-op launcher there.
    """
    from pdm_assets.resources.databricks_launcher import reporting_databricks_step_launcher

    env_variables = forwarded_env()

    def launcher_config(_: Any) -> dict[str, Any]:
        return {
            "run_config": {
                "run_name": "pdm-assets step",
                "cluster": settings.cluster,
                "libraries": settings.libraries,
            },
            "databricks_host": {"env": "DATABRICKS_HOST"},
            "databricks_token": {"env": "DATABRICKS_TOKEN"},
            "secrets_to_env_variables": [],
            "env_variables": env_variables,
            "local_pipeline_package_path": stage_code_package(settings.code_dir or None),
            "staging_prefix": settings.staging_prefix,
            "poll_interval_sec": settings.poll_interval_sec,
            "max_completion_wait_time_seconds": settings.max_wait_seconds,
            "verbose_logs": False,
        }

    return reporting_databricks_step_launcher().configured(launcher_config)
