"""The act level's confirming evidence: which error codes confirm which component's precursor.

A precursor starts about 48 h before a failure, but most sensor excursions end without one; what
sets a real precursor apart is an error specific to the component that arrives about a day before
the failure. A forest trained on a small fleet sees a handful of failures per component and learns
that step only partly, so the act level can state it: a row confirms its component (the argmax of
p_comp1..p_comp4) when one of that component's confirming codes was logged in the last
`window_hours` (`{code}_hours_since` of the features). Which codes confirm which component is
learned from the training rows' labels, never assumed: a code confirms a component when rows with
that code in the window are labelled with that component's failure at least `min_lift` times as
often as rows overall, and at least half as often as with the component's best code (a background
code that happened to fall before a failure or two has a lift of 4-8; the matching one 15-40 on the
simulator). A component without such a code is confirmed by its risk alone. Whether the
act level uses confirmation at all is decided on the hold-out (alert_levels).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pdm_assets.schemas import COMPONENTS, ERROR_CODES

# The matching error comes about 24 h before a failure; 36 h keeps it in view until the failure.
CONFIRM_WINDOW_HOURS = 36
MIN_LIFT = 3.0
# Below this many labelled rows with the code in the window (one failure gives about 24), a lift
# rests on too little.
MIN_CONFIRMED_ROWS = 16


@dataclass(frozen=True)
class ActConfirmation:
    """Per component (comp1..comp4), the error codes that confirm its precursor."""

    codes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    window_hours: int = CONFIRM_WINDOW_HOURS

    def confirmed(self, component: Column) -> Column:
        """Boolean column: the row's `component` (a name column) has a confirming code in the
        window, or has no confirming code at all (its risk alone decides)."""
        cases = None
        for comp in COMPONENTS:
            codes = self.codes.get(comp, ())
            evidence = (
                functools.reduce(
                    operator.or_,
                    (
                        F.coalesce(F.col(f"{code}_hours_since") <= self.window_hours, F.lit(False))
                        for code in codes
                    ),
                )
                if codes
                else F.lit(True)
            )
            cases = (F if cases is None else cases).when(component == comp, evidence)
        return cases.otherwise(F.lit(False))

    def as_record(self) -> dict[str, object]:
        return {"codes": {c: list(v) for c, v in self.codes.items()}, "hours": self.window_hours}

    @classmethod
    def from_record(cls, record: Mapping[str, object] | None) -> ActConfirmation | None:
        if not record:
            return None
        codes = record.get("codes", {})
        return cls(
            codes={str(c): tuple(v) for c, v in dict(codes).items()},  # type: ignore[arg-type]
            window_hours=int(record.get("hours", CONFIRM_WINDOW_HOURS)),  # type: ignore[arg-type]
        )

    def describe(self) -> str:
        """E.g. "comp1: error1; comp2: error3; comp3: risk only; comp4: error5 (36 h)"."""
        parts = [
            f"{comp}: {', '.join(self.codes[comp]) if self.codes.get(comp) else 'risk only'}"
            for comp in COMPONENTS
        ]
        return "; ".join(parts) + f" (within {self.window_hours} h)"


def learn_act_confirmation(
    rows: DataFrame,
    label_column: str = "label_index",
    window_hours: int = CONFIRM_WINDOW_HOURS,
    min_lift: float = MIN_LIFT,
    min_rows: int = MIN_CONFIRMED_ROWS,
) -> ActConfirmation:
    """The confirming codes of labelled feature rows (label 1..4 = comp1..comp4), in one
    aggregation: a code confirms a component when its lift P(label = comp | code in window) /
    P(label = comp) is >= min_lift and >= half the component's best, on at least `min_rows`
    rows. Codes without a `{code}_hours_since` column (a reduced feature set) confirm nothing."""
    label = F.col(label_column).cast("int")
    present = [code for code in ERROR_CODES if f"{code}_hours_since" in rows.columns]
    recent = {
        code: F.coalesce(F.col(f"{code}_hours_since") <= window_hours, F.lit(False))
        for code in present
    }
    aggregates = [F.count(F.lit(1)).alias("total")]
    for i, comp in enumerate(COMPONENTS, start=1):
        aggregates.append(F.count(F.when(label == i, 1)).alias(comp))
    for code, flag in recent.items():
        aggregates.append(F.count(F.when(flag, 1)).alias(code))
        for i, comp in enumerate(COMPONENTS, start=1):
            aggregates.append(F.count(F.when(flag & (label == i), 1)).alias(f"{comp}_{code}"))
    counts = rows.agg(*aggregates).first().asDict()
    total = counts["total"]
    codes: dict[str, tuple[str, ...]] = {}
    for comp in COMPONENTS:
        base = counts[comp] / total if total else 0.0
        lifts = {
            code: counts[f"{comp}_{code}"] / counts[code] / base
            for code in present
            if base > 0 and counts[f"{comp}_{code}"] >= min_rows
        }
        floor = max(min_lift, max(lifts.values(), default=0.0) / 2)
        codes[comp] = tuple(code for code in present if lifts.get(code, 0.0) >= floor)
    return ActConfirmation(codes=codes, window_hours=window_hours)
