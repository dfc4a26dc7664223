"""Partitioned table storage: one parquet folder per asset and daily partition, swapped atomically.

Layout under one root URI (a local path, ``dbfs:/...`` or a cloud path; all file operations go
through Hadoop's FileSystem API, so the same code runs wherever Spark does)::

    <root>/<asset>/dt=YYYY-MM-DD/part-*.parquet     a daily partition (Hive style)
    <root>/<asset>/data/part-*.parquet              an unpartitioned asset
    <root>/<asset>/_staging/<write-id>/...          new versions being written
    <root>/<asset>/_trash/<write-id>/...            old versions being replaced
    <root>/<asset>/_swaps/<write-id>.json           journal of a swap in progress

A write stages every partition first, then records a journal, then swaps each partition with two
renames (old -> trash, staged -> live). A crash before the journal leaves the live data untouched;
a crash after it is rolled forward by the next access to the asset, so a reader always sees either
the old or the new version of a partition, never a mix and never a hole.

Concurrent writers (two backfills of one asset) stage in parallel; journal and swap happen under a
per-table lock (``<root>/<asset>/_swaps.lock``, an OS file lock for local roots), so recovery never
finishes the swap of a writer that is still alive and two swaps of one partition never interleave.
The last writer to swap wins, with its complete version. Remote roots (dbfs:/, cloud paths) have
no such lock here: there the table format (Delta on Databricks) provides the transactions.
"""

import contextlib
import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from functools import reduce
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow.parquet as pq
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pdm_assets.resources.spark import SparkSessionResource

PARTITION_COLUMN = "dt"
UNPARTITIONED_FOLDER = "data"
ORPHAN_STAGING_AGE_SECONDS = 6 * 3600
TABLE_FORMATS = ("parquet", "delta")
# Test hook, "<phase>:<marker file>:<seconds>": at that phase of a write, append the phase to the
# marker file and sleep, so a test can kill the process or race another writer there. Phases:
# staged (before the lock), journaled (journal written, nothing swapped), half-swapped (first
# partition moved to trash, its new version not yet in place).
PHASE_HOOK_ENV = "PDM_STORE_PHASE_HOOK"


def _phase(name: str) -> None:
    hook = os.environ.get(PHASE_HOOK_ENV, "")
    if not hook:
        return
    phase, marker, seconds = hook.split(":", 2)
    if phase == name:
        with open(marker, "a") as fh:
            fh.write(f"{name} {os.getpid()} {time.time()}\n")
        time.sleep(float(seconds))


CHECKS_FOLDER = "_failed_checks"


class TableStoreError(RuntimeError):
    """A table or partition that should be there is not, or a write does not fit its partitions."""


class FailedCheckError(TableStoreError):
    """A partition failed a blocking check: it is stored, but must not be used downstream."""


class _HadoopFs:
    """The few file operations the swap needs, on any filesystem Hadoop knows."""

    def __init__(self, spark: SparkSession, root: str):
        jvm = spark._jvm
        self._jvm = jvm
        self._Path = jvm.org.apache.hadoop.fs.Path
        self._conf = spark._jsc.hadoopConfiguration()
        self._fs = self._Path(root).getFileSystem(self._conf)

    def exists(self, path: str) -> bool:
        return bool(self._fs.exists(self._Path(path)))

    def rename(self, src: str, dst: str, *, make_parent: bool = True) -> None:
        parent = self._Path(dst).getParent() if make_parent else None
        if parent is not None and not self._fs.exists(parent):
            self._fs.mkdirs(parent)
        if not self._fs.rename(self._Path(src), self._Path(dst)):
            raise TableStoreError(f"could not rename {src} to {dst}")

    def delete(self, path: str) -> None:
        self._fs.delete(self._Path(path), True)

    def copy(self, src: str, dst: str) -> None:
        """Copy a file or folder (recursively) within this filesystem."""
        util = self._jvm.org.apache.hadoop.fs.FileUtil
        if not util.copy(self._fs, self._Path(src), self._fs, self._Path(dst), False, self._conf):
            raise TableStoreError(f"could not copy {src} to {dst}")

    def list_names(self, path: str) -> list[str]:
        if not self.exists(path):
            return []
        return [status.getPath().getName() for status in self._fs.listStatus(self._Path(path))]

    def modified_seconds_ago(self, path: str) -> float:
        status = self._fs.getFileStatus(self._Path(path))
        return time.time() - status.getModificationTime() / 1000.0

    def write_text(self, path: str, text: str) -> None:
        # Write aside and rename, so a journal is either whole or absent.
        tmp = f"{path}.{uuid.uuid4().hex}.tmp"
        stream = self._fs.create(self._Path(tmp), True)
        try:
            stream.write(bytearray(text.encode("utf-8")))
        finally:
            stream.close()
        self.rename(tmp, path)

    def read_text(self, path: str) -> str:
        stream = self._fs.open(self._Path(path))
        try:
            return str(self._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8"))
        finally:
            stream.close()


class _LocalFs:
    """The same operations on a local root, in Python: a JVM call costs ~10 ms and a Hadoop
    copy ~70 ms, which a year-long backfill pays per partition. Renames are POSIX-atomic."""

    @staticmethod
    def _p(path: str) -> str:
        local = _local_path(path)
        if local is None:
            raise TableStoreError(f"{path} is not a local path")
        return local

    def exists(self, path: str) -> bool:
        return os.path.exists(self._p(path))

    def rename(self, src: str, dst: str, *, make_parent: bool = True) -> None:
        target = self._p(dst)
        if make_parent:
            os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            if os.path.exists(target):
                raise FileExistsError(target)
            os.rename(self._p(src), target)
        except OSError as exc:
            raise TableStoreError(f"could not rename {src} to {dst}: {exc}") from exc

    def delete(self, path: str) -> None:
        local = self._p(path)
        if os.path.isdir(local):
            shutil.rmtree(local, ignore_errors=True)
        elif os.path.lexists(local):
            os.remove(local)

    def copy(self, src: str, dst: str) -> None:
        source, target = self._p(src), self._p(dst)
        try:
            if os.path.isdir(source):
                shutil.copytree(source, target)
            else:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copyfile(source, target)
        except OSError as exc:
            raise TableStoreError(f"could not copy {src} to {dst}: {exc}") from exc

    def list_names(self, path: str) -> list[str]:
        try:
            return os.listdir(self._p(path))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def modified_seconds_ago(self, path: str) -> float:
        return time.time() - os.stat(self._p(path)).st_mtime

    def write_text(self, path: str, text: str) -> None:
        # Write aside and rename, so a journal is either whole or absent.
        target = self._p(path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = f"{target}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)

    def read_text(self, path: str) -> str:
        with open(self._p(path), encoding="utf-8") as fh:
            return fh.read()


class PartitionedTableStore:
    """Read and write one asset's partitions under ``root``; usable without Dagster."""

    def __init__(self, spark: SparkSession, root: str, table_format: str = "parquet"):
        if table_format not in TABLE_FORMATS:
            # Delta is built into Databricks; elsewhere its jars must be on the classpath.
            raise TableStoreError(
                f"table format {table_format!r} is not supported; expected one of {TABLE_FORMATS}"
            )
        self.spark = spark
        self.root = root.rstrip("/")
        self.table_format = table_format
        self._fs: _HadoopFs | _LocalFs = (
            _LocalFs() if _local_path(self.root) is not None else _HadoopFs(spark, self.root)
        )

    # -- locations -------------------------------------------------------------------------
    def table_path(self, table: str) -> str:
        return f"{self.root}/{table}"

    def partition_path(self, table: str, partition: str | None) -> str:
        if partition is None:
            return f"{self.table_path(table)}/{UNPARTITIONED_FOLDER}"
        return f"{self.table_path(table)}/{PARTITION_COLUMN}={partition}"

    def _entry(self, partition: str | None) -> str:
        return UNPARTITIONED_FOLDER if partition is None else f"{PARTITION_COLUMN}={partition}"

    # -- small records (e.g. which model version a partition produced) ----------------------
    def record_path(self, table: str, partition: str) -> str:
        return f"{self.table_path(table)}/{partition}.json"

    def write_record(self, table: str, partition: str, record: dict[str, Any]) -> None:
        """A small JSON document per partition, replaced atomically (write aside, rename)."""
        path = self.record_path(table, partition)
        pending = f"{path}.new"
        if self._fs.exists(pending):  # finish a crashed write before starting another
            self._fs.delete(path)
            self._fs.rename(pending, path)
        self._fs.write_text(pending, json.dumps(record, sort_keys=True, default=str))
        # A crash between these two steps leaves only the pending record, which reads prefer.
        self._fs.delete(path)
        self._fs.rename(pending, path)

    def read_record(self, table: str, partition: str) -> dict[str, Any]:
        path = self.record_path(table, partition)
        for candidate in (f"{path}.new", path):
            if self._fs.exists(candidate):
                return json.loads(self._fs.read_text(candidate))
        raise TableStoreError(f"partition {partition} of '{table}' not stored at {path}")

    # -- verdicts of blocking checks, per partition -------------------------------------------
    def record_check_failure(
        self, table: str, partitions: Sequence[str], check: str, reason: str
    ) -> None:
        """Mark partitions as failing ``check``: readers refuse them until the check passes."""
        for key in partitions:
            record = {"check": check, "reason": reason, "at": time.time()}
            self.write_record(f"{table}/{CHECKS_FOLDER}", key, record)

    def clear_check_failures(self, table: str, partitions: Sequence[str]) -> None:
        for key in partitions:
            self._fs.delete(self.record_path(f"{table}/{CHECKS_FOLDER}", key))

    def failed_checks(self, table: str, partitions: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The recorded failures among ``partitions`` (one listing, whatever their number)."""
        names = set(self._fs.list_names(f"{self.table_path(table)}/{CHECKS_FOLDER}"))
        return {
            key: self.read_record(f"{table}/{CHECKS_FOLDER}", key)
            for key in partitions
            if f"{key}.json" in names
        }

    def require_checks_passed(self, table: str, partitions: Sequence[str]) -> None:
        """Raise FailedCheckError naming the first partition whose blocking check failed."""
        failed = self.failed_checks(table, partitions)
        if failed:
            key = sorted(failed)[0]
            more = f" (and {len(failed) - 1} more day(s))" if len(failed) > 1 else ""
            raise FailedCheckError(
                f"'{table}' partition {key}{more} failed its blocking check "
                f"{failed[key]['check']}: {failed[key]['reason']}; fix the cause and "
                "re-materialize it with its checks before using it downstream"
            )

    # -- reads -----------------------------------------------------------------------------
    def exists(self, table: str, partition: str | None = None) -> bool:
        self.recover(table)
        return self._fs.exists(self.partition_path(table, partition))

    def stored_partitions(self, table: str) -> list[str]:
        self.recover(table)
        prefix = f"{PARTITION_COLUMN}="
        names = self._fs.list_names(self.table_path(table))
        return sorted(n[len(prefix) :] for n in names if n.startswith(prefix))

    def read(self, table: str, partitions: Sequence[str] | None = None) -> DataFrame:
        """One DataFrame over the given partitions (or the unpartitioned table)."""
        self.recover(table)
        keys: list[str | None] = list(partitions) if partitions is not None else [None]
        if not keys:
            raise TableStoreError(f"no partitions of '{table}' were asked for")
        paths = [self.partition_path(table, key) for key in keys]
        present = set(self._fs.list_names(self.table_path(table)))  # one listing, not one per day
        missing = [key for key in keys if self._entry(key) not in present]
        if missing:
            what = "the table" if missing == [None] else f"partition(s) {', '.join(missing)}"
            raise TableStoreError(
                f"{what} of '{table}' not stored under {self.table_path(table)}: "
                "materialize it first"
            )
        if self.table_format == "delta":  # a Delta read takes one table (folder) at a time
            frames = [self.spark.read.format("delta").load(path) for path in paths]
            return reduce(DataFrame.unionByName, frames)
        reader = self.spark.read.format(self.table_format)
        schema = stored_spark_schema(paths[0])
        return (reader.schema(schema) if schema is not None else reader).load(paths)

    # -- writes ----------------------------------------------------------------------------
    def write(
        self,
        table: str,
        df: DataFrame,
        partitions: Sequence[str] | None = None,
        time_column: str = "datetime",
    ) -> None:
        """Replace the given partitions (or the whole unpartitioned table) with ``df``.

        With several partitions, rows go to the partition of their ``time_column`` day; a
        partition that receives no rows is stored empty (with the schema), so that "no events
        that day" is different from "never materialized".
        """
        self.recover(table)
        write_id = f"{int(time.time())}-{uuid.uuid4().hex[:12]}"
        staging = f"{self.table_path(table)}/_staging/{write_id}"
        keys: list[str | None] = list(partitions) if partitions is not None else [None]
        try:
            self._stage(df, staging, keys, time_column)
        except Exception:
            self._fs.delete(staging)
            raise
        _phase("staged")
        with self._swap_lock(table):
            self._recover_locked(table)  # a journal here is a dead writer's: finish it first
            journal = f"{self.table_path(table)}/_swaps/{write_id}.json"
            self._fs.write_text(journal, json.dumps({"entries": [self._entry(k) for k in keys]}))
            _phase("journaled")
            self._complete_swap(table, write_id)

    @contextlib.contextmanager
    def _swap_lock(self, table: str) -> Iterator[None]:
        """Exclusive per-table lock for journal and swap; held until the process ends at worst
        (the OS drops it when a killed writer's file descriptor closes)."""
        local = _local_path(self.table_path(table))
        if local is None:
            yield
            return
        Path(local).mkdir(parents=True, exist_ok=True)
        with open(f"{local}/_swaps.lock", "a") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _stage(self, df: DataFrame, staging: str, keys: list[str | None], time_column: str) -> None:
        if keys == [None] or len(keys) == 1:
            df.write.format(self.table_format).save(f"{staging}/{self._entry(keys[0])}")
            return
        wanted = set(keys)
        day = F.date_format(F.col(time_column), "yyyy-MM-dd")
        staged = df.withColumn(PARTITION_COLUMN, day)
        (staged.write.format(self.table_format).partitionBy(PARTITION_COLUMN).save(staging))
        written = {
            n.split("=", 1)[1]
            for n in self._fs.list_names(staging)
            if n.startswith(f"{PARTITION_COLUMN}=")
        }
        stray = sorted(written - wanted)
        if stray:
            raise TableStoreError(
                f"rows dated {', '.join(stray[:5])} fall outside the partitions being written "
                f"({min(wanted)}..{max(wanted)})"
            )
        empty_keys = sorted(wanted - written)
        if not empty_keys:
            return
        # Days without rows are stored empty, with the schema: one Spark job writes the empty
        # version once, and each such day gets a copy (file operations only). A job per day made
        # most of a sparse table's backfill (e.g. 2,100 failures over a year: ~340 empty days).
        template = f"{staging}/_empty"
        df.limit(0).write.format(self.table_format).save(template)
        for key in empty_keys:
            self._fs.copy(template, f"{staging}/{self._entry(key)}")
        self._fs.delete(template)

    def _complete_swap(self, table: str, write_id: str) -> None:
        base = self.table_path(table)
        journal = f"{base}/_swaps/{write_id}.json"
        entries = json.loads(self._fs.read_text(journal))["entries"]
        # Three listings instead of three existence checks per partition (a year is 365 of them);
        # the swap lock is held, so nobody else changes these folders meanwhile.
        staged_names = set(self._fs.list_names(f"{base}/_staging/{write_id}"))
        live_names = set(self._fs.list_names(base))
        trash_dir = f"{base}/_trash/{write_id}"
        trash_names = set(self._fs.list_names(trash_dir))
        trash_made = bool(trash_names)
        for entry in entries:
            live = f"{base}/{entry}"
            staged = f"{base}/_staging/{write_id}/{entry}"
            trash = f"{trash_dir}/{entry}"
            if entry not in staged_names:
                continue  # this entry was swapped before an interruption
            if entry in live_names:
                if entry in trash_names:
                    self._fs.delete(live)  # live is a half-moved leftover; trash holds the old
                else:
                    self._fs.rename(live, trash, make_parent=not trash_made)
                    trash_made = True
                    _phase("half-swapped")
            self._fs.rename(staged, live, make_parent=False)
        self._fs.delete(journal)
        self._fs.delete(f"{base}/_trash/{write_id}")
        self._fs.delete(f"{base}/_staging/{write_id}")

    def recover(self, table: str) -> None:
        """Finish any swap a crashed writer left behind; drop old abandoned staging folders."""
        base = self.table_path(table)
        if not self._fs.list_names(f"{base}/_swaps") and not self._fs.list_names(
            f"{base}/_staging"
        ):
            return  # nothing to recover: no lock needed (the common case, on every read)
        with self._swap_lock(table):
            self._recover_locked(table)

    def _recover_locked(self, table: str) -> None:
        base = self.table_path(table)
        for name in self._fs.list_names(f"{base}/_swaps"):
            if name.endswith(".json"):
                self._complete_swap(table, name[: -len(".json")])
        for write_id in self._fs.list_names(f"{base}/_staging"):
            path = f"{base}/_staging/{write_id}"
            if self._fs.modified_seconds_ago(path) > ORPHAN_STAGING_AGE_SECONDS:
                self._fs.delete(path)


SPARK_SCHEMA_KEY = b"org.apache.spark.sql.parquet.row.metadata"


def stored_spark_schema(partition_path: str) -> T.StructType | None:
    """The schema Spark wrote into a local partition's parquet footer, as Spark reads it back.

    Without a schema every parquet read starts a Spark job to read footers (some 0.2 s on a
    small table, several per run); pyarrow reads one footer on the driver in a millisecond. None
    (Spark infers) for remote paths or a folder without a Spark-written file.
    """
    local = _local_path(partition_path)
    if local is None:
        return None
    first = next(iter(sorted(Path(local).glob("part-*.parquet"))), None)
    if first is None:
        return None
    metadata = pq.read_schema(first).metadata or {}
    if SPARK_SCHEMA_KEY not in metadata:
        return None
    return T.StructType.fromJson(_nullable(json.loads(metadata[SPARK_SCHEMA_KEY])))


def _nullable(data_type: Any) -> Any:
    """Every field nullable, as Spark makes a file source's schema (``StructType.asNullable``)."""
    if isinstance(data_type, list):
        return [_nullable(v) for v in data_type]
    if not isinstance(data_type, dict):
        return data_type
    out = {k: v if k == "metadata" else _nullable(v) for k, v in data_type.items()}
    for flag in ("nullable", "containsNull", "valueContainsNull"):
        if flag in out:
            out[flag] = True
    return out


def _local_path(uri: str) -> str | None:
    """The local filesystem path of a root URI, or None for a remote one."""
    for prefix in ("file://", "file:"):
        if uri.startswith(prefix):
            return uri[len(prefix) :]
    return None if ":" in uri.split("/", 1)[0] else uri  # dbfs:/..., s3://..., abfss://...


def _table_name(key: dg.AssetKey) -> str:
    return "/".join(key.path)


def _step_context(context: dg.OutputContext) -> Any:
    """The running step, where per-partition metadata is kept; None for a hand-built context."""
    try:
        return context.step_context
    except dg.DagsterInvariantViolationError:
        return None


class TableStoreResource(dg.ConfigurableResource):
    """The table store as a resource, for assets that read their own earlier partitions."""

    root: str
    table_format: str = "parquet"
    pyspark: dg.ResourceDependency[SparkSessionResource]

    def store(self) -> PartitionedTableStore:
        return PartitionedTableStore(self.pyspark.spark_session, self.root, self.table_format)


class PartitionedParquetIOManager(dg.ConfigurableIOManager):
    """Stores Spark DataFrames as parquet tables, one folder per asset and daily partition.

    Single-run backfills hand over one DataFrame for a whole range; it is split by the day of its
    ``datetime`` column. Inputs that map to several upstream partitions load as one DataFrame.
    """

    tables: dg.ResourceDependency[TableStoreResource]

    def store(self) -> PartitionedTableStore:
        return self.tables.store()

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if not isinstance(obj, DataFrame):
            raise TableStoreError(
                f"{context.asset_key.to_user_string()} returned {type(obj).__name__}, "
                "expected a Spark DataFrame"
            )
        partitions = context.asset_partition_keys if context.has_asset_partitions else None
        table = _table_name(context.asset_key)
        store = self.store()
        store.write(table, obj, partitions)
        if obj.is_cached:  # the asset cached it for its metadata; downstream reads the table
            obj.unpersist()
        step = _step_context(context)
        if not partitions or len(partitions) == 1 or step is None:
            first = partitions[0] if partitions else None
            context.add_output_metadata(
                {"path": dg.MetadataValue.path(store.partition_path(table, first))}
            )
            return
        # A range run: each partition's materialization names its own folder, not the first one.
        for key in partitions:
            step.add_asset_metadata(
                {"path": dg.MetadataValue.path(store.partition_path(table, key))},
                asset_key=context.asset_key,
                partition_key=key,
            )

    def load_input(self, context: dg.InputContext) -> DataFrame | None:
        """None when a mapping reaches before the first partition (e.g. yesterday's state)."""
        table = _table_name(context.asset_key)
        partitions = context.asset_partition_keys if context.has_asset_partitions else None
        if partitions is not None and not partitions:
            return None
        store = self.store()
        if partitions is not None:  # a blocking check's verdict holds across runs, too
            store.require_checks_passed(table, partitions)
        return store.read(table, partitions)


class ModelVersionIOManager(dg.ConfigurableIOManager):
    """Stores what a model partition produced as a small JSON record, not as a table.

    The record names the registered MLflow model version; scores load exactly that version,
    never "latest in the registry", so re-training one period cannot silently change another's.
    """

    tables: dg.ResourceDependency[TableStoreResource]

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if not isinstance(obj, dict) or "version" not in obj:
            raise TableStoreError(
                f"{context.asset_key.to_user_string()} must return a model-version record"
            )
        table = _table_name(context.asset_key)
        self.tables.store().write_record(table, context.asset_partition_key, obj)

    def load_input(self, context: dg.InputContext) -> dict[str, dict[str, Any]]:
        """Records by model partition key (a range of days may span two periods)."""
        table = _table_name(context.asset_key)
        store = self.tables.store()
        return {key: store.read_record(table, key) for key in context.asset_partition_keys}
