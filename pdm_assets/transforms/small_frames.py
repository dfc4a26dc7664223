"""DataFrames of a few driver-side rows (a range's days, a day's figures), built in the JVM."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T


def small_frame(
    spark: SparkSession, rows: Sequence[Sequence[Any]], schema: T.StructType | str
) -> DataFrame:
    """The rows of ``spark.createDataFrame(rows, schema)``, as literals.

    ``createDataFrame`` of Python rows (even of none) runs them through a Python worker to
    unpickle them, so a fresh process starts Spark's Python daemon for a handful of values (about
    a second of CPU per process; on a cluster, on each executor given a task). Literals need no
    Python worker.
    """
    struct = schema if isinstance(schema, T.StructType) else T.StructType.fromDDL(schema)
    fields = struct.fields
    if not rows:
        return spark.range(0).select(*(F.lit(None).cast(f.dataType).alias(f.name) for f in fields))
    structs = [
        F.struct(
            *(F.lit(v).cast(f.dataType).alias(f.name) for v, f in zip(row, fields, strict=True))
        )
        for row in rows
    ]
    return spark.range(1).select(F.inline(F.array(*structs)))
