"""Parity: is one partition of a table the same when computed by two deployments?

``compare_partition`` reads the partition from two table roots (e.g. the local deployment's and
the Databricks deployment's) with one Spark session and compares them row by row after sorting on
every column: same columns, same number of rows, equal values (floats within a relative
tolerance). The ``pdm-assets parity`` command prints the report and exits 1 on a difference.
Both roots must be readable from where it runs: a local or shared path, a cloud URI with
credentials, or ``dbfs:/`` when run on a Databricks cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

# Run-specific columns: which registry numbered the model, not what it computed.
DEFAULT_IGNORED = ("model_version",)


@dataclass
class ParityReport:
    table: str
    partition: str | None
    left_root: str
    right_root: str
    left_rows: int
    right_rows: int
    missing_columns: list[str] = field(default_factory=list)  # in left only
    extra_columns: list[str] = field(default_factory=list)  # in right only
    differing_rows: int = 0
    max_abs_difference: dict[str, float] = field(default_factory=dict)
    first_difference: str = ""
    ignored: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return (
            not self.missing_columns
            and not self.extra_columns
            and self.left_rows == self.right_rows
            and self.differing_rows == 0
        )

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "equal": self.equal}

    def summary(self) -> str:
        where = f"{self.table} {self.partition or '(unpartitioned)'}"
        if self.equal:
            return f"{where}: equal ({self.left_rows} rows; {self.left_root} == {self.right_root})"
        parts = [f"rows {self.left_rows} vs {self.right_rows}"]
        if self.missing_columns:
            parts.append(f"only in {self.left_root}: {', '.join(self.missing_columns)}")
        if self.extra_columns:
            parts.append(f"only in {self.right_root}: {', '.join(self.extra_columns)}")
        if self.differing_rows:
            parts.append(f"{self.differing_rows} row(s) differ, first: {self.first_difference}")
        return f"{where}: DIFFERENT ({'; '.join(parts)})"


def _sorted(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    keys = [c for c in ("machineID", "datetime") if c in columns]
    rest = [c for c in columns if c not in keys and frame[c].map(_sortable).all()]
    return frame[columns].sort_values(keys + rest, kind="stable").reset_index(drop=True)


def _sortable(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool, np.generic, pd.Timestamp))


def compare_frames(
    left: pd.DataFrame, right: pd.DataFrame, rtol: float = 1e-9
) -> tuple[int, dict[str, float], str]:
    """(rows that differ, max |difference| per float column, the first difference described)."""
    differing = np.zeros(len(left), dtype=bool)
    max_diff: dict[str, float] = {}
    first = ""
    for column in left.columns:
        a, b = left[column], right[column]
        if pd.api.types.is_float_dtype(a) and pd.api.types.is_float_dtype(b):
            same = np.isclose(a.to_numpy(), b.to_numpy(), rtol=rtol, atol=0.0, equal_nan=True)
            diff = (a - b).abs()
            max_diff[column] = float(diff.max()) if len(diff) and diff.notna().any() else 0.0
        else:
            same = np.array([_same(x, y, rtol) for x, y in zip(a, b, strict=True)], dtype=bool)
        if not first and not same.all():
            i = int(np.argmin(same))
            first = f"row {i} column {column}: {a.iloc[i]!r} != {b.iloc[i]!r}"
        differing |= ~same
    return int(differing.sum()), max_diff, first


def plain_value(value: Any) -> Any:
    """Nested arrays, lists and dicts (e.g. an alert's top features) as plain Python values."""
    if isinstance(value, (np.ndarray, list, tuple)):
        return [plain_value(v) for v in value]
    if isinstance(value, dict):
        return {k: plain_value(v) for k, v in value.items()}
    return value.item() if isinstance(value, np.generic) else value


def _same(x: Any, y: Any, rtol: float = 1e-9) -> bool:
    """Equal, with floats (also inside nested lists and dicts) within ``rtol``."""
    if _is_nan(x) and _is_nan(y):
        return True
    x, y = plain_value(x), plain_value(y)
    if isinstance(x, float) and isinstance(y, float):
        return bool(np.isclose(x, y, rtol=rtol, atol=0.0))
    if isinstance(x, list) and isinstance(y, list):
        return len(x) == len(y) and all(_same(a, b, rtol) for a, b in zip(x, y, strict=True))
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(_same(x[k], y[k], rtol) for k in x)
    return x == y


def _is_nan(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # arrays, lists
        return False


def compare_partition(
    spark: Any,
    table: str,
    partition: str | None,
    left_root: str,
    right_root: str,
    table_format: str = "parquet",
    right_format: str | None = None,
    ignore: Sequence[str] = DEFAULT_IGNORED,
    rtol: float = 1e-9,
) -> ParityReport:
    """Compare ``table``'s ``partition`` (None: the unpartitioned table) under two roots."""
    from pdm_assets.resources.storage import PartitionedTableStore

    keys = None if partition is None else [partition]
    frames = []
    for root, fmt in ((left_root, table_format), (right_root, right_format or table_format)):
        df = PartitionedTableStore(spark, root, fmt).read(table, keys)
        frames.append(df.toPandas())
    left, right = frames
    ignored = [c for c in ignore if c in left.columns or c in right.columns]
    left_cols = [c for c in left.columns if c not in ignored]
    right_cols = [c for c in right.columns if c not in ignored]
    report = ParityReport(
        table=table,
        partition=partition,
        left_root=left_root,
        right_root=right_root,
        left_rows=len(left),
        right_rows=len(right),
        missing_columns=[c for c in left_cols if c not in right_cols],
        extra_columns=[c for c in right_cols if c not in left_cols],
        ignored=ignored,
    )
    if report.missing_columns or report.extra_columns or len(left) != len(right):
        return report
    left, right = _sorted(left, left_cols), _sorted(right, left_cols)
    differing, max_diff, first = compare_frames(left, right, rtol)
    report.differing_rows, report.max_abs_difference, report.first_difference = (
        differing,
        max_diff,
        first,
    )
    return report
