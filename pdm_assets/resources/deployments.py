"""Everything that differs by deployment is chosen here, in one function."""

from __future__ import annotations

import os
from typing import Any

import dagster as dg

from pdm_assets.resources.sources import source_from_settings
from pdm_assets.resources.spark import local_spark_resource
from pdm_assets.resources.storage import (
    ModelVersionIOManager,
    PartitionedParquetIOManager,
    TableStoreResource,
)
from pdm_assets.resources.tracking import MlflowTracking
from pdm_assets.settings import Settings, load_settings

DEPLOYMENTS = ("local",)


def build_resources(
    deployment: str | None = None, settings: Settings | None = None
) -> dict[str, Any]:
    """Resources for ``PDM_DEPLOYMENT`` (default ``local``); asset code never branches on it."""
    deployment = deployment or os.environ.get("PDM_DEPLOYMENT", "local")
    settings = settings or load_settings()
    if deployment not in DEPLOYMENTS:
        raise ValueError(f"unknown PDM_DEPLOYMENT {deployment!r}; expected one of {DEPLOYMENTS}")
    spark = local_spark_resource()
    tables = TableStoreResource(root=settings.tables_root, pyspark=spark)
    return {
        "pyspark": spark,
        "pyspark_step_launcher": dg.ResourceDefinition.none_resource(),
        "tables": tables,
        "table_io_manager": PartitionedParquetIOManager(tables=tables),
        "model_io_manager": ModelVersionIOManager(tables=tables),
        "mlflow_tracking": MlflowTracking(
            tracking_uri=settings.mlflow_tracking_uri,
            artifact_location=settings.mlflow_artifact_location,
        ),
        "raw_source": source_from_settings(settings),
    }
