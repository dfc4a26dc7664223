"""Everything that differs by deployment is chosen here, in one function."""

from __future__ import annotations

import os
from typing import Any

import dagster as dg

from pdm_assets.resources.sources import source_from_settings
from pdm_assets.resources.spark import local_spark_resource
from pdm_assets.resources.storage import PartitionedParquetIOManager
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
    return {
        "pyspark": spark,
        "pyspark_step_launcher": dg.ResourceDefinition.none_resource(),
        "table_io_manager": PartitionedParquetIOManager(root=settings.tables_root, pyspark=spark),
        "raw_source": source_from_settings(settings),
    }
