"""dagster-databricks' PySpark step launcher, plus what a Databricks user looks for after a step.

``ReportingDatabricksStepLauncher`` subclasses ``DatabricksPySparkStepLauncher`` (the library is
used unmodified: upload, ``runs/submit``, polling and event replay are all its own) and adds one
thing when the remote run ends, successful or not: a ``runs/get`` whose answer becomes

- an engine event of the step, "Databricks run N: TERMINATED SUCCESS in 1.3 cluster minutes",
  with the run's URL, id, cluster id, state and durations as metadata (the run's event log);
- when the step succeeded, an asset observation per asset and partition of the step, with the
  same metadata, so the asset's page shows which Databricks run produced each partition and
  what it cost.

Imported only when the Databricks deployment builds its launcher (it imports the SDK).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster._core.events import DagsterEvent, DagsterEventType, EngineEventData
from dagster_databricks import databricks_pyspark_step_launcher
from dagster_databricks.databricks_pyspark_step_launcher import DatabricksPySparkStepLauncher


def run_cost_metadata(run: Mapping[str, Any]) -> dict[str, Any]:
    """Metadata for one ``runs/get`` answer (Jobs API 2.1/2.2): URL, ids, state and cost.

    ``cluster_minutes`` is what the API reports for the run: ``run_duration`` (multi-task runs)
    or ``setup_duration + execution_duration + cleanup_duration`` (single-task runs), else
    ``end_time - start_time``; all in milliseconds. On an existing all-purpose cluster it is the
    time the run held the cluster; on a new job cluster it includes the cluster's start-up
    (``setup_duration``). DBUs depend on node types and are not in the Jobs API.
    """
    state = run.get("state") or {}
    durations = {k: int(run.get(k) or 0) for k in ("setup_duration", "execution_duration")}
    durations["cleanup_duration"] = int(run.get("cleanup_duration") or 0)
    total_ms = int(run.get("run_duration") or 0) or sum(durations.values())
    if not total_ms and run.get("end_time") and run.get("start_time") is not None:
        total_ms = int(run["end_time"]) - int(run["start_time"])
    tasks = run.get("tasks") or [{}]
    cluster_id = (tasks[0].get("cluster_instance") or {}).get("cluster_id", "")
    metadata: dict[str, Any] = {
        "databricks_run_id": int(run.get("run_id") or 0),
        "databricks_state": " ".join(
            filter(None, [state.get("life_cycle_state"), state.get("result_state")])
        ),
        "databricks_cluster_id": cluster_id,
        "databricks_cluster_minutes": round(total_ms / 60000, 3),
        "databricks_setup_seconds": round(durations["setup_duration"] / 1000, 1),
        "databricks_execution_seconds": round(durations["execution_duration"] / 1000, 1),
    }
    if run.get("run_page_url"):
        metadata["databricks_run_url"] = dg.MetadataValue.url(run["run_page_url"])
    return metadata


class ReportingDatabricksStepLauncher(DatabricksPySparkStepLauncher):
    """The library's launcher; after the remote run ends, reports its URL and cluster minutes."""

    def step_events_iterator(
        self, step_context: Any, step_key: str, databricks_run_id: int
    ) -> Iterator[DagsterEvent]:
        # A step that fails on the cluster usually ends in a SUCCESS run (the remote entry point
        # records the failure as an event and exits normally): watch the events, not the state.
        step_failed = False
        try:
            for event in super().step_events_iterator(step_context, step_key, databricks_run_id):
                step_failed |= event.event_type == DagsterEventType.STEP_FAILURE
                yield event
        except Exception:
            # The remote failure is what the run must show; the cost is reported beside it.
            yield from self._report(step_context, databricks_run_id, succeeded=False)
            raise
        yield from self._report(step_context, databricks_run_id, succeeded=not step_failed)

    def _report(
        self, step_context: Any, databricks_run_id: int, succeeded: bool
    ) -> Iterator[DagsterEvent]:
        try:
            jobs = self.databricks_runner.client.workspace_client.jobs
            metadata = run_cost_metadata(jobs.get_run(databricks_run_id).as_dict())
        except Exception as e:  # reporting only: never hides or replaces the step's own outcome
            step_context.log.warning(
                f"could not read Databricks run {databricks_run_id} for its cost: {e}"
            )
            return
        yield DagsterEvent.engine_event(
            step_context,
            f"Databricks run {databricks_run_id}: {metadata['databricks_state']} in "
            f"{metadata['databricks_cluster_minutes']} cluster minutes",
            EngineEventData(metadata=metadata),
        )
        if not succeeded:
            return
        for output in step_context.step.step_outputs:
            key = step_context.job_def.asset_layer.get_asset_key_for_node_output(
                step_context.node_handle, output.name
            )
            if key is None:
                continue
            partitions: list[str | None] = [None]
            partitions_def = step_context.partitions_def_for_output(output.name)
            if partitions_def is not None:
                partitions = list(
                    partitions_def.get_partition_keys_in_range(step_context.partition_key_range)
                )
            for partition in partitions:
                observation = dg.AssetObservation(
                    asset_key=key, partition=partition, metadata=metadata
                )
                yield DagsterEvent.asset_observation(step_context, observation)


def reporting_databricks_step_launcher() -> dg.ResourceDefinition:
    """The launcher resource with the library's own configuration schema."""
    return dg.ResourceDefinition(
        resource_fn=lambda context: ReportingDatabricksStepLauncher(**context.resource_config),
        config_schema=databricks_pyspark_step_launcher.config_schema,
        description=databricks_pyspark_step_launcher.description,
    )
