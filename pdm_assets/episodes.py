"""Sensor episodes as defined by the public-data statistics, in numpy (no Spark).

An *episode* of a component is a stretch of at least 12 hours in which the 12-hour rolling mean of
its sensor (comp1 -> volt up, comp2 -> rotate down, comp3 -> pressure up, comp4 -> vibration up)
is at least 0.8 hourly standard deviations away from the fleet mean, on that side. This is what
the sensors alone can say: the simulator is checked against it, and the quality benchmark's
*episode rule* (alert one hour after every episode starts) uses it as the limit the sensors allow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pdm_assets.schemas import COMPONENTS, SENSORS

EPISODE_SENSOR_SIDE: dict[str, tuple[str, int]] = {
    "comp1": ("volt", 1),
    "comp2": ("rotate", -1),
    "comp3": ("pressure", 1),
    "comp4": ("vibration", 1),
}
MATCHING_ERROR: dict[str, str] = {
    "comp1": "error1",
    "comp2": "error3",
    "comp3": "error4",
    "comp4": "error5",
}
ROLLING_HOURS = 12
THRESHOLD_STD = 0.8
MIN_HOURS = 12


@dataclass(frozen=True)
class FleetStats:
    mean: dict[str, float]
    std: dict[str, float]

    @classmethod
    def of(cls, telemetry: pd.DataFrame) -> FleetStats:
        return cls(
            mean={s: float(telemetry[s].mean()) for s in SENSORS},
            std={s: float(telemetry[s].std()) for s in SENSORS},
        )


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) indices of the runs of True in a 1-d bool array."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def sensor_episodes(telemetry: pd.DataFrame, stats: FleetStats | None = None) -> pd.DataFrame:
    """Episodes of every machine and component: machineID, component, start, end (datetimes of
    the first and last hour whose rolling mean is over the threshold), hours, shift (mean distance
    of the rolling mean from the fleet mean over the episode, in hourly stds, on the sensor's side).

    Telemetry must be hourly; a missing hour breaks the rolling window (the mean needs all 12).
    """
    stats = stats or FleetStats.of(telemetry)
    frame = telemetry.sort_values(["machineID", "datetime"])
    out = []
    for machine, rows in frame.groupby("machineID", sort=True):
        stamps = rows["datetime"].to_numpy()
        hours = (stamps - stamps[0]) // np.timedelta64(1, "h")
        complete = np.zeros(len(rows), dtype=bool)
        if len(rows) >= ROLLING_HOURS:
            # The window ending at i is complete when it spans exactly 12 consecutive hours.
            complete[ROLLING_HOURS - 1 :] = (
                hours[ROLLING_HOURS - 1 :] - hours[: len(rows) - ROLLING_HOURS + 1]
            ) == ROLLING_HOURS - 1
        for comp, (sensor, side) in EPISODE_SENSOR_SIDE.items():
            values = rows[sensor].to_numpy(dtype=np.float64)
            rolling = np.full(len(values), np.nan)
            if len(values) >= ROLLING_HOURS:
                csum = np.concatenate([[0.0], np.cumsum(values)])
                rolling[ROLLING_HOURS - 1 :] = (
                    csum[ROLLING_HOURS:] - csum[: len(values) - ROLLING_HOURS + 1]
                ) / ROLLING_HOURS
            distance = side * (rolling - stats.mean[sensor]) / stats.std[sensor]
            over = complete & (distance >= THRESHOLD_STD)
            for first, last in _runs(over):
                if last - first + 1 >= MIN_HOURS:
                    out.append(
                        (
                            int(machine),
                            comp,
                            stamps[first],
                            stamps[last],
                            last - first + 1,
                            float(distance[first : last + 1].mean()),
                        )
                    )
    columns = ["machineID", "component", "start", "end", "hours", "shift"]
    episodes = pd.DataFrame(out, columns=columns)
    episodes["start"] = pd.to_datetime(episodes["start"])
    episodes["end"] = pd.to_datetime(episodes["end"])
    return episodes.sort_values(["start", "machineID", "component"], ignore_index=True)


def match_failures(
    episodes: pd.DataFrame, failures: pd.DataFrame, after_hours: float = 12.0
) -> pd.DataFrame:
    """`episodes` plus `failure_time`: the first failure of the episode's component on its machine
    in [start, end + after_hours], else NaT (a false episode). The rolling mean lags, so a true
    episode may end a few hours after its failure."""
    fails = failures.rename(columns={"failure": "component", "datetime": "failure_time"})
    joined = episodes.reset_index().merge(fails, on=["machineID", "component"], how="left")
    inside = (joined.failure_time >= joined.start) & (
        joined.failure_time <= joined.end + pd.Timedelta(hours=after_hours)
    )
    first = joined[inside].groupby("index").failure_time.min()
    return episodes.assign(failure_time=first.reindex(episodes.index))


def episodes_before_failures(
    episodes: pd.DataFrame, failures: pd.DataFrame, after_hours: float = 12.0
) -> pd.DataFrame:
    """Per failure (machineID, failure, datetime): `lead_hours` = failure - start of the first
    episode of that component matched to it (NaN without one)."""
    matched = match_failures(episodes, failures, after_hours).dropna(subset=["failure_time"])
    first = matched.groupby(["machineID", "component", "failure_time"]).start.min().reset_index()
    first = first.rename(columns={"component": "failure", "failure_time": "datetime"})
    out = failures.merge(first, on=["machineID", "failure", "datetime"], how="left")
    out["lead_hours"] = (out["datetime"] - out["start"]) / pd.Timedelta(hours=1)
    return out.drop(columns="start")


def components_index() -> dict[str, int]:
    return {c: i for i, c in enumerate(COMPONENTS)}
