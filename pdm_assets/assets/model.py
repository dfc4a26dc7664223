"""The failure model: one per month, trained on the days whose labels ended before that month."""

import json
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pdm_assets.assets.daily import add_output_metadata_rounded
from pdm_assets.partitions import DEFAULT_HISTORY_MONTHS, monthly_partitions, training_window
from pdm_assets.resources.storage import TableStoreResource
from pdm_assets.resources.tracking import MlflowTracking
from pdm_assets.settings import load_settings
from pdm_assets.transforms.features import FEATURE_COLUMNS
from pdm_assets.transforms.model import ModelParams, fit_and_evaluate, training_rows

GROUP = "training"
MONTHLY = monthly_partitions()
# The spark flavor's own requirements; inferring them costs ~10 s per logged model.
PIP_REQUIREMENTS = ["pyspark==4.3.0", "mlflow==3.17.2"]


class ModelConfig(dg.Config):
    """Run config of a training run; the forest's defaults are ModelParams' (60 trees of depth 10,
    measured with benchmarks/quality.py to lose nothing against the reference's 200/15)."""

    algorithm: str = "random_forest"
    num_trees: int = ModelParams.num_trees
    max_depth: int = ModelParams.max_depth
    history_months: int = DEFAULT_HISTORY_MONTHS
    holdout_days: int = 14
    class_weighting: bool = False
    # Fewer hold-out failures than this: thresholds from out-of-fold scores, and the fold models'
    # trees deployed as one forest (or, with deploy_fold_forest off, a refit on the window).
    min_threshold_failures: int = ModelParams.min_threshold_failures
    threshold_folds: int = ModelParams.threshold_folds
    deploy_fold_forest: bool = ModelParams.deploy_fold_forest


def model_params(config: ModelConfig) -> ModelParams:
    return ModelParams(
        algorithm=config.algorithm,
        num_trees=config.num_trees,
        max_depth=config.max_depth,
        class_weighting=config.class_weighting,
        min_threshold_failures=config.min_threshold_failures,
        threshold_folds=config.threshold_folds,
        deploy_fold_forest=config.deploy_fold_forest,
    )


def read_window(tables: TableStoreResource, table: str, days: list[str]) -> DataFrame:
    store = tables.store()
    stored = set(store.stored_partitions(table))
    missing = [d for d in days if d not in stored]
    if missing:
        raise dg.Failure(
            f"the training window needs {table} for {days[0]}..{days[-1]}, but "
            f"{len(missing)} day(s) are not materialized: {', '.join(missing[:5])}"
            f"{' …' if len(missing) > 5 else ''}"
        )
    store.require_checks_passed(table, days)  # never train on a partition that failed its check
    return store.read(table, days)


def _markdown_importances(importances: list[tuple[str, float]], top: int = 15) -> str:
    lines = ["| feature | importance |", "|---|---:|"]
    lines += [f"| {name} | {value:.4f} |" for name, value in importances[:top]]
    return "\n".join(lines)


def signature_and_example(model: Any, rows: DataFrame, sample_rows: int = 5) -> tuple[Any, Any]:
    """The model's signature (feature columns in, predicted class index out) and a few input rows.

    Inferred from a handful of real rows, so the MLflow UI shows the inputs and outputs and a
    caller sees what to send; a few rows of a table scan keep it to one short Spark job.
    """
    from mlflow.models import infer_signature

    sample = rows.select(*FEATURE_COLUMNS).limit(sample_rows)
    predicted = model.transform(sample).select(*FEATURE_COLUMNS, "prediction").toPandas()
    inputs = predicted[list(FEATURE_COLUMNS)]
    return infer_signature(inputs, predicted[["prediction"]]), inputs


@dg.asset(
    partitions_def=MONTHLY,
    group_name=GROUP,
    kinds={"pyspark", "mlflow"},
    io_manager_key="model_io_manager",
    deps=[
        dg.AssetDep(
            "machine_features",
            partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-12, end_offset=-1),
        ),
        dg.AssetDep(
            "failure_labels",
            partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-12, end_offset=-1),
        ),
    ],
    description=(
        "A Spark MLlib random forest (60 trees of depth 10 by default) for one month, trained "
        "on up to 12 months of features and labels whose look-ahead ended before the month "
        "starts; evaluated on a temporal hold-out, whose scores also set the watch and act "
        "thresholds, and deployed as fitted. When the hold-out holds fewer than 20 failures "
        "(a small fleet), the thresholds come from out-of-fold scores of the whole window and "
        "the deployed forest holds every fold model's trees (it scores their mean, the scale the "
        "thresholds were set on). Logged to MLflow and registered as a new version; the "
        "partition stores that version."
    ),
)
def failure_model(
    context: dg.AssetExecutionContext,
    config: ModelConfig,
    tables: TableStoreResource,
    mlflow_tracking: MlflowTracking,
    pyspark_step_launcher: dg.ResourceParam[Any],
) -> dict:
    import mlflow
    import mlflow.spark

    settings = load_settings()
    period_start = context.partition_time_window.start
    window = training_window(
        period_start, settings.start, settings.horizon_hours, config.history_months
    )
    if window.last_day < window.first_day:
        raise dg.Failure(
            f"no training data for period {context.partition_key}: its window would end on "
            f"{window.last_day}, before the first partition {window.first_day}"
        )
    days = [d.isoformat() for d in window.days]
    features = read_window(tables, "machine_features", days)
    labels = read_window(tables, "failure_labels", days)
    cutoff = window.cutoff.replace(tzinfo=None)
    horizon = F.expr(f"INTERVAL {settings.horizon_hours} HOURS")
    # The exact cut: no row whose label looks into the period.
    rows = training_rows(features, labels).where(F.col("datetime") + horizon < F.lit(cutoff))
    params = model_params(config)
    fit_started = time.perf_counter()
    result = fit_and_evaluate(
        rows,
        cutoff,
        params,
        config.holdout_days,
        settings.horizon_hours,
        landing_interval_hours=settings.landing_interval_hours,
    )
    fitted = time.perf_counter()
    fit_seconds = fitted - fit_started
    evaluation = result.evaluation
    levels = result.levels

    experiment_id = mlflow_tracking.client()
    window_text = f"{window.first_day}..{window.last_day}"
    with mlflow.start_run(
        experiment_id=experiment_id,
        run_name=f"failure_model {context.partition_key}",
        tags={
            "dagster.partition": context.partition_key,
            "dagster.run_id": context.run.run_id,
            "training_window": window_text,
        },
    ) as run:
        mlflow.log_params(
            {
                **{k: v for k, v in vars(params).items()},
                "window_first_day": window.first_day.isoformat(),
                "window_last_day": window.last_day.isoformat(),
                "holdout_days": config.holdout_days,
                "horizon_hours": settings.horizon_hours,
            }
        )
        metrics = {
            "holdout_macro_f1": evaluation.macro_f1,
            "holdout_accuracy": evaluation.accuracy,
            "f1_threshold": result.threshold,
            "alert_precision": result.threshold_precision,
            "alert_recall": result.threshold_recall,
            **level_metrics(levels),
        }
        # Macro-F1 is undefined when the hold-out saw no failure at all.
        mlflow.log_metrics({k: v for k, v in metrics.items() if v is not None})
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            (out / "confusion_matrix.md").write_text(evaluation.confusion_markdown())
            (out / "per_class.md").write_text(evaluation.per_class_markdown())
            (out / "feature_importance.md").write_text(_markdown_importances(result.importances))
            (out / "evaluation.json").write_text(json.dumps(evaluation.as_dict(), indent=2))
            (out / "alert_levels.md").write_text(
                levels.as_markdown()
                + f"\n\nact confirmation: {confirmation_text(result.confirmation)}"
            )
            mlflow.log_artifacts(str(out), artifact_path="evaluation")
        # From the stored features, not the training rows: a limit over their join with the
        # labels still runs the join (2.8 s against 0.6 s warm at 1,000 machines).
        signature, example = signature_and_example(result.model, features)
        info = mlflow.spark.log_model(
            result.model,
            "model",
            registered_model_name=mlflow_tracking.registered_model,
            pip_requirements=PIP_REQUIREMENTS,
            signature=signature,
            input_example=example,
        )
        version = str(info.registered_model_version)
    log_seconds = time.perf_counter() - fitted
    client = mlflow.MlflowClient()
    for key, value in {
        "dagster.partition": context.partition_key,
        "training_window": window_text,
    }.items():
        client.set_model_version_tag(mlflow_tracking.registered_model, version, key, value)

    record = {
        "model_name": mlflow_tracking.registered_model,
        "version": version,
        "model_uri": mlflow_tracking.model_uri(version),
        "run_id": run.info.run_id,
        "partition": context.partition_key,
        "window_first_day": window.first_day.isoformat(),
        "window_last_day": window.last_day.isoformat(),
        # Alerts of any level start at the watch threshold; act is the second level.
        "alert_threshold": levels.watch_threshold,
        "watch_threshold": levels.watch_threshold,
        "act_threshold": levels.act_threshold,
        # Act rows also need their component's confirming error (None: the risk alone decides).
        "act_confirmation": result.confirmation.as_record() if result.confirmation else None,
        "holdout_macro_f1": evaluation.macro_f1,
        "trained_at": datetime.utcnow().isoformat(timespec="seconds"),
    }
    add_output_metadata_rounded(
        context,
        {
            "model_version": version,
            "mlflow_run_id": run.info.run_id,
            "mlflow_run": dg.MetadataValue.url(
                mlflow_tracking.run_url(experiment_id, run.info.run_id)
            ),
            "mlflow_model_version": dg.MetadataValue.url(mlflow_tracking.version_url(version)),
            "mlflow_ui": mlflow_tracking.ui_hint(),
            "training_window": window_text,
            "training_rows": result.train_rows,
            "holdout_rows": result.holdout_rows,
            "holdout_macro_f1": evaluation.macro_f1 if evaluation.macro_f1 is not None else "n/a",
            "holdout_accuracy": evaluation.accuracy,
            "f1_threshold": result.threshold,
            "alert_precision": result.threshold_precision,
            "alert_recall": result.threshold_recall,
            **{k: ("n/a" if v is None else v) for k, v in level_metrics(levels).items()},
            "alert_levels": dg.MetadataValue.md(levels.as_markdown()),
            "act_confirmation": confirmation_text(result.confirmation),
            "confusion_matrix": dg.MetadataValue.md(evaluation.confusion_markdown()),
            "per_class": dg.MetadataValue.md(evaluation.per_class_markdown()),
            "feature_importance": dg.MetadataValue.md(_markdown_importances(result.importances)),
            "features": len(FEATURE_COLUMNS),
            "deployed_trees": deployed_trees(result.model),
            # Where a training run's time goes: the fits and evaluation, then MLflow logging.
            "fit_seconds": fit_seconds,
            "mlflow_log_seconds": log_seconds,
        },
    )
    return record


def confirmation_text(confirmation) -> str:
    """What an act alert needs beside its risk, for the UI and the MLflow run."""
    return "none (risk alone)" if confirmation is None else confirmation.describe()


def deployed_trees(model) -> int:
    """Trees in the deployed model: num_trees, or folds x num_trees for a fold forest."""
    classifier = model.stages[-1]
    return len(classifier.trees) if hasattr(classifier, "trees") else 1


def level_metrics(levels) -> dict[str, float | int | None]:
    """The two alert levels' thresholds and what they measured on the hold-out (threshold_folds
    1) or on out-of-fold scores of that many blocks of the window."""
    return {
        "watch_threshold": levels.watch_threshold,
        "watch_catch_24h": levels.watch_catch_24h,
        "watch_episode_precision": levels.watch_episode_precision,
        "act_threshold": levels.act_threshold,
        "act_episode_precision": levels.act_episode_precision,
        "act_catch_12h": levels.act_catch_12h,
        "holdout_failures": levels.holdout_failures,
        "threshold_folds": levels.folds,
    }
