"""Everything that differs by deployment is chosen here, in one function.

- ``local`` (default): embedded Spark, parquet tables under PDM_DATA_DIR, a local MLflow store.
- ``spark-cluster``: the session runs on the cluster PDM_SPARK_MASTER names (``spark://...``);
  tables and MLflow artifacts must be on storage every executor reads (PDM_TABLES_ROOT, ...).
- ``databricks``: every Spark asset runs on Databricks through dagster-databricks' step launcher
  (``pyspark_step_launcher``); on the cluster itself the same function binds the runtime's
  session and a no-op launcher. Settings: ``resources/databricks.py``.
"""

from __future__ import annotations

import os
from typing import Any

import dagster as dg

from pdm_assets.resources.databricks import (
    DatabricksSettings,
    databricks_step_launcher,
    on_databricks_cluster,
)
from pdm_assets.resources.sources import source_from_settings
from pdm_assets.resources.spark import (
    attached_spark_resource,
    cluster_spark_resource,
    local_spark_resource,
)
from pdm_assets.resources.storage import (
    ModelVersionIOManager,
    PartitionedParquetIOManager,
    TableStoreResource,
)
from pdm_assets.resources.tracking import EXPERIMENT, MlflowTracking
from pdm_assets.settings import Settings, load_settings

DEPLOYMENTS = ("local", "spark-cluster", "databricks")


def current_deployment() -> str:
    deployment = os.environ.get("PDM_DEPLOYMENT", "").strip() or "local"
    if deployment not in DEPLOYMENTS:
        raise ValueError(f"unknown PDM_DEPLOYMENT {deployment!r}; expected one of {DEPLOYMENTS}")
    return deployment


REMOTE_KIND = "databricks"
LAUNCHER_KEY = "pyspark_step_launcher"


def deployment_assets(
    assets: list[dg.AssetsDefinition], deployment: str | None = None
) -> list[dg.AssetsDefinition]:
    """The assets as this deployment runs them: on ``databricks`` every asset that requires the
    step launcher (so runs on a cluster) carries the ``databricks`` kind, which the UI shows."""
    deployment = deployment or current_deployment()
    if deployment != "databricks":
        return list(assets)
    return [
        asset.map_asset_specs(lambda spec: spec.merge_attributes(kinds={REMOTE_KIND}))
        if LAUNCHER_KEY in asset.required_resource_keys
        else asset
        for asset in assets
    ]


def build_resources(
    deployment: str | None = None, settings: Settings | None = None
) -> dict[str, Any]:
    """Resources for ``PDM_DEPLOYMENT`` (default ``local``); asset code never branches on it."""
    deployment = deployment or current_deployment()
    if deployment not in DEPLOYMENTS:
        raise ValueError(f"unknown PDM_DEPLOYMENT {deployment!r}; expected one of {DEPLOYMENTS}")
    settings = settings or load_settings()
    launcher: Any = dg.ResourceDefinition.none_resource()
    tables_root, table_format = settings.tables_root, "parquet"
    tracking = MlflowTracking(
        tracking_uri=settings.mlflow_tracking_uri,
        artifact_location=settings.mlflow_artifact_location,
        experiment=EXPERIMENT,
    )
    if deployment == "local":
        spark = local_spark_resource()
    elif deployment == "spark-cluster":
        master = os.environ.get("PDM_SPARK_MASTER", "").strip()
        if not master:
            raise ValueError(
                "PDM_DEPLOYMENT=spark-cluster needs PDM_SPARK_MASTER=spark://host:port"
            )
        spark = cluster_spark_resource(master)
    else:
        databricks = DatabricksSettings.from_env()
        tables_root, table_format = databricks.tables_root, databricks.table_format
        tracking = MlflowTracking(
            tracking_uri=databricks.mlflow_tracking_uri,
            artifact_location=os.environ.get("PDM_MLFLOW_ARTIFACTS", ""),
            experiment=databricks.mlflow_experiment,
        )
        if on_databricks_cluster():
            spark = attached_spark_resource()  # the step is already on the cluster
        else:
            # Never started here: every asset that needs Spark runs through the launcher.
            spark = local_spark_resource()
            launcher = databricks_step_launcher(databricks)
    tables = TableStoreResource(root=tables_root, table_format=table_format, pyspark=spark)
    return {
        "pyspark": spark,
        LAUNCHER_KEY: launcher,
        "tables": tables,
        "table_io_manager": PartitionedParquetIOManager(tables=tables),
        "model_io_manager": ModelVersionIOManager(tables=tables),
        "mlflow_tracking": tracking,
        "raw_source": source_from_settings(settings),
    }
