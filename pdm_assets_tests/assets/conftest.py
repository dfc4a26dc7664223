"""Dagster runs against real Spark and a temporary data directory."""

import dagster as dg
import pytest

from pdm_assets.assets.model import ModelConfig
from pdm_assets.automation import FEATURE_ASSETS, RAW_ASSETS
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


# Thresholds on the hold-out alone (min_threshold_failures=0): the out-of-fold path's extra fits
# (one per block) are tested in transforms/test_model.py and run by the published-files demo.
SMALL_FOREST_TREES = 8
SMALL_FOREST = dg.RunConfig(
    ops={
        "failure_model": ModelConfig(
            num_trees=SMALL_FOREST_TREES, max_depth=6, min_threshold_failures=0
        )
    }
)


def train_model(platform: Platform, month: str):
    return platform.run(["failure_model"], partition_key=month, run_config=SMALL_FOREST)


@pytest.fixture(scope="package")
def model_history(tmp_path_factory, spark):
    """12 machines, 2015-01-01 .. 03-08: raw data and features, labels to 03-06, and small
    February and March models.

    Built once for the modules that need a trained model: each adds scores on days of its own
    (February's for the partition metadata, March's for the model tests). Checks are left out
    here: test_checks.py covers them.
    """
    data = tmp_path_factory.mktemp("model-history")
    with pytest.MonkeyPatch.context() as env, dg.instance_for_test() as instance:
        env.setenv("PDM_DATA_DIR", str(data / "data"))
        env.setenv("PDM_MACHINES", "12")
        env.setenv("PDM_SOURCE", "simulator")
        env.delenv("MLFLOW_TRACKING_URI", raising=False)
        platform = Platform(instance)
        features = [*RAW_ASSETS, *FEATURE_ASSETS]
        assert platform.run(["machines"], checks=False).success
        assert platform.run(features, "2015-01-01", "2015-03-08", checks=False).success
        assert platform.run(["failure_labels"], "2015-01-01", "2015-03-06", checks=False).success
        assert train_model(platform, "2015-02-01").success
        assert train_model(platform, "2015-03-01").success
        yield platform
