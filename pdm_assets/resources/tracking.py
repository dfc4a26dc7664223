"""MLflow tracking and registry, configured per deployment (a local store by default)."""

from pathlib import Path
from typing import Any

import dagster as dg

REGISTERED_MODEL = "pdm_failure_model"
EXPERIMENT = "pdm-assets"
LOCAL_UI = "http://127.0.0.1:5000"


def local_tracking_uri(data_dir: str) -> str:
    """A sqlite store under the data directory: tracking and a working model registry, offline."""
    return f"sqlite:///{(Path(data_dir) / 'mlflow' / 'mlflow.db').absolute()}"


class MlflowTracking(dg.ConfigurableResource):
    """Where runs and registered models go: a local store, an MLflow server or Databricks."""

    tracking_uri: str
    artifact_location: str = ""
    experiment: str = EXPERIMENT
    registered_model: str = REGISTERED_MODEL

    def client(self) -> Any:
        """Points the process' MLflow at this store and returns the experiment's id."""
        import mlflow

        if self.tracking_uri.startswith("sqlite:///"):
            Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(
                parents=True, exist_ok=True
            )
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        experiment = mlflow.get_experiment_by_name(self.experiment)
        if experiment is None:
            return mlflow.create_experiment(
                self.experiment, artifact_location=self.artifact_location or None
            )
        return experiment.experiment_id

    def model_uri(self, version: str) -> str:
        return f"models:/{self.registered_model}/{version}"

    @property
    def ui_base(self) -> str:
        """The tracking server's address, or where `mlflow ui` serves a local store."""
        if self.tracking_uri.startswith(("http://", "https://")):
            return self.tracking_uri.rstrip("/")
        return LOCAL_UI

    def run_url(self, experiment_id: str, run_id: str) -> str:
        return f"{self.ui_base}/#/experiments/{experiment_id}/runs/{run_id}"

    def version_url(self, version: str) -> str:
        return f"{self.ui_base}/#/models/{self.registered_model}/versions/{version}"

    def ui_hint(self) -> str:
        if self.ui_base != LOCAL_UI:
            return self.ui_base
        return f"mlflow ui --backend-store-uri {self.tracking_uri}  (then {LOCAL_UI})"
