"""Deterministic fleet simulator producing the five tables of the public Azure PdM data set.

Why a simulator: every layer (features, labels, model, scoring) needs realistic, reproducible data
at any fleet size, and a partition must be regenerable on its own. So a day's data depends only on
the seed, the day and the replayed event history, never on the requested range or on earlier days.

Model, in short:
- Each (machine, component) has its own RNG stream that walks forward from ``history_start``: at
  that moment the component was last replaced up to ~60 days earlier; after each replacement a
  Weibull time-to-failure (shape > 1, scale shrinking with machine age) competes with a scheduled
  replacement (>= 15 days later); the earlier one happens. Failures are also replacements. 06:00.
- Telemetry of day D is i.i.d. Gaussian noise from an RNG keyed by (seed, D) around a per-machine
  mean, plus a 48 h step shift of one sensor in *precursor episodes*: before each failure of the
  matching component, and (profile ``realistic``, the default) in about 2.6 false episodes per
  failure that end without one. Both kinds draw their amplitude from the same distribution, so
  the sensors alone cannot tell them apart, as in the public data set.
- Errors are background noise from an RNG keyed by (seed, D) at per-code rates, plus the matching
  error (comp1 -> error1, comp2 -> error3, comp3 -> error4, comp4 -> error5) about 24 h before 93 %
  of failures and inside 10 % of false episodes: the evidence that separates true from false.

Profile ``clean`` drops the false episodes (and their errors): every sensor excursion then means a
failure, an easy signal for unit tests of the learning machinery.

Machine k's data does not depend on the fleet size: a fleet of 50 is the first 50 machines of a
fleet of 1,000 (same seed).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from pdm_assets.schemas import (
    COMPONENTS,
    ERROR_CODES,
    MACHINE_MODELS,
    MAX_MACHINE_AGE,
    SENSOR_RANGES,
    SENSORS,
)

# --- fleet ----------------------------------------------------------------------------------------
_MODEL_WEIGHTS = np.array([0.16, 0.17, 0.35, 0.32])  # model1..model4

# --- telemetry targets (fleet mean and std per sensor, as in the public data set) -----------------
_SENSOR_MEAN = np.array([171.0, 446.0, 100.6, 40.3])
_SENSOR_STD = np.array([15.6, 53.0, 10.7, 5.3])
# Failure precursor, in sensor stds: comp1 -> volt up, comp2 -> rotate down, comp3 -> pressure up,
# comp4 -> vibration up. Component i shifts sensor i.
_PRECURSOR_STD = np.array([1.3, -1.4, 2.2, 2.0])
_PRECURSOR_HOURS = 48
_AMPLITUDE_JITTER = 0.2  # episode amplitude = nominal * U(1 - j, 1 + j), true and false alike
_MACHINE_OFFSET_STD = 0.1  # per-machine bias, in sensor stds
PROFILES: tuple[str, ...] = ("realistic", "clean")
# False precursor episodes per (machine, component) and day. Measured with the episode definition
# of the public-data statistics (12 h rolling mean >= 0.8 hourly std for >= 12 h), this gives ~2.6
# episodes without a failure per failure; noise alone adds a few.
_FALSE_EPISODES_PER_DAY = 0.0125
_EPISODE_BLOCK = 64

# --- event model (tuned so the fleet averages ~8 failures and ~33 replacements per machine-year) --
_WEIBULL_SHAPE = 2.0  # > 1: the longer since replacement, the likelier a failure
_WEIBULL_SCALE_DAYS = 143.0  # scale for a new machine
_AGE_DECAY = 0.03  # scale *= exp(-decay * age): a 20-year-old machine wears ~1.8x faster
_MIN_SCHEDULED_DAYS = 15
_SCHEDULED_EXTRA_MEAN_DAYS = 39.0  # scheduled interval = 15 + floor(Exponential(mean))
_INITIAL_MAX_DAYS = 60  # last replacement before history_start: uniform 0..60 days earlier
_EVENT_HOUR = 6
_BLOCK = 32  # replacement cycles drawn per RNG call; fixed so streams don't depend on the range

# --- errors ---------------------------------------------------------------------------------------
# The matching error of a component (comp1..comp4 -> error1, error3, error4, error5) appears about
# 24 h (22..26 h) before 93 % of its failures and inside 10 % of false episodes (public data: 39 of
# 42 failures, 11 of 111 false episodes).
_MATCHING_CODE = np.array([0, 2, 3, 4])  # index into ERROR_CODES, per component
_P_ERROR_BEFORE_FAILURE = 0.93
_P_ERROR_IN_FALSE_EPISODE = 0.07  # plus background errors that fall inside
_ERROR_LEAD_HOURS = (22, 26)  # inclusive range, hours before the failure (or the episode's end)
# Background errors per machine-year, error1..error5: with the precursor errors this gives the
# public follow rates (share of errors followed by the matching failure within 30 h: error1 21 %,
# error3 33 %, error4 14 %, error5 44 %) at ~2 failures per component-year, and ~40 errors in all.
_BACKGROUND_ERRORS_PER_YEAR = np.array([7.2, 9.9, 3.4, 11.4, 1.9])
_P_BACKGROUND = _BACKGROUND_ERRORS_PER_YEAR / (365.25 * 24)

# Precursor shifts move the fleet mean and inflate the std a little (1-4 % of hours per sensor are
# shifted); compensate so the published mean/std hold over the whole table, for either profile.
_PRECURSOR_SHIFT = _PRECURSOR_STD * _SENSOR_STD
_SHIFT_SECOND_MOMENT = 1 + _AMPLITUDE_JITTER**2 / 3  # E[U(1-j, 1+j)^2]


def _shifted_fraction(profile: str) -> float:
    per_day = 8.0 / len(COMPONENTS) / 365.25
    if profile == "realistic":
        per_day += _FALSE_EPISODES_PER_DAY
    return per_day * _PRECURSOR_HOURS / 24


def _base_and_noise(profile: str) -> tuple[np.ndarray, np.ndarray]:
    fraction = _shifted_fraction(profile)
    base = _SENSOR_MEAN - fraction * _PRECURSOR_SHIFT
    noise = np.sqrt(
        _SENSOR_STD**2
        - (_MACHINE_OFFSET_STD * _SENSOR_STD) ** 2
        - (fraction * _SHIFT_SECOND_MOMENT - fraction**2) * _PRECURSOR_SHIFT**2
    )
    return base, noise


_SENSOR_LOW = np.array([SENSOR_RANGES[s][0] for s in SENSORS])
_SENSOR_HIGH = np.array([SENSOR_RANGES[s][1] for s in SENSORS])

# RNG keys are always [seed, a, b, tag]: SeedSequence pads short keys with zeros, so keys of
# different lengths could collide; a fixed length with a distinct tag per purpose cannot.
_TAG_EVENTS = 1
_TAG_TELEMETRY = 2
_TAG_ERRORS = 3
_TAG_MODEL = 4
_TAG_AGE = 5
_TAG_OFFSET = 6
_TAG_EPISODES = 7

_HOUR = np.timedelta64(1, "h")
_DAY_TABLES = ("telemetry", "errors", "maintenance", "failures")
_ERROR_CODES = np.array(ERROR_CODES, dtype=object)
_COMPONENTS = np.array(COMPONENTS, dtype=object)
_MODELS = np.array(MACHINE_MODELS, dtype=object)


@dataclass(frozen=True)
class _Events:
    """Replayed replacement history of the fleet; days and hours count from history_start 00:00."""

    day: np.ndarray  # int64, sorted by (day, machine, comp)
    machine: np.ndarray  # int64, 1..n
    comp: np.ndarray  # int64, 0..3
    failed: np.ndarray  # bool
    fail_day: np.ndarray  # failures only, same order
    fail_machine: np.ndarray
    fail_comp: np.ndarray
    err_hour: np.ndarray  # precursor errors, sorted by hour
    err_machine: np.ndarray
    err_code: np.ndarray  # 0..4
    shift_hour: np.ndarray  # precursor episodes (true and false): first shifted hour, sorted
    shift_machine: np.ndarray
    shift_comp: np.ndarray
    shift_amp: np.ndarray  # multiplier of the nominal shift
    shift_true: np.ndarray  # bool: ends in a failure


def _to_date(value: date | str) -> date:
    if isinstance(value, str):
        return date.fromisoformat(value)
    if isinstance(value, datetime):  # also pd.Timestamp
        return value.date()
    if isinstance(value, date):
        return value
    raise TypeError(
        f"expected a date or 'YYYY-MM-DD' string, got {type(value).__name__}: {value!r}"
    )


@functools.lru_cache(maxsize=8)
def _fleet(n_machines: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Model index, age and sensor offset per machine; an RNG per attribute keeps fleet prefixes."""
    models = np.random.default_rng([seed, 0, 0, _TAG_MODEL]).choice(
        len(MACHINE_MODELS), size=n_machines, p=_MODEL_WEIGHTS
    )
    ages = np.random.default_rng([seed, 0, 0, _TAG_AGE]).integers(
        0, MAX_MACHINE_AGE + 1, size=n_machines, dtype=np.int64
    )
    offsets = np.random.default_rng([seed, 0, 0, _TAG_OFFSET]).standard_normal((n_machines, 4))
    for arr in (models, ages, offsets):
        arr.flags.writeable = False
    return models, ages, offsets


def _amplitude(u: np.ndarray) -> np.ndarray:
    return 1 - _AMPLITUDE_JITTER + 2 * _AMPLITUDE_JITTER * u


def _error_lead(u: np.ndarray) -> np.ndarray:
    lo, hi = _ERROR_LEAD_HOURS
    return lo + (u * (hi - lo + 1)).astype(np.int64)


def _walk(rng: np.random.Generator, scale: float, n_days: int) -> np.ndarray:
    """One (machine, component) stream: rows (day, failed, has_error, error_lead_h, amplitude).

    Draws come in fixed blocks of cycles, so the stream (and every event) is the same however far it
    is walked; only the trimming depends on ``n_days``.
    """
    last = -int(rng.integers(0, _INITIAL_MAX_DAYS + 1))  # last replacement before history_start
    blocks = []
    while last < n_days:
        to_fail = np.maximum(1.0, np.ceil(scale * rng.weibull(_WEIBULL_SHAPE, _BLOCK)))
        scheduled = _MIN_SCHEDULED_DAYS + np.floor(
            rng.exponential(_SCHEDULED_EXTRA_MEAN_DAYS, _BLOCK)
        )
        u = rng.random((_BLOCK, 5))
        failed = to_fail < scheduled  # a tie is caught by the scheduled replacement
        days = last + np.cumsum(np.where(failed, to_fail, scheduled))
        last = int(days[-1])
        block = np.empty((_BLOCK, 5), dtype=np.float64)
        block[:, 0] = days
        block[:, 1] = failed
        block[:, 2] = u[:, 0] < _P_ERROR_BEFORE_FAILURE
        block[:, 3] = _error_lead(u[:, 1])
        block[:, 4] = _amplitude(u[:, 2])
        # Before history_start nothing exists; the walk's pre-history is only a burn-in.
        blocks.append(block[(days >= 0) & (days < n_days)])
    return np.concatenate(blocks)


def _false_episodes(rng: np.random.Generator, n_days: int) -> np.ndarray:
    """False precursor episodes of one (machine, component): rows (first_hour, has_error,
    error_lead_h, amplitude), a Poisson process in hours since history_start; block-drawn like
    _walk, so an episode does not depend on how far the stream is walked."""
    mean_gap_hours = 24 / _FALSE_EPISODES_PER_DAY
    last = -float(_PRECURSOR_HOURS)  # episodes may start before history_start and overlap it
    blocks = []
    while last < n_days * 24:
        gaps = rng.exponential(mean_gap_hours, _EPISODE_BLOCK)
        u = rng.random((_EPISODE_BLOCK, 3))
        starts = last + np.cumsum(gaps)
        last = float(starts[-1])
        block = np.empty((_EPISODE_BLOCK, 4), dtype=np.float64)
        block[:, 0] = np.floor(starts)
        block[:, 1] = u[:, 0] < _P_ERROR_IN_FALSE_EPISODE
        block[:, 2] = _error_lead(u[:, 1])
        block[:, 3] = _amplitude(u[:, 2])
        blocks.append(block[block[:, 0] < n_days * 24])
    return np.concatenate(blocks)


@functools.lru_cache(maxsize=8)
def _replay(n_machines: int, seed: int, n_days: int, profile: str = "realistic") -> _Events:
    """Walk every (machine, component) stream until day ``n_days``; complete for days < n_days.

    Cached because the per-day and per-table entry points all need the same history; callers round
    ``n_days`` up so nearby requests share one replay.
    """
    _, ages, _ = _fleet(n_machines, seed)
    walks, machines, comps = [], [], []
    episodes, ep_machines, ep_comps = [], [], []
    for machine in range(1, n_machines + 1):
        scale = _WEIBULL_SCALE_DAYS * np.exp(-_AGE_DECAY * ages[machine - 1])
        for comp in range(len(COMPONENTS)):
            walk = _walk(np.random.default_rng([seed, machine, comp, _TAG_EVENTS]), scale, n_days)
            walks.append(walk)
            machines.append(machine)
            comps.append(comp)
            if profile == "realistic":
                rng = np.random.default_rng([seed, machine, comp, _TAG_EPISODES])
                episodes.append(_false_episodes(rng, n_days))
                ep_machines.append(machine)
                ep_comps.append(comp)
    counts = [len(w) for w in walks]
    rows = np.concatenate(walks)
    machine = np.repeat(np.array(machines, dtype=np.int64), counts)
    comp = np.repeat(np.array(comps, dtype=np.int64), counts)
    order = np.lexsort((comp, machine, rows[:, 0]))
    rows, machine, comp = rows[order], machine[order], comp[order]
    day, failed = rows[:, 0].astype(np.int64), rows[:, 1].astype(bool)

    # Precursor episodes: the 48 h before each failure, then the false ones.
    f_rows, f_machine, f_comp = rows[failed], machine[failed], comp[failed]
    f_hour = day[failed] * 24 + _EVENT_HOUR
    ep_rows = np.concatenate(episodes) if episodes else np.empty((0, 4))
    ep_counts = [len(e) for e in episodes]
    ep_machine = np.repeat(np.array(ep_machines, dtype=np.int64), ep_counts)
    ep_comp = np.repeat(np.array(ep_comps, dtype=np.int64), ep_counts)
    ep_first = ep_rows[:, 0].astype(np.int64)
    shift_hour = np.concatenate([f_hour - _PRECURSOR_HOURS, ep_first])
    shift_machine = np.concatenate([f_machine, ep_machine])
    shift_comp = np.concatenate([f_comp, ep_comp])
    shift_amp = np.concatenate([f_rows[:, 4], ep_rows[:, 3]])
    shift_true = np.concatenate([np.ones(len(f_hour), bool), np.zeros(len(ep_first), bool)])
    s_order = np.lexsort((shift_comp, shift_machine, shift_hour))

    # Matching errors: before failures and inside some false episodes (same timing relative to the
    # episode's end, where a failure would have been).
    ep_end = ep_first + _PRECURSOR_HOURS
    has_f, has_ep = f_rows[:, 2] == 1, ep_rows[:, 1] == 1
    e_hour = np.concatenate(
        [(f_hour - f_rows[:, 3].astype(np.int64))[has_f], (ep_end - ep_rows[:, 2])[has_ep]]
    ).astype(np.int64)
    e_machine = np.concatenate([f_machine[has_f], ep_machine[has_ep]])
    e_code = _MATCHING_CODE[np.concatenate([f_comp[has_f], ep_comp[has_ep]])]
    e_keep = (e_hour >= 0) & (e_hour < n_days * 24)
    e_order = np.lexsort((e_code[e_keep], e_machine[e_keep], e_hour[e_keep]))

    events = _Events(
        day=day,
        machine=machine,
        comp=comp,
        failed=failed,
        fail_day=day[failed],
        fail_machine=f_machine,
        fail_comp=f_comp,
        err_hour=e_hour[e_keep][e_order],
        err_machine=e_machine[e_keep][e_order],
        err_code=e_code[e_keep][e_order],
        shift_hour=shift_hour[s_order],
        shift_machine=shift_machine[s_order],
        shift_comp=shift_comp[s_order],
        shift_amp=shift_amp[s_order],
        shift_true=shift_true[s_order],
    )
    for arr in vars(events).values():
        arr.flags.writeable = False
    return events


def _empty(table: str) -> dict[str, np.ndarray]:
    code_col = {"errors": "errorID", "maintenance": "comp", "failures": "failure"}
    cols: dict[str, np.ndarray] = {
        "datetime": np.array([], dtype="datetime64[ns]"),
        "machineID": np.array([], dtype=np.int64),
    }
    if table == "telemetry":
        cols.update({s: np.array([], dtype=np.float64) for s in SENSORS})
    else:
        cols[code_col[table]] = np.array([], dtype=object)
    return cols


def _frame(table: str, parts: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    """Concatenate per-day column arrays into one frame; one pandas construction per call."""
    if not parts:
        parts = [_empty(table)]
    cols = parts[0].keys()
    data = {
        c: np.concatenate([p[c] for p in parts]) if len(parts) > 1 else parts[0][c] for c in cols
    }
    return pd.DataFrame(data, copy=False)


@dataclass(frozen=True)
class FleetSimulator:
    """A seeded fleet whose tables can be generated for any day range, identically every time."""

    n_machines: int = 100
    seed: int = 42
    history_start: date = date(2014, 1, 1)  # events are replayed from here; nothing earlier exists
    profile: str = "realistic"  # or "clean": no false precursor episodes

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, got {self.profile!r}")
        if self.n_machines < 1:
            raise ValueError(f"n_machines must be >= 1, got {self.n_machines}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0 (numpy SeedSequence), got {self.seed}")
        object.__setattr__(self, "history_start", _to_date(self.history_start))

    # --- public tables ----------------------------------------------------------------------------
    def machines(self) -> pd.DataFrame:
        """Fleet inventory; independent of any date."""
        models, ages, _ = _fleet(self.n_machines, self.seed)
        return pd.DataFrame(
            {
                "machineID": np.arange(1, self.n_machines + 1, dtype=np.int64),
                "model": _MODELS[models],
                "age": ages.astype(np.int64),
            }
        )

    def telemetry(self, start: date | str, end: date | str) -> pd.DataFrame:
        """Hourly readings for days in [start, end)."""
        return self._range("telemetry", start, end)

    def errors(self, start: date | str, end: date | str) -> pd.DataFrame:
        """Error events for days in [start, end)."""
        return self._range("errors", start, end)

    def maintenance(self, start: date | str, end: date | str) -> pd.DataFrame:
        """Replacements (scheduled and after failures) for days in [start, end).

        Works for any days from history_start on, so the history before the first partition (e.g.
        the last replacement of each component) can be loaded into the inventory.
        """
        return self._range("maintenance", start, end)

    def failures(self, start: date | str, end: date | str) -> pd.DataFrame:
        """Component failures for days in [start, end)."""
        return self._range("failures", start, end)

    def day(self, day: date | str) -> dict[str, pd.DataFrame]:
        """The four daily tables of one partition, identical to that day within any range."""
        d0, _ = self._day_index(day, _to_date(day) + timedelta(days=1))
        events = self._events(d0 + 1)
        return {t: _frame(t, [self._day_arrays(t, events, d0)]) for t in _DAY_TABLES}

    def iter_days(
        self, start: date | str, end: date | str
    ) -> Iterator[tuple[date, dict[str, pd.DataFrame]]]:
        """Yield (day, tables) for days in [start, end), replaying events once for the whole range.

        Memory stays at about one day's tables plus the (small) event history, whatever the range.
        """
        d0, d1 = self._day_index(start, end)
        events = self._events(d1)  # validate and replay before the first next()

        def generate() -> Iterator[tuple[date, dict[str, pd.DataFrame]]]:
            for d in range(d0, d1):
                tables = {t: _frame(t, [self._day_arrays(t, events, d)]) for t in _DAY_TABLES}
                yield self.history_start + timedelta(days=d), tables

        return generate()

    # --- internals --------------------------------------------------------------------------------
    def _day_index(self, start: date | str, end: date | str) -> tuple[int, int]:
        start_d, end_d = _to_date(start), _to_date(end)
        if start_d < self.history_start:
            raise ValueError(
                f"FleetSimulator: requested days from {start_d} but history_start is "
                f"{self.history_start}; nothing exists before it (use an earlier history_start)"
            )
        if end_d < start_d:
            raise ValueError(f"FleetSimulator: end {end_d} is before start {start_d}")
        return (start_d - self.history_start).days, (end_d - self.history_start).days

    def _events(self, d_end: int) -> _Events:
        # Telemetry and errors of day d look ahead to failures up to 48 h after it (days d+1, d+2).
        needed = d_end + 2
        return _replay(self.n_machines, self.seed, -(-needed // 366) * 366, self.profile)

    def _range(self, table: str, start: date | str, end: date | str) -> pd.DataFrame:
        d0, d1 = self._day_index(start, end)
        if d1 == d0:
            return _frame(table, [])
        events = self._events(d1)
        if table in ("maintenance", "failures"):  # no per-day RNG: slice the history directly
            return _frame(table, [self._event_arrays(table, events, d0, d1)])
        return _frame(table, [self._day_arrays(table, events, d) for d in range(d0, d1)])

    def _day_start(self, d: int) -> np.datetime64:
        return (np.datetime64(self.history_start, "D") + d).astype("datetime64[ns]")

    def _day_arrays(self, table: str, events: _Events, d: int) -> dict[str, np.ndarray]:
        if table == "telemetry":
            return self._telemetry_arrays(events, d)
        if table == "errors":
            return self._error_arrays(events, d)
        return self._event_arrays(table, events, d, d + 1)

    def _event_arrays(self, table: str, events: _Events, d0: int, d1: int) -> dict[str, np.ndarray]:
        if table == "failures":
            days, machine, comp = events.fail_day, events.fail_machine, events.fail_comp
        else:
            days, machine, comp = events.day, events.machine, events.comp
        lo, hi = np.searchsorted(days, [d0, d1])
        when = self._day_start(0) + (days[lo:hi] * 24 + _EVENT_HOUR) * _HOUR
        code_col = "failure" if table == "failures" else "comp"
        return {
            "datetime": when.astype("datetime64[ns]"),
            "machineID": machine[lo:hi].copy(),
            code_col: _COMPONENTS[comp[lo:hi]],
        }

    def _telemetry_arrays(self, events: _Events, d: int) -> dict[str, np.ndarray]:
        n = self.n_machines
        ordinal = (self.history_start + timedelta(days=d)).toordinal()
        noise = np.random.default_rng([self.seed, ordinal, 0, _TAG_TELEMETRY]).standard_normal(
            (n, 24, 4)
        )
        _, _, offsets = _fleet(n, self.seed)
        base_mean, noise_std = _base_and_noise(self.profile)
        base = base_mean + offsets * (_MACHINE_OFFSET_STD * _SENSOR_STD)  # (n, 4)
        # Rows ordered by (hour, machine): (24, n, 4).
        values = np.ascontiguousarray(noise.transpose(1, 0, 2)) * noise_std + base

        # Step shift during every precursor episode overlapping day d (true and false alike).
        lo, hi = np.searchsorted(events.shift_hour, [d * 24 - _PRECURSOR_HOURS + 1, d * 24 + 24])
        if hi > lo:
            first = events.shift_hour[lo:hi] - d * 24  # relative to day d 00:00
            hours = np.arange(24)
            inside = (hours >= first[:, None]) & (hours < first[:, None] + _PRECURSOR_HOURS)
            k, h = np.nonzero(inside)
            comp = events.shift_comp[lo:hi][k]
            shift = events.shift_amp[lo:hi][k] * _PRECURSOR_SHIFT[comp]
            np.add.at(values, (h, events.shift_machine[lo:hi][k] - 1, comp), shift)
        np.clip(values, _SENSOR_LOW, _SENSOR_HIGH, out=values)
        values = values.reshape(24 * n, 4)

        stamps = self._day_start(d) + np.arange(24) * _HOUR
        cols: dict[str, np.ndarray] = {
            "datetime": np.repeat(stamps.astype("datetime64[ns]"), n),
            "machineID": np.tile(np.arange(1, n + 1, dtype=np.int64), 24),
        }
        for i, sensor in enumerate(SENSORS):
            cols[sensor] = values[:, i]
        return cols

    def _error_arrays(self, events: _Events, d: int) -> dict[str, np.ndarray]:
        n = self.n_machines
        ordinal = (self.history_start + timedelta(days=d)).toordinal()
        rng = np.random.default_rng([self.seed, ordinal, 0, _TAG_ERRORS])
        # Background: independent per (machine, hour, code); shape keeps machine k fleet-size free.
        m0, h, c = np.nonzero(rng.random((n, 24, len(ERROR_CODES))) < _P_BACKGROUND)
        lo, hi = np.searchsorted(events.err_hour, [d * 24, d * 24 + 24])
        hour = np.concatenate([h, events.err_hour[lo:hi] - d * 24])
        machine = np.concatenate([m0 + 1, events.err_machine[lo:hi]])
        code = np.concatenate([c, events.err_code[lo:hi]])
        # One key per (hour, machine, code): unique() both sorts and drops coinciding duplicates.
        key = np.unique((hour * (n + 1) + machine) * len(ERROR_CODES) + code)
        code = key % len(ERROR_CODES)
        machine = (key // len(ERROR_CODES)) % (n + 1)
        hour = key // len(ERROR_CODES) // (n + 1)
        return {
            "datetime": (self._day_start(d) + hour * _HOUR).astype("datetime64[ns]"),
            "machineID": machine.astype(np.int64),
            "errorID": _ERROR_CODES[code],
        }
