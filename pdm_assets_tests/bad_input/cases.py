"""The bad-input corpus: each case breaks one landing file of a clean day in one way.

Cases are text edits of the files the simulator lands (no binary blobs are checked in); the test
module applies each to a fresh copy of the day and asserts the policy:

- ``reject``: the partition fails with a message naming the file, line and column; nothing stored
  changes. For problems of the delivery as a whole (format, identity, time), where keeping part of
  the day or guessing would change the data silently.
- ``quarantine``: the bad rows go to ``rejected_rows/<table>`` with the reason, the rest is stored.
  For a row that is wrong on its own and whose loss the features already handle (a sensor glitch
  on one machine-hour, a line sent twice).
- ``accept``: not bad data after all; stored as is (or normalized, e.g. a byte-order mark).

``why`` is the reason for the policy; the README's "What happens to bad data" lists every case.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pdm_assets.landing import day_path, machines_path

DAY = date(2015, 1, 3)  # the day every case breaks; the days before it are stored and must stay
MACHINES = 4
TELEMETRY_ROWS = 24 * MACHINES


@dataclass(frozen=True)
class Case:
    name: str
    table: str  # the source that is read: a daily table or "machines"
    policy: str  # reject | quarantine | accept
    why: str
    break_files: Callable[[Path], None]
    message: tuple[str, ...] = ()  # fragments of the error, or of each rejected row's reason
    line: int | None = None  # the line the message (or the rejected row) must name
    column: str | None = None
    rows: int | None = None  # rows kept (accept / quarantine); None: the clean file's + extra
    extra_rows: int = 0
    rejected: int = 0
    while_reading: Callable[[Path], None] | None = None  # done after the read began

    def file(self, root: Path) -> Path:
        return machines_path(root) if self.table == "machines" else day_path(root, self.table, DAY)


# --- text edits ---------------------------------------------------------------------------------
def _path(root: Path, table: str) -> Path:
    return machines_path(root) if table == "machines" else day_path(root, table, DAY)


def _rows(root: Path, table: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(_path(root, table).read_text(encoding="utf-8"))))


def _write_rows(root: Path, table: str, rows: list[list[str]]) -> None:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    _path(root, table).write_text(out.getvalue(), encoding="utf-8")


def set_field(table: str, line: int, column: str, value: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        rows = _rows(root, table)
        rows[line - 1][rows[0].index(column)] = value
        _write_rows(root, table, rows)

    return edit


def append(table: str, *lines: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        path = _path(root, table)
        path.write_text(path.read_text(encoding="utf-8") + "".join(f"{x}\n" for x in lines))

    return edit


def repeat_line(table: str, line: int, **changes: str) -> Callable[[Path], None]:
    """Append a copy of ``line`` (with ``changes``) at the end of the file."""

    def edit(root: Path) -> None:
        rows = _rows(root, table)
        copy = list(rows[line - 1])
        for column, value in changes.items():
            copy[rows[0].index(column)] = value
        _write_rows(root, table, [*rows, copy])

    return edit


def keep_rows(table: str, keep: Callable[[list[str], list[str]], bool]) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        rows = _rows(root, table)
        _write_rows(root, table, [rows[0], *[r for r in rows[1:] if keep(rows[0], r)]])

    return edit


def columns(table: str, change: Callable[[list[list[str]]], list[list[str]]]):
    def edit(root: Path) -> None:
        _write_rows(root, table, change(_rows(root, table)))

    return edit


def raw_bytes(table: str, change: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        path = _path(root, table)
        path.write_bytes(change(path.read_bytes()))

    return edit


def _drop(name: str):
    def change(rows: list[list[str]]) -> list[list[str]]:
        i = rows[0].index(name)
        return [r[:i] + r[i + 1 :] for r in rows]

    return change


def _rename(old: str, new: str):
    return lambda rows: [[new if c == old else c for c in rows[0]], *rows[1:]]


def _add(name: str, value: str):
    return lambda rows: [[*rows[0], name], *[[*r, value] for r in rows[1:]]]


def _reorder(rows: list[list[str]]) -> list[list[str]]:
    return [list(reversed(r)) for r in rows]


def _truncate_last_line(data: bytes) -> bytes:
    body = data.rstrip(b"\n")
    return body[: body.rindex(b",", 0, body.rindex(b","))]  # cut two fields off the last row


def _grow(table: str) -> Callable[[Path], None]:
    return append(table, f"{DAY} 23:00:00,1,170.0,450.0,100.0,40.0")


# Lines are 1-based; line 1 is the header. Telemetry lines 2..97 hold the day's 96 readings.
_T = "telemetry"
REJECT_DELIVERY = "a broken delivery: storing part of it or guessing would change the data silently"
CASES: list[Case] = [
    # --- columns and format ---------------------------------------------------------------------
    Case(
        "missing column",
        _T,
        "reject",
        "a column the features need is gone: the whole file is from another producer or version",
        columns(_T, _drop("pressure")),
        ("missing column(s) ['pressure']",),
        line=1,
        column="pressure",
    ),
    Case(
        "extra column",
        _T,
        "reject",
        "an unknown column means the producer changed; reading on could mislabel values",
        columns(_T, _add("humidity", "0.5")),
        ("unexpected column(s) ['humidity']",),
        line=1,
        column="humidity",
    ),
    Case(
        "renamed column",
        _T,
        "reject",
        "same as a missing column; a rename is not guessed",
        columns(_T, _rename("machineID", "machine_id")),
        ("missing column(s) ['machineID']",),
        line=1,
        column="machineID",
    ),
    Case(
        "reordered columns",
        _T,
        "accept",
        "columns are read by name, not position",
        columns(_T, _reorder),
        rows=TELEMETRY_ROWS,
    ),
    Case(
        "wrong type (text in a number)",
        _T,
        "reject",
        "a format breakage, not a sensor glitch: the file is not what the producer meant to send",
        set_field(_T, 5, "volt", "abc"),
        ("cannot parse value as double", "'abc'"),
        line=5,
        column="volt",
    ),
    Case(
        "wrong type (fraction as machineID)",
        _T,
        "reject",
        REJECT_DELIVERY,
        set_field(_T, 6, "machineID", "1.5"),
        ("cannot parse value as int",),
        line=6,
        column="machineID",
    ),
    Case(
        "unparseable timestamp",
        _T,
        "reject",
        REJECT_DELIVERY,
        set_field(_T, 7, "datetime", f"{DAY} 25:00:00"),
        ("cannot parse value as timestamp",),
        line=7,
        column="datetime",
    ),
    Case(
        "timestamp with a UTC offset",
        _T,
        "reject",
        "the file is not in UTC as agreed; converting could move rows to another day's partition",
        set_field(_T, 8, "datetime", f"{DAY} 05:00:00+01:00"),
        ("cannot parse value as timestamp", "+01:00"),
        line=8,
        column="datetime",
    ),
    Case(
        "timestamp outside the partition",
        _T,
        "reject",
        "a row of another day means the "
        "producer's day split is wrong; storing it here would duplicate or hide that day's data",
        set_field(_T, 9, "datetime", "2015-01-04 01:00:00"),
        ("timestamp outside the partition",),
        line=9,
        column="datetime",
    ),
    Case(
        "empty file (0 bytes)",
        _T,
        "reject",
        "an interrupted delivery",
        raw_bytes(_T, lambda b: b""),
        ("empty file",),
        line=1,
    ),
    Case(
        "header-only telemetry",
        _T,
        "reject",
        "every machine reports every hour: a day "
        "without readings is a broken delivery, not a quiet day",
        keep_rows(_T, lambda h, r: False),
        ("no rows for 1 day(s): 2015-01-03",),
    ),
    Case(
        "truncated last line",
        _T,
        "reject",
        "an interrupted write; the last row is incomplete",
        raw_bytes(_T, _truncate_last_line),
        ("malformed row", "expected 6 fields"),
        line=TELEMETRY_ROWS + 1,
    ),
    Case(
        "wrong delimiter (;)",
        _T,
        "reject",
        REJECT_DELIVERY,
        raw_bytes(_T, lambda b: b.replace(b",", b";")),
        ("fields separated by ';'",),
        line=1,
    ),
    Case(
        "non-UTF-8 bytes in a row",
        _T,
        "reject",
        "the file was exported in another encoding; other values may be wrong too",
        raw_bytes(
            _T, lambda b: b.replace(b"\n", b"\n2015-01-03 00:30:00,1,17\xe9.5,450,100,40\n", 1)
        ),
        ("bytes that are not UTF-8",),
        line=2,
        column="volt",
    ),
    Case(
        "non-UTF-8 bytes in the header",
        _T,
        "reject",
        "as above",
        raw_bytes(_T, lambda b: b.replace(b"volt", b"v\xf6lt", 1)),
        ("bytes that are not UTF-8",),
        line=1,
    ),
    Case(
        "byte-order mark",
        _T,
        "accept",
        "Excel writes one; it carries no data",
        raw_bytes(_T, lambda b: b"\xef\xbb\xbf" + b),
        rows=TELEMETRY_ROWS,
    ),
    Case(
        "Windows line endings",
        _T,
        "accept",
        "the same rows, values read exactly",
        raw_bytes(_T, lambda b: b.replace(b"\n", b"\r\n")),
        rows=TELEMETRY_ROWS,
    ),
    Case(
        "file grows while being read",
        _T,
        "reject",
        "a file that changed during the read may "
        "have been read half old, half new; re-run once it is final",
        lambda root: None,
        ("file changed while it was read",),
        while_reading=_grow(_T),
    ),
    # --- rows -----------------------------------------------------------------------------------
    Case(
        "exact duplicate row",
        _T,
        "quarantine",
        "a line sent twice; nothing is ambiguous, one copy is kept and the repeat is recorded",
        repeat_line(_T, 10),
        ("exact duplicate",),
        line=TELEMETRY_ROWS + 2,
        rows=TELEMETRY_ROWS,
        rejected=1,
    ),
    Case(
        "conflicting duplicates",
        _T,
        "reject",
        "two readings for one machine-hour: which is right is not knowable here",
        repeat_line(_T, 10, volt="99.5"),
        ("duplicate row (lines 10 and 98)", "conflict"),
    ),
    Case(
        "unknown machine",
        _T,
        "reject",
        "not in the inventory: the inventory or the file is "
        "wrong, and features would have no model or age for it",
        set_field(_T, 11, "machineID", "99"),
        ("unknown machine",),
        line=11,
        column="machineID",
    ),
    Case(
        "absurd sensor value",
        _T,
        "quarantine",
        "a sensor glitch on one machine-hour; the features count the readings of each window",
        set_field(_T, 12, "volt", "9999"),
        ("sensor reading out of range",),
        line=12,
        column="volt",
        rows=TELEMETRY_ROWS - 1,
        rejected=1,
    ),
    Case(
        "NaN sensor value",
        _T,
        "quarantine",
        "as an absurd value",
        set_field(_T, 13, "vibration", "NaN"),
        ("sensor reading out of range",),
        line=13,
        column="vibration",
        rows=TELEMETRY_ROWS - 1,
        rejected=1,
    ),
    Case(
        "blank sensor value",
        _T,
        "quarantine",
        "as an absurd value",
        set_field(_T, 14, "rotate", ""),
        ("missing value",),
        line=14,
        column="rotate",
        rows=TELEMETRY_ROWS - 1,
        rejected=1,
    ),
    Case(
        "telemetry missing for some machines and hours",
        _T,
        "accept",
        "real plants have gaps; features report the readings per window and flag partial windows",
        keep_rows(_T, lambda h, r: r[1] != "2" and not r[0].endswith(("03:00:00", "04:00:00"))),
        rows=TELEMETRY_ROWS - 24 - 2 * 3,
    ),
    # --- errors, maintenance, failures ----------------------------------------------------------
    Case(
        "unknown error code",
        "errors",
        "reject",
        "the vocabulary is closed; a new code needs a decision, not a silent new category",
        append("errors", f"{DAY} 07:00:00,1,error9"),
        ("unknown code", "error9"),
        column="errorID",
    ),
    Case(
        "header-only errors file",
        "errors",
        "accept",
        "a day without errors",
        keep_rows("errors", lambda h, r: False),
        rows=0,
    ),
    Case(
        "exact duplicate error",
        "errors",
        "quarantine",
        "as a repeated telemetry line",
        append("errors", f"{DAY} 07:00:00,1,error2", f"{DAY} 07:00:00,1,error2"),
        ("exact duplicate",),
        extra_rows=1,
        rejected=1,
    ),
    Case(
        "unknown component",
        "maintenance",
        "reject",
        "the vocabulary is closed",
        append("maintenance", f"{DAY} 06:00:00,2,comp7"),
        ("unknown code", "comp7"),
        column="comp",
    ),
    Case(
        "US datetime style",
        "maintenance",
        "accept",
        "the published Kaggle copy writes '1/3/2015 6:00:00 AM'; both styles mean UTC",
        append("maintenance", "1/3/2015 6:00:00 AM,1,comp1"),
        extra_rows=1,
    ),
    Case(
        "unknown failure component",
        "failures",
        "reject",
        "the vocabulary is closed",
        append("failures", f"{DAY} 06:00:00,1,comp0"),
        ("unknown code", "comp0"),
        column="failure",
    ),
    Case(
        "unknown machine in failures",
        "failures",
        "reject",
        "as unknown machine in telemetry",
        append("failures", f"{DAY} 06:00:00,42,comp1"),
        ("unknown machine",),
        column="machineID",
    ),
    Case(
        "failure without a maintenance record",
        "failures",
        "accept",
        "the failure is a fact "
        "the labels need; its replacement record may come later as a correction (until then "
        "the component's age keeps counting)",
        append("failures", f"{DAY} 06:00:00,1,comp2"),
        extra_rows=1,
    ),
    # --- machines inventory ---------------------------------------------------------------------
    Case(
        "machine without an age",
        "machines",
        "reject",
        "the inventory is small and "
        "maintained by hand; a guessed age would bias every feature row of that machine",
        set_field("machines", 3, "age", ""),
        ("missing value",),
        line=3,
        column="age",
    ),
    Case(
        "unknown model",
        "machines",
        "reject",
        "the vocabulary is closed",
        set_field("machines", 2, "model", "model9"),
        ("unknown code", "model9"),
        line=2,
        column="model",
    ),
    Case(
        "machine listed twice",
        "machines",
        "reject",
        "which row is right is not knowable",
        repeat_line("machines", 2, age="3"),
        ("duplicate row",),
        column="machineID",
    ),
    Case(
        "absurd age",
        "machines",
        "reject",
        "as a missing age",
        set_field("machines", 4, "age", "250"),
        ("bad age",),
        line=4,
        column="age",
    ),
]
