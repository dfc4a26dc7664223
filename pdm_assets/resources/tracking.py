"""MLflow tracking and registry, configured per deployment (a local store by default).

Credentials never pass through this resource: MLflow reads ``MLFLOW_TRACKING_TOKEN`` (or
``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``, or ``DATABRICKS_HOST``/``_TOKEN`` for
``databricks``) from the environment itself. A tracking URI that carries a user and password
anyway is shown without them wherever it reaches metadata.
"""

import fcntl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import dagster as dg

REGISTERED_MODEL = "pdm_failure_model"
EXPERIMENT = "pdm-assets"
LOCAL_UI = "http://127.0.0.1:5000"


def local_tracking_uri(data_dir: str) -> str:
    """A sqlite store under the data directory: tracking and a working model registry, offline."""
    return f"sqlite:///{(Path(data_dir) / 'mlflow' / 'mlflow.db').absolute()}"


def without_credentials(uri: str) -> str:
    """``https://user:secret@host/x`` -> ``https://host/x``; other URIs unchanged."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


class MlflowTracking(dg.ConfigurableResource):
    """Where runs and registered models go: a local store, an MLflow server or Databricks."""

    tracking_uri: str
    artifact_location: str = ""
    experiment: str = EXPERIMENT
    registered_model: str = REGISTERED_MODEL

    def client(self) -> Any:
        """Points the process' MLflow at this store and returns the experiment's id."""
        import mlflow

        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        if self.tracking_uri.startswith("sqlite:///"):
            db = Path(self.tracking_uri.removeprefix("sqlite:///"))
            db.parent.mkdir(parents=True, exist_ok=True)
            # Two training runs that open a new store at once both run MLflow's schema
            # migrations, and one fails ("table _alembic_tmp_latest_metrics already exists"):
            # the first opening of the store in each process happens under a file lock.
            with open(db.with_name(db.name + ".init-lock"), "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    mlflow.get_experiment_by_name(self.experiment)
                    mlflow.MlflowClient().search_registered_models(max_results=1)
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
        experiment = mlflow.get_experiment_by_name(self.experiment)
        if experiment is not None:
            return experiment.experiment_id
        try:
            return mlflow.create_experiment(
                self.experiment, artifact_location=self.artifact_location or None
            )
        except mlflow.exceptions.MlflowException:
            # Another training run created it in the meantime (two backfills at once).
            experiment = mlflow.get_experiment_by_name(self.experiment)
            if experiment is None:
                raise
            return experiment.experiment_id

    def model_uri(self, version: str) -> str:
        return f"models:/{self.registered_model}/{version}"

    @property
    def ui_base(self) -> str:
        """The tracking server's address, or where `mlflow ui` serves a local store."""
        if self.tracking_uri.startswith(("http://", "https://")):
            return without_credentials(self.tracking_uri).rstrip("/")
        return LOCAL_UI

    def run_url(self, experiment_id: str, run_id: str) -> str:
        return f"{self.ui_base}/#/experiments/{experiment_id}/runs/{run_id}"

    def version_url(self, version: str) -> str:
        return f"{self.ui_base}/#/models/{self.registered_model}/versions/{version}"

    def ui_hint(self) -> str:
        if self.ui_base != LOCAL_UI:
            return self.ui_base
        uri = without_credentials(self.tracking_uri)
        return f"mlflow ui --backend-store-uri {uri}  (then {LOCAL_UI})"
