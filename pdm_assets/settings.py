"""Tunables with defaults, read from the environment when asked (never at import time)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

DEFAULT_START_DATE = "2015-01-01"  # the public Azure data set begins here
DEFAULT_HISTORY_START = "2014-01-01"
# Written by the simulated demo: the live fleet's first day, so every later process (dagster dev,
# the CLI) shows the same partitions without repeating the settings.
FLEET_WINDOW_FILE = "fleet_window.json"


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
    # PDM_OPEN_DAY: the last daily partition is the open day (today, or PDM_END_DATE), refreshed
    # as its hourly files land; labels, training and evaluation stay on closed days.
    open_day: bool = False

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


def fleet_window(data_dir: str | Path) -> dict[str, Any]:
    """The saved window of a simulated live fleet (empty if none): defaults, not overrides."""
    path = Path(data_dir) / FLEET_WINDOW_FILE
    if not path.exists():
        return {}
    try:
        window = json.loads(path.read_text())
    except ValueError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc}); delete it or fix it") from exc
    for key in ("start_date", "history_start"):
        try:
            date.fromisoformat(str(window.get(key)))
        except ValueError:
            raise ValueError(
                f"{path}: {key} must be a YYYY-MM-DD date, got {window.get(key)!r}"
            ) from None
    return window


def save_fleet_window(data_dir: str | Path, start: date, history_start: date) -> Path:
    path = Path(data_dir) / FLEET_WINDOW_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    window = {"start_date": start.isoformat(), "history_start": history_start.isoformat()}
    path.write_text(json.dumps(window, indent=2) + "\n")
    return path


def load_settings() -> Settings:
    data_dir = str(Path(_env("PDM_DATA_DIR", str(Path.cwd() / "data"))).absolute())
    source = _env("PDM_SOURCE", "simulator")
    window = fleet_window(data_dir) if source == "simulator" else {}
    open_day = _env("PDM_OPEN_DAY", "0").lower() in ("1", "true", "yes")
    return Settings(
        data_dir=data_dir,
        start_date=_env("PDM_START_DATE", window.get("start_date", DEFAULT_START_DATE)),
        source=source,
        landing_dir=_env("PDM_LANDING_DIR", str(Path(data_dir) / "landing")),
        n_machines=int(_env("PDM_MACHINES", "100")),
        seed=int(_env("PDM_SEED", "42")),
        horizon_hours=int(_env("PDM_HORIZON_HOURS", "48")),
        history_start=_env("PDM_HISTORY_START", window.get("history_start", DEFAULT_HISTORY_START)),
        sim_profile=_env("PDM_SIM_PROFILE", "realistic"),
        # Hourly files for the open day: a row is published an hour after its newest reading.
        landing_interval_hours=int(_env("PDM_LANDING_INTERVAL_HOURS", "1" if open_day else "24")),
        end_date=_env("PDM_END_DATE", ""),
        open_day=open_day,
    )
