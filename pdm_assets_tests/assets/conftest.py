"""Dagster runs against real Spark and a temporary data directory."""

import dagster as dg
import pytest

from pdm_assets.checks import ALL_CHECKS
from pdm_assets.definitions import build_assets
from pdm_assets.partitions import materialize_days
from pdm_assets.resources.deployments import build_resources
from pdm_assets.settings import load_settings


class Platform:
    """Materializes asset selections over day ranges, like a single-run backfill does."""

    def __init__(self, instance: dg.DagsterInstance):
        self.instance = instance
        self.assets = build_assets()
        self.resources = build_resources()

    @property
    def store(self):
        return self.resources["tables"].store()

    def run(
        self,
        selection,
        first=None,
        last=None,
        raise_on_error=True,
        checks=True,
        partition_key=None,
        run_config=None,
    ):
        return materialize_days(
            [*self.assets, *(ALL_CHECKS if checks else [])],
            selection,
            self.instance,
            self.resources,
            first,
            last,
            raise_on_error=raise_on_error,
            partition_key=partition_key,
            run_config=run_config,
        )


@pytest.fixture
def platform(spark, tmp_path, monkeypatch):
    monkeypatch.setenv("PDM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PDM_MACHINES", "6")
    monkeypatch.setenv("PDM_SOURCE", "simulator")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert load_settings().tables_root.startswith(str(tmp_path))
    with dg.instance_for_test() as instance:
        yield Platform(instance)
