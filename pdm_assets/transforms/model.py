"""Failure classifier: the MLlib pipeline, a leak-free temporal split, and hold-out metrics.

The reference trained a random forest on a random split of overlapping 48-hour labels, so
neighbouring rows of the same failure landed on both sides and its scores were optimistic. Here
the hold-out is the end of the window and a horizon-wide gap keeps every training label out of it.
The model whose hold-out set the alert thresholds is the one deployed; a small fleet, whose
hold-out holds too few failures, sets them on out-of-fold scores and deploys the fold models'
trees as one forest (see fold_forest), so thresholds and deployed scores share one scale.

Everything here is pure PySpark/MLlib (no Dagster, no MLflow); only small aggregates (a confusion
matrix, the hold-out's risk and label columns) are collected to the driver.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from multiprocessing.pool import ThreadPool
from typing import Literal

import numpy as np
import pandas as pd
from pyspark import inheritable_thread_target
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import (
    DecisionTreeClassifier,
    RandomForestClassificationModel,
    RandomForestClassifier,
)
from pyspark.ml.feature import Imputer, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pdm_assets.schemas import SENSORS
from pdm_assets.transforms.act_confirmation import ActConfirmation, learn_act_confirmation
from pdm_assets.transforms.alert_levels import (
    PUBLISH_DELAY_HOURS,
    LevelThresholds,
    choose_level_thresholds,
    failures_from_flags,
)
from pdm_assets.transforms.features import FEATURE_COLUMNS, HOUR_US, epoch_us, micros, to_utc
from pdm_assets.transforms.labels import DEFAULT_HORIZON_HOURS, LABELS

KEYS: tuple[str, ...] = ("machineID", "datetime")
LABEL_COLUMN = "label_index"
WEIGHT_COLUMN = "class_weight"
FEATURES_VECTOR = "features"
FAILURE_LABELS: tuple[str, ...] = LABELS[1:]
DEFAULT_HOLDOUT_DAYS = 14

Algorithm = Literal["random_forest", "decision_tree"]
_ALGORITHMS: tuple[str, ...] = ("random_forest", "decision_tree")
# Rolling sensor statistics are the only nullable model inputs (too few readings in the window).
_STAT_PATTERN = re.compile(rf"^({'|'.join(SENSORS)})_((mean|std|dev)_\d+h|base_mean|base_std)$")
_IMPUTED_PREFIX = "_imputed_"


@dataclass(frozen=True)
class ModelParams:
    """Classifier settings. Tree parameters are the reference's; the memory settings (2 GB of
    histogram memory, node ids cached) were measured ~3x faster than Spark's defaults (256 MB,
    no cache). num_trees is ignored by the decision tree."""

    algorithm: Algorithm = "random_forest"
    # Measured with benchmarks/quality.py on the hourly grid (issue 12): 60 trees of depth 10 lose
    # nothing against 200/15 on the crew figures and train several times faster.
    num_trees: int = 60
    max_depth: int = 10
    max_bins: int = 32
    min_instances_per_node: int = 1
    feature_subset_strategy: str = "sqrt"
    subsampling_rate: float = 0.632
    cache_node_ids: bool = True
    max_memory_mb: int = 2048
    seed: int = 42
    # Inverse-frequency weights (via weightCol) so the rare failure classes are not drowned out.
    class_weighting: bool = False
    # Training rows: every failure row of the hourly grid, but "none" rows only every this many
    # hours (the hour of day divisible by it). Neighbouring hours of "none" are near copies, so
    # this cuts the fit's input ~none_every_hours-fold; 1 keeps every row.
    none_every_hours: int = 6
    # Refit on the whole window after the hold-out fit. Off: the model that is deployed is then
    # the one whose hold-out chose the alert thresholds, and training takes one fit instead of two.
    refit: bool = False
    # The level thresholds must rest on enough failures: when the newest hold-out holds fewer than
    # this, they are chosen on out-of-fold scores of the whole window instead (threshold_folds
    # blocks, each scored by a model fit on the rest) and the deployed model is refit on the whole
    # window. 0 always uses the hold-out.
    min_threshold_failures: int = 20
    threshold_folds: int = 8
    # How many fold models are fit at once (threads sharing the one SparkSession, as MLlib's
    # CrossValidator does). Out-of-fold only happens for a small fleet, whose fits are each too
    # small to keep the cores busy; the models do not depend on it.
    fold_parallelism: int = 4
    # With out-of-fold thresholds, deploy the fold models' trees as one forest instead of a refit:
    # the thresholds were set on those models' scores, so they mean the same on the deployed one,
    # and the refit's fit is saved. Random forests only (a decision tree is always refit).
    deploy_fold_forest: bool = True
    # Rows are hash-partitioned by machine into this many partitions and sorted before every fit:
    # MLlib's bootstrap and split sampling are seeded per partition, so only a fixed layout makes
    # the same rows give the same forest.
    training_partitions: int = 4
    # Let the act level require each component's confirming error (act_confirmation) when that
    # catches more failures 12 h ahead at the precision target on the hold-out.
    act_confirmation: bool = True

    def __post_init__(self) -> None:
        if self.algorithm not in _ALGORITHMS:
            raise ValueError(f"algorithm must be one of {_ALGORITHMS}, got {self.algorithm!r}")
        if self.none_every_hours < 1 or 24 % self.none_every_hours:
            raise ValueError(f"none_every_hours must divide 24, got {self.none_every_hours}")
        if self.training_partitions < 1:
            raise ValueError(f"training_partitions must be >= 1, got {self.training_partitions}")
        if self.threshold_folds < 2:
            raise ValueError(f"threshold_folds must be >= 2, got {self.threshold_folds}")
        if self.fold_parallelism < 1:
            raise ValueError(f"fold_parallelism must be >= 1, got {self.fold_parallelism}")
        if self.num_trees < 1 or self.max_depth < 0:
            raise ValueError(
                f"num_trees must be >= 1 and max_depth >= 0, got {self.num_trees}, {self.max_depth}"
            )


# --- pipeline -------------------------------------------------------------------------------------


def declare_label_classes(rows: DataFrame, label_column: str = LABEL_COLUMN) -> DataFrame:
    """`rows` with nominal ML metadata on the label column declaring all of LABELS (their names
    in "vals"; MLlib refuses num_vals next to them and derives the count).

    Without it MLlib infers the class count as max(label) + 1, so a window without any comp4
    failure would give a 4-entry probability vector and shift every downstream column. Idempotent.
    """
    meta = {
        "ml_attr": {
            "type": "nominal",
            "name": label_column,
            "vals": list(LABELS),
        }
    }
    return rows.withColumn(label_column, F.col(label_column).alias(label_column, metadata=meta))


def with_class_weights(rows: DataFrame, label_column: str = LABEL_COLUMN) -> DataFrame:
    """`rows` plus `class_weight` = n / (classes present * rows of that class) ("balanced").

    Every present class then carries the same total weight, so a few hundred failure rows count
    as much as tens of thousands of "none" rows. Costs one small aggregation.
    """
    counts = {r[0]: r[1] for r in rows.groupBy(label_column).count().collect()}
    if not counts:
        return rows.withColumn(WEIGHT_COLUMN, F.lit(1.0))
    total = sum(counts.values())
    weight = F.lit(1.0)
    for label, n in counts.items():
        w = total / (len(counts) * n)
        weight = F.when(F.col(label_column) == F.lit(label), F.lit(w)).otherwise(weight)
    return rows.withColumn(WEIGHT_COLUMN, weight)


class _TrainingPipeline(Pipeline):
    """A Pipeline that declares the 5 label classes (and adds class weights) before fitting.

    Doing it in _fit rather than in a custom stage keeps the fitted PipelineModel made of JVM
    stages only, so it saves, loads and logs to MLflow like any MLlib model (checked with
    mlflow.spark) and scoring frames need no label column. Saving this *unfitted* pipeline would
    reload as a plain Pipeline without that step; nothing here does, build a new one instead.
    """

    def __init__(
        self,
        *,
        stages: list,
        class_weighting: bool = False,
        training_partitions: int = 4,
        none_every_hours: int = 1,
    ) -> None:
        super().__init__(stages=stages)
        self._class_weighting = class_weighting
        self._training_partitions = training_partitions
        self._none_every_hours = none_every_hours

    def _fit(self, dataset: DataFrame) -> PipelineModel:
        dataset = sample_none_rows(dataset, self._none_every_hours)
        dataset = canonical_layout(declare_label_classes(dataset), self._training_partitions)
        if self._class_weighting:
            dataset = with_class_weights(dataset)
        return super()._fit(dataset)


def sample_none_rows(
    rows: DataFrame, every_hours: int, label_column: str = LABEL_COLUMN
) -> DataFrame:
    """Every row with a failure label, and "none" rows whose UTC hour is a multiple of
    `every_hours` (deterministic: the same rows whatever the partitioning)."""
    if every_hours <= 1:
        return rows
    hour = F.pmod(F.floor(micros("datetime") / F.lit(3_600_000_000)), F.lit(24))
    return rows.filter((F.col(label_column) != 0) | (F.pmod(hour, F.lit(every_hours)) == 0))


def canonical_layout(rows: DataFrame, partitions: int) -> DataFrame:
    """`rows` hash-partitioned by machineID into `partitions` and sorted by (machineID, datetime)
    inside each: the same rows then reach the learner in the same partitions and order however
    they were read, split or cached, which is what makes a seeded forest reproducible."""
    if not set(KEYS) <= set(rows.columns):
        raise ValueError(f"canonical_layout: rows need the key columns {KEYS}, got {rows.columns}")
    return rows.repartition(partitions, "machineID").sortWithinPartitions(*KEYS)


def nullable_feature_columns(feature_columns: Sequence[str] = FEATURE_COLUMNS) -> list[str]:
    """The rolling sensor statistics: null when a window had no (std: fewer than two) readings."""
    return [c for c in feature_columns if _STAT_PATTERN.match(c)]


def build_pipeline(
    params: ModelParams, feature_columns: Sequence[str] = FEATURE_COLUMNS
) -> Pipeline:
    """Imputer -> VectorAssembler -> classifier on `label_index`.

    Null handling: a null sensor statistic means "no telemetry in that window" (a gap), which is
    not evidence for or against a failure, so it is replaced by the training mean (Imputer) and
    the row is kept; dropping it would make scoring silently skip machines with a gap. Every other
    input is non-null by construction, and the assembler fails loudly if that ever breaks.

    The returned Pipeline attaches nominal metadata for all 5 LABELS to `label_index` when fit,
    so probability vectors always have 5 entries in LABELS order, whatever classes the window has.
    """
    columns = list(feature_columns)
    nullable = nullable_feature_columns(columns)
    stages: list = []
    if nullable:
        stages.append(
            Imputer(
                strategy="mean",
                inputCols=nullable,
                outputCols=[_IMPUTED_PREFIX + c for c in nullable],
            )
        )
    # Keep the caller's order: feature_importances maps vector slots back by position.
    assembled = [_IMPUTED_PREFIX + c if c in nullable else c for c in columns]
    stages.append(
        VectorAssembler(inputCols=assembled, outputCol=FEATURES_VECTOR, handleInvalid="error")
    )
    common = dict(
        featuresCol=FEATURES_VECTOR,
        labelCol=LABEL_COLUMN,
        maxDepth=params.max_depth,
        maxBins=params.max_bins,
        minInstancesPerNode=params.min_instances_per_node,
        cacheNodeIds=params.cache_node_ids,
        maxMemoryInMB=params.max_memory_mb,
        seed=params.seed,
    )
    if params.class_weighting:
        common["weightCol"] = WEIGHT_COLUMN
    if params.algorithm == "random_forest":
        classifier = RandomForestClassifier(
            numTrees=params.num_trees,
            featureSubsetStrategy=params.feature_subset_strategy,
            subsamplingRate=params.subsampling_rate,
            **common,
        )
    else:
        classifier = DecisionTreeClassifier(**common)
    stages.append(classifier)
    return _TrainingPipeline(
        stages=stages,
        class_weighting=params.class_weighting,
        training_partitions=params.training_partitions,
        none_every_hours=params.none_every_hours,
    )


def training_rows(features: DataFrame, labels: DataFrame) -> DataFrame:
    """Feature rows with their labels (inner join on machineID, datetime).

    Inner, because a row without a label (horizon not complete yet) or without features cannot
    be trained on; the label column already carries the 5-class metadata.
    """
    label_columns = [c for c in labels.columns if c not in KEYS]
    overlap = [c for c in label_columns if c in features.columns]
    if overlap:
        raise ValueError(f"training_rows: features and labels both have columns {overlap}")
    return declare_label_classes(features.join(labels, list(KEYS), "inner"))


# --- temporal split -------------------------------------------------------------------------------


def holdout_start(window_end: datetime | date, holdout_days: float) -> datetime:
    return to_utc(window_end) - timedelta(days=holdout_days)


def temporal_split(
    rows: DataFrame,
    window_end: datetime | date,
    holdout_days: float = DEFAULT_HOLDOUT_DAYS,
    horizon_hours: float = DEFAULT_HORIZON_HOURS,
) -> tuple[DataFrame, DataFrame]:
    """(train, holdout) without leakage through the label look-ahead.

    holdout: holdout_start <= T < window_end, with holdout_start = window_end - holdout_days.
    train:   T + horizon < holdout_start. A training label sees failures up to T + horizon, so
    this keeps every failure a training row knows about strictly before the hold-out starts; the
    horizon-wide gap between the two is used by neither.
    """
    end_us = epoch_us(window_end)
    start_us = epoch_us(holdout_start(window_end, holdout_days))
    horizon_us = round(horizon_hours * 3_600_000_000)
    t = micros("datetime")
    holdout = rows.filter((t >= F.lit(start_us)) & (t < F.lit(end_us)))
    train = rows.filter(t + F.lit(horizon_us) < F.lit(start_us))
    return train, holdout


# --- evaluation -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassMetrics:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Evaluation:
    """Multi-class metrics over LABELS. `confusion[i][j]` counts rows of actual LABELS[i]
    predicted as LABELS[j].

    macro_f1 averages F1 over the failure classes (comp1..comp4) that occur as actual or
    predicted label; "none" dominates the rows and would flatter any model. None if no failure
    class occurs at all. A class never predicted has precision 0 (sklearn's zero_division=0).
    """

    labels: tuple[str, ...]
    confusion: list[list[int]]
    per_class: dict[str, ClassMetrics]
    macro_f1: float | None
    accuracy: float | None
    rows: int

    def as_dict(self) -> dict[str, float | int | None]:
        """Flat metrics, e.g. for MLflow log_metrics or Dagster metadata."""
        out: dict[str, float | int | None] = {
            "macro_f1": self.macro_f1,
            "accuracy": self.accuracy,
            "rows": self.rows,
        }
        for name, m in self.per_class.items():
            out.update(
                {
                    f"precision_{name}": m.precision,
                    f"recall_{name}": m.recall,
                    f"f1_{name}": m.f1,
                    f"support_{name}": m.support,
                }
            )
        return out

    def confusion_markdown(self) -> str:
        header = "| actual \\ predicted | " + " | ".join(self.labels) + " |"
        rule = "|---|" + "---:|" * len(self.labels)
        body = [
            f"| **{name}** | " + " | ".join(str(n) for n in row) + " |"
            for name, row in zip(self.labels, self.confusion, strict=True)
        ]
        return "\n".join([header, rule, *body])

    def per_class_markdown(self) -> str:
        lines = ["| class | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
        for name, m in self.per_class.items():
            lines.append(
                f"| {name} | {m.precision:.3f} | {m.recall:.3f} | {m.f1:.3f} | {m.support} |"
            )
        macro = "n/a" if self.macro_f1 is None else f"{self.macro_f1:.3f}"
        accuracy = "n/a" if self.accuracy is None else f"{self.accuracy:.3f}"
        lines.append(
            f"\nmacro-F1 (comp1..comp4): **{macro}**, accuracy {accuracy}, {self.rows} rows"
        )
        return "\n".join(lines)

    def as_markdown(self) -> str:
        return (
            "**Confusion matrix** (rows: actual, columns: predicted)\n\n"
            + self.confusion_markdown()
            + "\n\n**Per class**\n\n"
            + self.per_class_markdown()
        )


def evaluation_from_confusion(confusion: Sequence[Sequence[int]]) -> Evaluation:
    """Metrics of a LABELS x LABELS confusion matrix (rows actual, columns predicted)."""
    matrix = np.asarray(confusion, dtype=np.int64).reshape(len(LABELS), len(LABELS))
    per_class: dict[str, ClassMetrics] = {}
    for i, name in enumerate(LABELS):
        tp = int(matrix[i, i])
        predicted, support = int(matrix[:, i].sum()), int(matrix[i, :].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = ClassMetrics(precision, recall, f1, support)
    occurring = [
        i for i in range(1, len(LABELS)) if matrix[i, :].sum() > 0 or matrix[:, i].sum() > 0
    ]
    macro = float(np.mean([per_class[LABELS[i]].f1 for i in occurring])) if occurring else None
    total = int(matrix.sum())
    return Evaluation(
        labels=LABELS,
        confusion=matrix.tolist(),
        per_class=per_class,
        macro_f1=macro,
        accuracy=float(np.trace(matrix)) / total if total else None,
        rows=total,
    )


def evaluate(
    predictions: DataFrame,
    label_column: str = LABEL_COLUMN,
    prediction_column: str = "prediction",
) -> Evaluation:
    """Hold-out metrics from a frame of numeric labels and predictions (indices into LABELS);
    only the 5x5 counts are collected."""
    counts = (
        predictions.groupBy(
            F.col(label_column).cast("int").alias("a"),
            F.col(prediction_column).cast("int").alias("p"),
        )
        .count()
        .collect()
    )
    matrix = [[0] * len(LABELS) for _ in LABELS]
    for row in counts:
        if (
            row["a"] is None
            or row["p"] is None
            or not (0 <= row["a"] < len(LABELS) and 0 <= row["p"] < len(LABELS))
        ):
            raise ValueError(
                f"evaluate: {row['count']} rows with {label_column}={row['a']}, "
                f"{prediction_column}={row['p']}; expected indices 0..{len(LABELS) - 1} of {LABELS}"
            )
        matrix[row["a"]][row["p"]] += row["count"]
    return evaluation_from_confusion(matrix)


def feature_importances(
    pipeline_model: PipelineModel, feature_columns: Sequence[str] = FEATURE_COLUMNS
) -> list[tuple[str, float]]:
    """(feature, importance) of the fitted tree model, most important first (ties by name)."""
    classifier = pipeline_model.stages[-1]
    values = classifier.featureImportances.toArray()
    if len(values) != len(feature_columns):
        raise ValueError(
            f"the model has {len(values)} inputs but {len(feature_columns)} feature names "
            "were given"
        )
    pairs = [(name, float(v)) for name, v in zip(feature_columns, values, strict=True)]
    return sorted(pairs, key=lambda p: (-p[1], p[0]))


def risk_column(probability: str = "probability") -> F.Column:
    """Risk of the component at risk failing within the horizon: the largest of P(comp1..comp4).

    An alert names one component, so its risk is that component's probability. 1 - P(none) also
    adds up the small probabilities of the other three: on an ordinary hour they can sum past a
    watch threshold that no component reaches, and the alert then flips between components.
    """
    p = vector_to_array(F.col(probability))
    return F.greatest(p[1], p[2], p[3], p[4])


def best_alert_threshold(
    predictions: DataFrame, label_column: str = LABEL_COLUMN
) -> tuple[float, float, float, float]:
    """(threshold, precision, recall, F1) of the alert rule risk >= threshold (risk_column)
    against "a failure is coming" (label != none), maximising F1 on these rows.

    A row F1 for comparison with the reference; the alert levels are chosen in the crew's units
    (alert_levels). The multi-class argmax would need P(component) > P(none) and so misses most
    failures at a 4 % base rate. Candidates are the distinct risk values (any threshold in between
    selects the same rows); among equal F1 the highest threshold (fewest alerts) wins. Without
    any failure in the rows there is nothing to tune: (1.0, 0.0, 0.0, 0.0), i.e. alert only on
    certainty.
    """
    rows = predictions.select(
        risk_column().alias("risk"), (F.col(label_column) != 0).alias("positive")
    ).collect()
    if not rows:
        return 1.0, 0.0, 0.0, 0.0
    risk = np.array([r["risk"] for r in rows], dtype=np.float64)
    positive = np.array([bool(r["positive"]) for r in rows])
    n_positive = int(positive.sum())
    if n_positive == 0:
        return 1.0, 0.0, 0.0, 0.0
    order = np.argsort(-risk, kind="stable")
    risk, positive = risk[order], positive[order]
    tp = np.cumsum(positive)
    alerts = np.arange(1, len(risk) + 1)
    # The last index of each run of equal risk: threshold = that risk alerts on rows 0..index.
    last = np.flatnonzero(np.append(risk[1:] != risk[:-1], True))
    precision = tp[last] / alerts[last]
    recall = tp[last] / n_positive
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(tp[last] > 0, 2 * precision * recall / (precision + recall), 0.0)
    best = int(np.argmax(f1))  # first maximum = highest threshold
    return (float(risk[last[best]]), float(precision[best]), float(recall[best]), float(f1[best]))


# --- training -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingResult:
    """The deployed model and how it (or, for a fold forest, its procedure) did on the hold-out.

    `threshold*` describe the alert rule tuned on the hold-out (see best_alert_threshold);
    `importances` are the final model's. Supports count rows per label in each part.
    """

    model: PipelineModel
    evaluation: Evaluation
    threshold: float
    threshold_precision: float
    threshold_recall: float
    threshold_f1: float
    importances: list[tuple[str, float]]
    train_rows: int
    holdout_rows: int
    window_rows: int
    train_support: dict[str, int]
    holdout_support: dict[str, int]
    window_support: dict[str, int]
    holdout_start: datetime
    params: ModelParams
    levels: LevelThresholds | None = None
    # The act level's confirming codes, learned on the whole window; None: act needs no evidence.
    confirmation: ActConfirmation | None = None


def fit_and_evaluate(
    rows: DataFrame,
    window_end: datetime | date,
    params: ModelParams,
    holdout_days: float = DEFAULT_HOLDOUT_DAYS,
    horizon_hours: float = DEFAULT_HORIZON_HOURS,
    feature_columns: Sequence[str] = FEATURE_COLUMNS,
    landing_interval_hours: int = PUBLISH_DELAY_HOURS,
) -> TrainingResult:
    """Fit on the train part, measure on the hold-out and set the alert levels there (or out of
    fold, for a small fleet; see ModelParams.min_threshold_failures); return the deployed model.

    The rows are persisted for the fits and unpersisted before returning: tree training
    makes several passes over its input, and recomputing the feature lineage for each would cost
    more than the fits. Raises if either part is empty, naming the window.
    """
    end_us = epoch_us(window_end)
    start = holdout_start(window_end, holdout_days)

    def confirmation_of(part: DataFrame) -> ActConfirmation | None:
        return learn_act_confirmation(part, LABEL_COLUMN) if params.act_confirmation else None

    window = rows.filter(micros("datetime") < F.lit(end_us)).persist()
    try:
        train, holdout = temporal_split(window, window_end, holdout_days, horizon_hours)
        supports = _supports(window, start, horizon_hours)
        if not sum(supports["train"].values()) or not sum(supports["holdout"].values()):
            raise ValueError(
                f"fit_and_evaluate: window ending {to_utc(window_end).isoformat()} with a "
                f"{holdout_days}-day hold-out from {start.isoformat()} and a {horizon_hours} h gap "
                f"has {sum(supports['train'].values())} training rows and "
                f"{sum(supports['holdout'].values())} hold-out rows; both must be non-empty"
            )
        pipeline = build_pipeline(params, feature_columns)
        fitted = pipeline.fit(train)
        # The gap rows are as unseen by this fit as the hold-out (neither their features nor their
        # labels were trained on); with them every hold-out failure has its whole horizon of rows,
        # which the watch level's ">= 24 h ahead" needs.
        gap_start = epoch_us(start) - round(horizon_hours * 3_600_000_000)
        unseen = window.filter(micros("datetime") >= F.lit(gap_start))
        scored = fitted.transform(unseen).persist()
        try:
            in_holdout = scored.filter(micros("datetime") >= F.lit(epoch_us(start)))
            evaluation = evaluate(in_holdout)
            threshold = best_alert_threshold(in_holdout)
            level_rows = holdout_level_rows(scored, confirmation_of(train))
        finally:
            scored.unpersist()
        folds, fold_models = 1, []
        if len(failures_from_flags(level_rows)) < params.min_threshold_failures:
            level_rows, fold_models = out_of_fold_level_rows(
                window,
                pipeline,
                params.threshold_folds,
                horizon_hours,
                confirmation_of,
                parallelism=params.fold_parallelism,
            )
            folds = params.threshold_folds
        levels = replace(
            choose_level_thresholds(
                level_rows,
                horizon_hours,
                fallback=threshold[0],
                landing_interval_hours=landing_interval_hours,
            ),
            folds=folds,
        )
        confirmation = confirmation_of(window) if levels.act_confirmed else None
        if folds > 1 and params.deploy_fold_forest and params.algorithm == "random_forest":
            final = fold_forest(fold_models, window, params, feature_columns)
        elif params.refit or folds > 1:
            final = pipeline.fit(window)
        else:
            final = fitted
    finally:
        window.unpersist()
    return TrainingResult(
        model=final,
        evaluation=evaluation,
        threshold=threshold[0],
        threshold_precision=threshold[1],
        threshold_recall=threshold[2],
        threshold_f1=threshold[3],
        importances=feature_importances(final, feature_columns),
        train_rows=sum(supports["train"].values()),
        holdout_rows=sum(supports["holdout"].values()),
        window_rows=sum(supports["window"].values()),
        train_support=supports["train"],
        holdout_support=supports["holdout"],
        window_support=supports["window"],
        holdout_start=start,
        params=params,
        levels=levels,
        confirmation=confirmation,
    )


def out_of_fold_level_rows(
    window: DataFrame,
    pipeline: Pipeline,
    folds: int,
    horizon_hours: float,
    confirmation_of: Callable[[DataFrame], ActConfirmation | None] | None = None,
    parallelism: int = 1,
) -> tuple[pd.DataFrame, list[PipelineModel]]:
    """Level rows of the whole window, each of `folds` contiguous blocks scored by a model fit on
    the rest; and those models, in block order.

    A 14-day hold-out of a small fleet holds a handful of failures, and a threshold set by the
    weakest of five swings from seed to seed; out-of-fold scores put every failure of the window
    behind the thresholds. Training rows whose label look-ahead reaches into the block are left
    out (T + horizon >= block start), and so is a horizon after it, so no fold trains on a label
    that sees the block's failures. With `confirmation_of`, each fold's confirming codes are
    learned on its own training rows too. `parallelism` folds are fit at once.
    """
    t = micros("datetime")
    lo, hi = window.agg(F.min(t), F.max(t)).first()
    if lo is None:
        raise ValueError("out_of_fold_level_rows: the window has no rows")
    horizon_us = round(horizon_hours * HOUR_US)
    span = hi + HOUR_US - lo
    edges = [lo + span * k // folds // HOUR_US * HOUR_US for k in range(folds)] + [hi + HOUR_US]

    def fold(block: tuple[int, int]) -> tuple[PipelineModel, pd.DataFrame]:
        block_start, block_end = block
        train = window.filter(
            (t + F.lit(horizon_us) < F.lit(block_start)) | (t >= F.lit(block_end + horizon_us))
        )
        held = window.filter((t >= F.lit(block_start)) & (t < F.lit(block_end)))
        model = pipeline.fit(train)
        confirmation = confirmation_of(train) if confirmation_of else None
        return model, holdout_level_rows(model.transform(held), confirmation)

    blocks = list(itertools.pairwise(edges))
    if parallelism > 1:
        with ThreadPool(min(parallelism, folds)) as pool:
            done = pool.map(inheritable_thread_target(fold), blocks)
    else:
        done = [fold(block) for block in blocks]
    return pd.concat([rows for _, rows in done], ignore_index=True), [m for m, _ in done]


def fold_forest(
    fold_models: Sequence[PipelineModel],
    window: DataFrame,
    params: ModelParams,
    feature_columns: Sequence[str] = FEATURE_COLUMNS,
) -> PipelineModel:
    """One MLlib pipeline whose forest holds every tree of the fold models.

    A forest's probability is the mean of its trees', so with equal-sized folds this scores the
    mean of the fold models: the scale the out-of-fold thresholds were chosen on. A refit on the
    whole window scores on another scale (it saw every failure; each fold model saw 7 in 8), and
    its thresholds then miss their targets. The imputer is fit on the whole window's training rows.
    It is an ordinary RandomForestClassificationModel, saved and loaded as any; Spark keeps its
    constructor from a list of trees package-private, which is public to the JVM.
    """
    forests = [m.stages[-1] for m in fold_models]
    if not forests or not all(isinstance(f, RandomForestClassificationModel) for f in forests):
        raise ValueError("fold_forest: every fold model must end in a random forest")
    spark = window.sparkSession
    jvm = spark.sparkContext._jvm
    gateway = spark.sparkContext._gateway
    trees = [tree for forest in forests for tree in forest._java_obj.trees()]
    array = gateway.new_array(
        jvm.org.apache.spark.ml.classification.DecisionTreeClassificationModel, len(trees)
    )
    for i, tree in enumerate(trees):
        array[i] = tree
    first = forests[0]
    java_forest = jvm.org.apache.spark.ml.classification.RandomForestClassificationModel(
        first.uid, array, first.numFeatures, first.numClasses
    )
    forest = RandomForestClassificationModel(java_forest)
    # The fold forests' settings (depth, seed, column names …), with the new tree count.
    settings = {p.name: v for p, v in first.extractParamMap().items() if forest.hasParam(p.name)}
    forest._set(**{**settings, "numTrees": len(trees)})
    forest._transfer_params_to_java()
    preparation = Pipeline(stages=build_pipeline(params, feature_columns).getStages()[:-1])
    prepared = preparation.fit(sample_none_rows(window, params.none_every_hours))
    return PipelineModel([*prepared.stages, forest])


def holdout_level_rows(
    scored: DataFrame, confirmation: ActConfirmation | None = None
) -> pd.DataFrame:
    """The columns choose_level_thresholds needs, collected: machineID, hour, risk, component
    (argmax of the four failure probabilities, 1..4), the label flags and, with a confirmation,
    `confirmed` (the component's confirming evidence is present)."""
    probability = vector_to_array(F.col("probability"))
    risk = risk_column()
    component = F.lit(4)
    for i in (3, 2, 1):
        component = F.when(probability[i] == risk, F.lit(i)).otherwise(component)
    extra = []
    if confirmation is not None:
        name = F.concat(F.lit("comp"), component.cast("string"))
        extra.append(confirmation.confirmed(name).cast("int").alias("confirmed"))
    rows = scored.select(
        F.col("machineID").cast("int").alias("machineID"),
        F.floor(micros("datetime") / F.lit(3_600_000_000)).cast("long").alias("hour"),
        risk.alias("risk"),
        component.alias("component"),
        *(
            (
                F.col(f"fails_comp{i}")
                if f"fails_comp{i}" in scored.columns
                else (F.col(LABEL_COLUMN) == i)  # only the earliest failure's component
            )
            .cast("int")
            .alias(f"fails_comp{i}")
            for i in range(1, 5)
        ),
        *extra,
    ).collect()
    columns = ["machineID", "hour", "risk", "component", *(f"fails_comp{i}" for i in range(1, 5))]
    columns += ["confirmed"] if confirmation is not None else []
    return pd.DataFrame([tuple(r) for r in rows], columns=columns)


def _supports(
    window: DataFrame, start: datetime, horizon_hours: float
) -> dict[str, dict[str, int]]:
    """Rows per label in train, hold-out and the whole window, in one aggregation."""
    t = micros("datetime")
    start_us = epoch_us(start)
    part = (
        F.when(t >= F.lit(start_us), "holdout")
        .when(t + F.lit(round(horizon_hours * 3_600_000_000)) < F.lit(start_us), "train")
        .otherwise("gap")
    )
    out = {p: dict.fromkeys(LABELS, 0) for p in ("train", "holdout", "gap", "window")}
    for row in (
        window.groupBy(part.alias("part"), F.col(LABEL_COLUMN).cast("int")).count().collect()
    ):
        name = LABELS[row[LABEL_COLUMN]]
        out[row["part"]][name] += row["count"]
        out["window"][name] += row["count"]
    return out
