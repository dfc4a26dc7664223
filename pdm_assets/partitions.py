"""Partition definitions and the mappings between them."""

from __future__ import annotations

import dagster as dg

from pdm_assets.settings import load_settings


def daily_partitions(start_date: str | None = None) -> dg.DailyPartitionsDefinition:
    """Daily UTC partitions, ``YYYY-MM-DD``, ending with yesterday (a day is complete once over)."""
    return dg.DailyPartitionsDefinition(
        start_date=start_date or load_settings().start_date, timezone="UTC", fmt="%Y-%m-%d"
    )
