"""Failure labels for grid rows: which component fails within the horizon after T.

A label looks strictly forward (T < failure <= T + horizon) while features look backward
(<= T), so a failure at exactly T is already in the past of its own row and is labelled on the
rows before it. Each failure is spread to the few grid rows whose horizon contains it, so there is
no join of failures against every grid row.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pdm_assets.schemas import COMPONENTS
from pdm_assets.transforms.features import (
    HOUR_US,
    GridFamily,
    add_to_grid,
    micros,
    spread_to_grid,
    to_utc,
)

LABELS: tuple[str, ...] = ("none", *COMPONENTS)
DEFAULT_HORIZON_HOURS = 48


def required_failure_window(
    start: datetime | date, end: datetime | date, horizon_hours: float = DEFAULT_HORIZON_HOURS
) -> tuple[datetime, datetime]:
    """Half-open [lo, hi) range of failure timestamps that labels of rows in [start, end) depend on.

    The exact need is (first T, last T + horizon]; [start, end + horizon) covers it and maps onto
    whole daily partitions, which is what the look-ahead partition mapping reads.
    """
    return to_utc(start), to_utc(end) + timedelta(hours=horizon_hours)


def label_upcoming_failures(
    grid: DataFrame,
    failures: DataFrame,
    horizon_hours: float = DEFAULT_HORIZON_HOURS,
    grid_rows: int | None = None,
) -> DataFrame:
    """The grid's columns plus `fails_comp1` … `fails_comp4` (int 0/1: that component fails with
    T < datetime <= T + horizon), `label` (string, one of LABELS) and `label_index` (int, its
    position in LABELS, for MLlib).

    `label` is the component of the earliest failure in the horizon, "none" without one.
    Tie rule: simultaneous earliest failures go to the lowest component number; they are never
    combined into a made-up class (the reference summed them), and `fails_comp*` still flags each.
    `grid` must hold grid times (multiples of the grid step), one row per (machineID, datetime),
    e.g. from feature_grid; `grid_rows`, its size when known, sizes the shuffle (add_to_grid).
    """
    if horizon_hours <= 0:
        raise ValueError(f"label horizon must be positive, got {horizon_hours} h")
    horizon_us = round(horizon_hours * HOUR_US)
    index = F.lit(None).cast("int")
    for i, comp in enumerate(COMPONENTS, start=1):
        index = F.when(F.col("failure") == comp, F.lit(i)).otherwise(index)
    parts = failures.filter(F.col("failure").isin(*COMPONENTS)).select(
        "machineID",
        # A failure at t belongs to the rows with t - horizon <= T < t.
        spread_to_grid(micros("datetime"), -horizon_us, 0).alias("_k"),
        # Structs order field by field: the minimum is the earliest, then the lowest component.
        F.struct(micros("datetime").alias("us"), index.alias("comp")).alias("_f_failure"),
    )
    label_index = F.coalesce(F.col("_f_first")["comp"], F.lit(0))
    label = F.lit(LABELS[0])
    for i, name in enumerate(LABELS[1:], start=1):
        label = F.when(label_index == i, F.lit(name)).otherwise(label)
    family = GridFamily(
        parts=parts,
        aggregates=[
            *(
                F.max((F.col("_f_failure")["comp"] == i).cast("int")).alias(f"_f_{c}")
                for i, c in enumerate(COMPONENTS, start=1)
            ),
            F.min("_f_failure").alias("_f_first"),
        ],
        outputs=[
            *(F.coalesce(F.col(f"_f_{c}"), F.lit(0)).alias(f"fails_{c}") for c in COMPONENTS),
            label.alias("label"),
            label_index.cast("int").alias("label_index"),
        ],
    )
    return add_to_grid(grid, [family], grid_rows)
