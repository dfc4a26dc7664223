"""Tunables with defaults, read from the environment when asked (never at import time)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

DEFAULT_START_DATE = "2015-01-01"  # the public Azure data set begins here


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


@dataclass(frozen=True)
class Settings:
    data_dir: str
    start_date: str
    source: str
    landing_dir: str
    n_machines: int
    seed: int
    horizon_hours: int
    history_start: str
    sim_profile: str
    landing_interval_hours: int
    end_date: str = ""  # empty: a live fleet, partitions end yesterday

    @property
    def history_start_date(self) -> date:
        """Start of the maintenance record: "never replaced" counts from here."""
        return date.fromisoformat(self.history_start)

    @property
    def start(self) -> date:
        return date.fromisoformat(self.start_date)

    @property
    def end(self) -> date | None:
        """PDM_END_DATE: the last day of a fixed data set (e.g. the published 2015 files), so
        the partitions stop there instead of running on to yesterday."""
        return date.fromisoformat(self.end_date) if self.end_date else None

    @property
    def tables_root(self) -> str:
        """URI root of the partitioned tables (a local path, dbfs:/ or a cloud URI)."""
        return _env("PDM_TABLES_ROOT", str(Path(self.data_dir) / "tables"))

    @property
    def mlflow_tracking_uri(self) -> str:
        """PDM_MLFLOW_TRACKING_URI or MLFLOW_TRACKING_URI; default a sqlite store under data_dir."""
        default = f"sqlite:///{Path(self.data_dir) / 'mlflow' / 'mlflow.db'}"
        return _env("PDM_MLFLOW_TRACKING_URI", _env("MLFLOW_TRACKING_URI", default))

    @property
    def mlflow_artifact_location(self) -> str:
        return _env("PDM_MLFLOW_ARTIFACTS", (Path(self.data_dir) / "mlflow" / "artifacts").as_uri())


def load_settings() -> Settings:
    data_dir = str(Path(_env("PDM_DATA_DIR", str(Path.cwd() / "data"))).absolute())
    return Settings(
        data_dir=data_dir,
        start_date=_env("PDM_START_DATE", DEFAULT_START_DATE),
        source=_env("PDM_SOURCE", "simulator"),
        landing_dir=_env("PDM_LANDING_DIR", str(Path(data_dir) / "landing")),
        n_machines=int(_env("PDM_MACHINES", "100")),
        seed=int(_env("PDM_SEED", "42")),
        horizon_hours=int(_env("PDM_HORIZON_HOURS", "48")),
        history_start=_env("PDM_HISTORY_START", "2014-01-01"),
        sim_profile=_env("PDM_SIM_PROFILE", "realistic"),
        landing_interval_hours=int(_env("PDM_LANDING_INTERVAL_HOURS", "24")),
        end_date=_env("PDM_END_DATE", ""),
    )
