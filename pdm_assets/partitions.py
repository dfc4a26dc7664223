"""Partition definitions and the mappings between them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg

from pdm_assets.settings import Settings, load_settings
from pdm_assets.transforms.features import GRID_HOURS, required_input_windows

# The tags of a run that covers a range of partitions (a single-run backfill).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def partition_range_tags(first: date | str, last: date | str) -> dict[str, str]:
    """Run tags that make one run materialize partitions ``first`` .. ``last`` (inclusive)."""
    return {RANGE_START_TAG: str(first), RANGE_END_TAG: str(last)}


def materialize_days(
    assets: Sequence[Any],
    selection: Any,
    instance: dg.DagsterInstance,
    resources: Mapping[str, Any],
    first: date | str | None = None,
    last: date | str | None = None,
    **kwargs: Any,
) -> dg.ExecuteInProcessResult:
    """One in-process run over days ``first`` .. ``last``, tagged as a single-run backfill is, so
    scripts and tests exercise the same range path as the UI (``kwargs`` go to materialize)."""
    tags = partition_range_tags(first, last or first) if first is not None else {}
    return dg.materialize(
        assets, selection=selection, instance=instance, resources=resources, tags=tags, **kwargs
    )


def _day_after(day: date) -> str:
    return (day + timedelta(days=1)).isoformat()


def daily_partitions(start_date: str | None = None) -> dg.DailyPartitionsDefinition:
    """Daily UTC partitions, ``YYYY-MM-DD``, ending with yesterday (a day is complete once over),
    or with ``PDM_END_DATE`` for a fixed data set; with ``PDM_OPEN_DAY`` a live fleet's
    partitions run to today, the open day (see open_day)."""
    settings = load_settings()
    return dg.DailyPartitionsDefinition(
        start_date=start_date or settings.start_date,
        end_date=None if settings.end is None else _day_after(settings.end),
        timezone="UTC",
        fmt="%Y-%m-%d",
        end_offset=1 if settings.open_day and settings.end is None else 0,
    )


def open_day() -> date | None:
    """The day still being delivered hour by hour (the newest daily partition) when
    ``PDM_OPEN_DAY`` is set, else None.

    Its raw partitions hold the hours landed so far and its features stop at the newest reading;
    it is re-materialized as hours land, and ends equal to the same day processed once closed.
    Labels, training and evaluation never read it.
    """
    if not load_settings().open_day:
        return None
    return date.fromisoformat(daily_partitions().get_last_partition_key())


def _closed_days_end(settings: Settings) -> date | None:
    """The last closed day of a fixed data set: PDM_END_DATE, or the day before it when that day
    is the open day."""
    if settings.end is None:
        return None
    return settings.end - timedelta(days=1) if settings.open_day else settings.end


def horizon_days(horizon_hours: int) -> int:
    """Whole days of look-ahead a label of day D needs: failures of D .. D + this."""
    return -(-horizon_hours // 24)


def evaluation_lookback_days(horizon_hours: int) -> int:
    """Days of scores before D that the evaluation of D reads: every alert that could announce a
    failure of D lies within the horizon before it, plus a day for the start of its episode."""
    return horizon_days(horizon_hours) + 1


def label_partitions(
    horizon_hours: int | None = None, start_date: str | None = None
) -> dg.DailyPartitionsDefinition:
    """Daily partitions that end ``horizon_days`` before the raw ones.

    Dagster trims a look-ahead range at the newest partition without a word; ending the label
    partitions earlier means every label partition that exists (and so every one automation may
    ask for) has its whole horizon of failures available.
    """
    settings = load_settings()
    days = horizon_days(horizon_hours or settings.horizon_hours)
    closed_end = _closed_days_end(settings)
    if closed_end is not None:  # Dagster ignores a negative end_offset once an end_date is set
        return dg.DailyPartitionsDefinition(
            start_date=start_date or settings.start_date,
            end_date=_day_after(closed_end - timedelta(days=days)),
            timezone="UTC",
            fmt="%Y-%m-%d",
        )
    # Live: the newest closed day is yesterday, open day or not.
    return dg.DailyPartitionsDefinition(
        start_date=start_date or settings.start_date,
        timezone="UTC",
        fmt="%Y-%m-%d",
        end_offset=-days,
    )


def monthly_partitions(start_date: str | None = None) -> dg.MonthlyPartitionsDefinition:
    """Model periods: one per month, the current (unfinished) month included; with
    ``PDM_END_DATE``, up to the month of that day."""
    settings = load_settings()
    if settings.end is not None:
        next_month = (settings.end.replace(day=1) + timedelta(days=32)).replace(day=1)
        return dg.MonthlyPartitionsDefinition(
            start_date=start_date or settings.start_date,
            end_date=next_month.isoformat(),
            timezone="UTC",
            fmt="%Y-%m-%d",
        )
    return dg.MonthlyPartitionsDefinition(
        start_date=start_date or settings.start_date,
        timezone="UTC",
        fmt="%Y-%m-%d",
        end_offset=1,
    )


def model_lag_days(horizon_hours: int) -> int:
    """Day D is scored by the model of the month of D minus this many days.

    The model of period P learns from labels whose horizon ended before P started; mapping D to
    the month of D - (horizon + 1 day) leaves that model a few days to be trained on the
    schedule, so scoring a day never waits for future data.
    """
    return horizon_days(horizon_hours) + 1


def model_partition_for_day(day: date, horizon_hours: int) -> str:
    shifted = day - timedelta(days=model_lag_days(horizon_hours))
    return shifted.replace(day=1).isoformat()


# Months of history a model trains on by default (ModelConfig.history_months).
DEFAULT_HISTORY_MONTHS = 12


def _feature_lookback_days() -> int:
    """Whole raw days before D that D's features read, from the feature windows themselves."""
    day = datetime(2000, 1, 1, tzinfo=UTC)
    needs = required_input_windows(day, day + timedelta(days=1))
    earliest = min(lo for lo, _ in needs.values() if lo is not None)
    return -(-(day - earliest) // timedelta(days=1))


# Days of raw history a day's features read: the machine's own 7-day baseline of each sensor, and
# error counts over 7 days / hours since the last error (capped at 168 h).
FEATURE_LOOKBACK_DAYS = _feature_lookback_days()


@dataclass(frozen=True)
class TrainingWindow:
    """The days a model of one period trains on, and the exact row cutoff inside them."""

    first_day: date
    last_day: date
    cutoff: datetime  # rows need T + horizon < cutoff (the period's start)

    @property
    def days(self) -> list[date]:
        n = (self.last_day - self.first_day).days + 1
        return [self.first_day + timedelta(days=i) for i in range(n)]


def training_window(
    period_start: datetime, partitions_start: date, horizon_hours: int, months: int = 12
) -> TrainingWindow:
    """Up to ``months`` of history, ending where the labels' look-ahead would reach the period.

    A row at T is usable only if T + horizon < period start: its label saw nothing of the period.
    """
    period_start = period_start.replace(tzinfo=None)
    last_t = period_start - timedelta(hours=horizon_hours)
    # Latest grid time strictly before period_start - horizon.
    step = timedelta(hours=GRID_HOURS)
    last_t = datetime.combine(last_t.date(), datetime.min.time()) + step * (
        (last_t - datetime.combine(last_t.date(), datetime.min.time())) // step
    )
    if last_t + timedelta(hours=horizon_hours) >= period_start:
        last_t -= step
    month, year = period_start.month - months, period_start.year
    while month < 1:
        month, year = month + 12, year - 1
    first = max(date(year, month, min(period_start.day, 28)), partitions_start)
    return TrainingWindow(first_day=first, last_day=last_t.date(), cutoff=period_start)
