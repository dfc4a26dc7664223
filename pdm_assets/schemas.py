"""The public Azure predictive-maintenance schema, in one place.

Every layer (simulator, CSV landing zone, validation, storage metadata) reads these names so the raw
tables keep the exact column names and codes of the published data set.
"""

from __future__ import annotations

from dataclasses import dataclass

SENSORS: tuple[str, ...] = ("volt", "rotate", "pressure", "vibration")
COMPONENTS: tuple[str, ...] = ("comp1", "comp2", "comp3", "comp4")
ERROR_CODES: tuple[str, ...] = ("error1", "error2", "error3", "error4", "error5")
MACHINE_MODELS: tuple[str, ...] = ("model1", "model2", "model3", "model4")
MAX_MACHINE_AGE = 20

# Plausible physical ranges; a reading outside is a broken file or sensor, not a precursor.
SENSOR_RANGES: dict[str, tuple[float, float]] = {
    "volt": (50.0, 300.0),
    "rotate": (100.0, 800.0),
    "pressure": (20.0, 200.0),
    "vibration": (5.0, 100.0),
}


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  # Spark SQL type name
    description: str


@dataclass(frozen=True)
class TableSchema:
    name: str
    columns: tuple[Column, ...]
    description: str

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


_DATETIME = Column("datetime", "timestamp", "UTC time of the record")
_MACHINE = Column("machineID", "int", "machine identifier, 1..N")

TELEMETRY = TableSchema(
    "telemetry",
    (
        _DATETIME,
        _MACHINE,
        Column("volt", "double", "voltage, hourly mean"),
        Column("rotate", "double", "rotation speed, hourly mean"),
        Column("pressure", "double", "pressure, hourly mean"),
        Column("vibration", "double", "vibration, hourly mean"),
    ),
    "Hourly sensor readings per machine.",
)
ERRORS = TableSchema(
    "errors",
    (_DATETIME, _MACHINE, Column("errorID", "string", "error1..error5")),
    "Non-breaking error events raised by the machine controller.",
)
MAINTENANCE = TableSchema(
    "maintenance",
    (_DATETIME, _MACHINE, Column("comp", "string", "replaced component, comp1..comp4")),
    "Component replacements, scheduled or after a failure (recorded at 06:00).",
)
FAILURES = TableSchema(
    "failures",
    (_DATETIME, _MACHINE, Column("failure", "string", "failed component, comp1..comp4")),
    "Component failures; each is also a replacement in maintenance.",
)
MACHINES = TableSchema(
    "machines",
    (
        _MACHINE,
        Column("model", "string", "model1..model4"),
        Column("age", "int", "machine age in years, 0..20"),
    ),
    "Fleet inventory.",
)

DAILY_TABLES: dict[str, TableSchema] = {
    t.name: t for t in (TELEMETRY, ERRORS, MAINTENANCE, FAILURES)
}
ALL_TABLES: dict[str, TableSchema] = {**DAILY_TABLES, "machines": MACHINES}

# Which code column carries a closed vocabulary, per table.
CODE_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "errors": ("errorID", ERROR_CODES),
    "maintenance": ("comp", COMPONENTS),
    "failures": ("failure", COMPONENTS),
    "machines": ("model", MACHINE_MODELS),
}
