"""Model transforms: the leak-free split, metrics against hand computations, the 5-class
guarantee, and one quality check of the whole chain on simulated data."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from functools import reduce

import pytest
from pyspark.ml.classification import DecisionTreeClassifier, RandomForestClassifier
from pyspark.ml.feature import VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.ml.linalg import Vectors
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pdm_assets.simulator import FleetSimulator
from pdm_assets.transforms.features import FEATURE_COLUMNS, feature_grid, machine_features
from pdm_assets.transforms.labels import LABELS, label_upcoming_failures
from pdm_assets.transforms.model import (
    WEIGHT_COLUMN,
    ModelParams,
    best_alert_threshold,
    build_pipeline,
    evaluate,
    evaluation_from_confusion,
    feature_importances,
    fit_and_evaluate,
    nullable_feature_columns,
    risk_column,
    temporal_split,
    training_rows,
    with_class_weights,
)
from pdm_assets_tests.spark_conf import spark_defaults

H = timedelta(hours=1)
SMALL = ModelParams(num_trees=3, max_depth=3, max_memory_mb=256, seed=1)
TINY_FEATURES = ["vibration_mean_24h", "error5_count_24h", "age"]
TINY_DDL = (
    "machineID int, datetime timestamp, vibration_mean_24h double, error5_count_24h int, age int"
)


def iso(t: datetime) -> str:
    """A collected timestamp (naive, in the local zone) as UTC text."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def tiny_rows(spark, labels_by_machine: dict[int, str], start=datetime(2015, 3, 1, tzinfo=UTC)):
    """Per machine 8 grid rows whose vibration gives the label away (age is the same for all);
    the first has a null stat (a telemetry gap) to exercise the imputer."""
    rows = []
    for m, label in labels_by_machine.items():
        for i in range(8):
            vibration = None if i == 0 else 40.0 + 10.0 * LABELS.index(label) + 0.1 * i
            rows.append((m, start + 12 * i * H, vibration, LABELS.index(label) % 2, 5, label))
    df = spark.createDataFrame(rows, TINY_DDL + ", label string")
    index = F.array_position(F.array(*(F.lit(x) for x in LABELS)), F.col("label")) - 1
    return df.withColumn("label_index", index.cast("int"))


# --- temporal split ----------------------------------------------------------------------------


def test_temporal_split_boundaries_are_exact(spark):
    window_end = datetime(2015, 2, 1, tzinfo=UTC)
    # holdout_start = 01-30 00:00; train needs T + 48 h < 01-30 00:00, i.e. T < 01-28 00:00.
    times = [datetime(2015, 1, 26, tzinfo=UTC) + 12 * i * H for i in range(14)]  # ..02-01 12:00
    extra = [datetime(2015, 1, 28, tzinfo=UTC) - timedelta(microseconds=1)]
    rows = spark.createDataFrame(
        [(1, t) for t in times + extra], "machineID int, datetime timestamp"
    )

    parts = [
        df.withColumn("part", F.lit(name))
        for horizon in (48, 24)
        for name, df in zip(
            (f"train_{horizon}", f"holdout_{horizon}"),
            temporal_split(rows, window_end, holdout_days=2, horizon_hours=horizon),
            strict=True,
        )
    ]
    got: dict[str, list[str]] = {}
    for r in reduce(DataFrame.unionByName, parts).collect():  # one Spark job for all four
        got.setdefault(r["part"], []).append(iso(r["datetime"]))

    assert sorted(got["train_48"]) == [
        "2015-01-26T00:00",
        "2015-01-26T12:00",
        "2015-01-27T00:00",
        "2015-01-27T12:00",
        "2015-01-27T23:59",  # 1 µs before the gap
    ]
    # 01-28 00:00 .. 01-29 12:00 is the gap: T + 48 h reaches into the hold-out (01-28 00:00
    # exactly touches its start and is excluded by the strict rule). 02-01 is after the window.
    assert sorted(got["holdout_48"]) == [
        "2015-01-30T00:00",
        "2015-01-30T12:00",
        "2015-01-31T00:00",
        "2015-01-31T12:00",
    ]
    # The gap follows the horizon: with 24 h, 01-28 00:00 and 12:00 become trainable.
    assert sorted(got["train_24"]) == sorted(
        got["train_48"] + ["2015-01-28T00:00", "2015-01-28T12:00"]
    )
    assert sorted(got["holdout_24"]) == sorted(got["holdout_48"])


def test_temporal_split_reads_naive_window_end_as_utc(spark):
    rows = spark.createDataFrame(
        [(1, datetime(2015, 1, 30, tzinfo=UTC))], "machineID int, datetime timestamp"
    )
    _, holdout = temporal_split(rows, datetime(2015, 2, 1), holdout_days=2)
    assert holdout.count() == 1
    _, holdout = temporal_split(rows, date(2015, 2, 1), holdout_days=2)
    assert holdout.count() == 1


# --- evaluation ----------------------------------------------------------------------------------


def test_evaluate_matches_hand_computation(spark):
    pairs = (
        [(0, 0)] * 5
        + [(0, 1)]  # none predicted as comp1
        + [(1, 1)] * 2
        + [(1, 0)]  # a missed comp1
        + [(2, 2), (2, 3)]  # comp3 only ever predicted, never actual; comp4 absent
    )
    df = spark.createDataFrame(
        [(a, float(p)) for a, p in pairs], "label_index int, prediction double"
    )
    ev = evaluate(df)

    assert ev.confusion == [
        [5, 1, 0, 0, 0],
        [1, 2, 0, 0, 0],
        [0, 0, 1, 1, 0],
        [0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0],
    ]
    assert ev.per_class["none"].precision == pytest.approx(5 / 6)
    assert ev.per_class["none"].recall == pytest.approx(5 / 6)
    assert ev.per_class["comp1"].f1 == pytest.approx(2 / 3)
    assert ev.per_class["comp2"].precision == pytest.approx(1.0)
    assert ev.per_class["comp2"].recall == pytest.approx(0.5)
    assert ev.per_class["comp2"].f1 == pytest.approx(2 / 3)
    assert (ev.per_class["comp3"].f1, ev.per_class["comp3"].support) == (0.0, 0)
    assert ev.per_class["comp2"].support == 2
    # comp4 neither occurs nor is predicted, so it is left out: (2/3 + 2/3 + 0) / 3.
    assert ev.macro_f1 == pytest.approx(4 / 9)
    assert ev.accuracy == pytest.approx(8 / 11)
    assert ev.rows == 11

    md = ev.as_markdown()
    assert "| **comp2** | 0 | 0 | 1 | 1 | 0 |" in md
    assert "| comp2 | 1.000 | 0.500 | 0.667 | 2 |" in md
    assert ev.as_dict()["support_comp1"] == 3


def test_evaluate_without_failure_classes_has_no_macro_f1():
    ev = evaluation_from_confusion([[3, 0, 0, 0, 0]] + [[0] * 5] * 4)
    assert ev.macro_f1 is None
    assert ev.accuracy == 1.0


def test_evaluate_rejects_out_of_range_labels(spark):
    df = spark.createDataFrame([(7, 0.0)], "label_index int, prediction double")
    with pytest.raises(ValueError, match="label_index=7"):
        evaluate(df)


def _probability_frame(spark, rows: list[tuple[float, int]]):
    """(p_none, label_index) rows as a frame with a 5-entry probability vector."""
    data = [(Vectors.dense([p, 1 - p, 0.0, 0.0, 0.0]), label) for p, label in rows]
    return spark.createDataFrame(data, ["probability", "label_index"])


def test_best_alert_threshold_matches_hand_computation(spark):
    # risk = 1 - p_none: 0.9+, 0.8-, 0.7+, 0.7-, 0.4+, 0.1-, 0.05-  (+ = a failure is coming)
    df = _probability_frame(
        spark, [(0.1, 4), (0.2, 0), (0.3, 2), (0.3, 0), (0.6, 1), (0.9, 0), (0.95, 0)]
    )
    # F1 per threshold: .9 -> .5, .8 -> .4, .7 -> 4/7, .4 -> .75, .1 -> 2/3, .05 -> .6
    threshold, precision, recall, f1 = best_alert_threshold(df)
    assert threshold == pytest.approx(0.4)
    assert (precision, recall, f1) == pytest.approx((0.6, 1.0, 0.75))


def test_best_alert_threshold_prefers_fewer_alerts_on_ties(spark):
    # risks .9+ .8- .7- .6+ .5-: F1 = 2/3, .5, .4, 2/3, 4/7; the tie goes to the higher threshold.
    tie = _probability_frame(spark, [(0.1, 1), (0.2, 0), (0.3, 0), (0.4, 2), (0.5, 0)])
    assert best_alert_threshold(tie) == pytest.approx((0.9, 1.0, 0.5, 2 / 3))
    # A single candidate (every risk 0.5): every row alerts.
    flat = _probability_frame(spark, [(0.5, 1), (0.5, 0), (0.5, 1), (0.5, 0)])
    assert best_alert_threshold(flat) == pytest.approx((0.5, 0.5, 1.0, 2 / 3))


def test_risk_is_the_component_at_risks_probability_not_one_minus_none(spark):
    # Spread thin over four components, 40 % of failure mass is no component's 40 %.
    df = spark.createDataFrame(
        [
            (Vectors.dense([0.6, 0.1, 0.1, 0.15, 0.05]),),
            (Vectors.dense([0.2, 0.0, 0.8, 0.0, 0.0]),),
        ],
        ["probability"],
    )
    assert [r[0] for r in df.select(risk_column()).collect()] == pytest.approx([0.15, 0.8])


def test_best_alert_threshold_without_failures(spark):
    df = _probability_frame(spark, [(0.9, 0), (0.2, 0)])
    assert best_alert_threshold(df) == (1.0, 0.0, 0.0, 0.0)


# --- pipeline ------------------------------------------------------------------------------------


def test_probability_vector_has_five_entries_when_classes_are_absent(spark):
    # Only none, comp1, comp2: without the declared classes MLlib would infer 3.
    rows = tiny_rows(spark, {1: "none", 2: "comp1", 3: "comp2", 4: "none"}).cache()
    model = build_pipeline(SMALL, TINY_FEATURES).fit(rows)
    assert model.stages[-1].numClasses == 5
    probs = model.transform(rows).select(vector_to_array("probability").alias("p")).collect()
    assert len(probs) == 32  # rows with a null statistic are imputed and scored, not dropped
    assert {len(r["p"]) for r in probs} == {5}
    assert all(r["p"][3] == 0.0 and r["p"][4] == 0.0 for r in probs)
    assert sum(probs[0]["p"]) == pytest.approx(1.0)

    # The premise: the same classifier on the bare column infers 3 classes.
    bare = VectorAssembler(inputCols=["age"], outputCol="features").transform(rows)
    assert DecisionTreeClassifier(labelCol="label_index", maxDepth=1).fit(bare).numClasses == 3


def test_only_sensor_statistics_are_imputed():
    assert nullable_feature_columns(FEATURE_COLUMNS) == [
        c
        for c in FEATURE_COLUMNS
        if any(k in c for k in ("_mean_", "_std_", "_dev_", "_base_mean", "_base_std"))
    ]
    # 24 rolling stats, 8 baseline mean/std, 12 deviations; never error counts or ages.
    assert len(nullable_feature_columns(FEATURE_COLUMNS)) == 24 + 8 + 12


def test_decision_tree_is_selectable(spark):
    rows = tiny_rows(spark, {1: "none", 2: "comp4"})
    pipeline = build_pipeline(ModelParams(algorithm="decision_tree", max_depth=3), TINY_FEATURES)
    assert isinstance(pipeline.getStages()[-1], DecisionTreeClassifier)
    model = pipeline.fit(rows)
    assert model.stages[-1].numClasses == 5
    importances = feature_importances(model, TINY_FEATURES)
    assert [name for name, _ in importances][0] == "vibration_mean_24h"
    assert [v for _, v in importances] == sorted((v for _, v in importances), reverse=True)

    rf = build_pipeline(ModelParams(num_trees=7), TINY_FEATURES).getStages()[-1]
    assert isinstance(rf, RandomForestClassifier)
    assert (rf.getNumTrees(), rf.getMaxDepth(), rf.getMaxMemoryInMB()) == (7, 10, 2048)
    assert rf.getCacheNodeIds() and rf.getSubsamplingRate() == 0.632
    with pytest.raises(ValueError, match="algorithm"):
        ModelParams(algorithm="gbt")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fold_parallelism"):
        ModelParams(fold_parallelism=0)


def test_class_weights_are_inverse_frequency(spark):
    df = spark.createDataFrame([(0,)] * 6 + [(1,)] * 2 + [(4,)], "label_index int")
    weights = {r["label_index"]: r[WEIGHT_COLUMN] for r in with_class_weights(df).collect()}
    # n / (classes present * n_class) = 9 / (3 * n_class): each class carries weight 3 in all.
    assert weights == pytest.approx({0: 0.5, 1: 1.5, 4: 3.0})

    weighted = build_pipeline(ModelParams(class_weighting=True), TINY_FEATURES)
    assert weighted.getStages()[-1].getWeightCol() == WEIGHT_COLUMN
    assert not build_pipeline(SMALL, TINY_FEATURES).getStages()[-1].isSet("weightCol")
    # (fit_and_evaluate's test fits a weighted forest end to end.)


def test_training_rows_inner_join_declares_classes(spark):
    features = spark.createDataFrame(
        [(1, datetime(2015, 1, 1, tzinfo=UTC), 1.0), (2, datetime(2015, 1, 1, tzinfo=UTC), 2.0)],
        "machineID int, datetime timestamp, age double",
    )
    labels = spark.createDataFrame(
        [(1, datetime(2015, 1, 1, tzinfo=UTC), "comp2", 2), (1, datetime(2015, 1, 2), "none", 0)],
        "machineID int, datetime timestamp, label string, label_index int",
    )
    rows = training_rows(features, labels)
    assert [(r["machineID"], r["label"]) for r in rows.collect()] == [(1, "comp2")]
    meta = rows.schema["label_index"].metadata["ml_attr"]
    assert meta["type"] == "nominal" and meta["vals"] == list(LABELS)


def test_fit_and_evaluate_splits_and_refits_on_the_window(spark):
    start = datetime(2015, 3, 1, tzinfo=UTC)
    labels = {1: "none", 2: "comp1", 3: "none", 4: "comp2"}
    rows = tiny_rows(spark, labels, start).unionByName(
        tiny_rows(spark, labels, start + timedelta(days=4))
    )  # 16 grid rows per machine: 03-01 00:00 .. 03-08 12:00
    window_end = datetime(2015, 3, 8, tzinfo=UTC)  # the 03-08 rows are outside the window
    params = ModelParams(
        num_trees=3,
        max_depth=4,
        max_memory_mb=256,
        seed=1,
        class_weighting=True,
        min_threshold_failures=0,  # the hold-out path; out-of-fold is tested below
    )
    result = fit_and_evaluate(rows, window_end, params, 2, 24, feature_columns=TINY_FEATURES)

    # hold-out 03-06 00:00 .. 03-07 12:00 (4 rows per machine); train T < 03-05 00:00 (8 rows).
    assert (result.holdout_rows, result.train_rows, result.window_rows) == (16, 32, 56)
    assert result.holdout_support == {"none": 8, "comp1": 4, "comp2": 4, "comp3": 0, "comp4": 0}
    assert result.evaluation.rows == 16
    assert result.holdout_start == datetime(2015, 3, 6, tzinfo=UTC)
    # The features give the label away, so even 3 shallow trees get it right.
    assert result.evaluation.macro_f1 == pytest.approx(1.0)
    assert (result.threshold_precision, result.threshold_recall) == (1.0, 1.0)
    assert result.model.stages[-1].numClasses == 5
    importances = dict(result.importances)
    assert sorted(importances) == sorted(TINY_FEATURES)
    assert sum(importances.values()) == pytest.approx(1.0)
    assert importances["age"] == 0.0  # the same for every machine: never split on

    with pytest.raises(ValueError, match="hold-out rows"):
        fit_and_evaluate(rows, start + timedelta(days=1), SMALL, 2, 24, TINY_FEATURES)


def test_few_holdout_failures_take_thresholds_out_of_fold_and_deploy_the_fold_forest(
    spark, tmp_path
):
    import numpy as np
    from pyspark.ml import PipelineModel

    from pdm_assets.transforms.model import out_of_fold_level_rows

    start = datetime(2015, 3, 1, tzinfo=UTC)
    labels = {1: "none", 2: "comp1", 3: "none", 4: "comp2"}
    rows = tiny_rows(spark, labels, start).unionByName(
        tiny_rows(spark, labels, start + timedelta(days=4))
    )
    window_end = datetime(2015, 3, 8, tzinfo=UTC)
    window = rows.filter(F.col("datetime") < F.lit(window_end))
    train, _ = temporal_split(window, window_end, 2, 24)

    def predictions(model):
        return _probabilities(model, rows)

    # The hold-out has no failure (labels never change), fewer than the default 20.
    params = ModelParams(num_trees=3, max_depth=4, max_memory_mb=256, seed=1, threshold_folds=3)
    result = fit_and_evaluate(rows, window_end, params, 2, 24, feature_columns=TINY_FEATURES)
    assert result.levels.folds == 3
    # Deployed: one forest of the three fold models' trees, scoring their mean probability (the
    # scale the thresholds were chosen on). Fits are reproducible, so the folds can be refit here,
    # one after another: fit_and_evaluate fit its three at once (fold_parallelism).
    assert params.fold_parallelism >= 3
    _, fold_models = out_of_fold_level_rows(
        window, build_pipeline(params, TINY_FEATURES), 3, 24, parallelism=1
    )
    assert result.model.stages[-1].getNumTrees == 9
    mean = np.mean([[p for *_, p in predictions(m)] for m in fold_models], axis=0)
    deployed = np.array([p for *_, p in predictions(result.model)])
    np.testing.assert_allclose(deployed, mean, atol=1e-12)
    # It saves and loads as any MLlib pipeline (MLflow logs it through the same writer).
    result.model.save(str(tmp_path / "fold_forest"))
    assert predictions(PipelineModel.load(str(tmp_path / "fold_forest"))) == predictions(
        result.model
    )

    # Asked for, a refit on the whole window is deployed instead.
    refit_params = ModelParams(**{**params.__dict__, "deploy_fold_forest": False})
    result = fit_and_evaluate(rows, window_end, refit_params, 2, 24, TINY_FEATURES)
    refit = build_pipeline(params, TINY_FEATURES).fit(window)
    assert predictions(result.model) == predictions(refit)
    assert result.model.stages[-1].getNumTrees == 3

    # With the hold-out trusted (0 failures needed) the model whose hold-out chose is deployed.
    params = ModelParams(**{**params.__dict__, "min_threshold_failures": 0})
    result = fit_and_evaluate(rows, window_end, params, 2, 24, feature_columns=TINY_FEATURES)
    assert result.levels.folds == 1
    assert predictions(result.model) == predictions(
        build_pipeline(params, TINY_FEATURES).fit(train)
    )
    assert predictions(result.model) != predictions(refit)


class _RecordingPipeline:
    """Fits nothing: records each training set's times and scores every row 0.5 none/comp1."""

    def __init__(self):
        self.trained_on: list[list[datetime]] = []

    def fit(self, rows):
        self.trained_on.append(sorted({r["datetime"] for r in rows.select("datetime").collect()}))
        return self

    def transform(self, rows):
        from pyspark.ml.functions import array_to_vector

        p = [F.lit(v) for v in (0.5, 0.5, 0.0, 0.0, 0.0)]
        return rows.withColumn("probability", array_to_vector(F.array(*p)))


def test_out_of_fold_blocks_cover_the_window_once_and_never_train_on_their_horizon(spark):
    from pdm_assets.transforms.model import out_of_fold_level_rows

    start = datetime(2015, 3, 1, tzinfo=UTC)
    hourly = [(m, start + i * H, 0) for m in (1, 2) for i in range(10 * 24)]
    rows = spark.createDataFrame(hourly, "machineID int, datetime timestamp, label_index int")
    pipeline = _RecordingPipeline()
    level_rows, models = out_of_fold_level_rows(rows, pipeline, 4, 24)
    assert models == [pipeline] * 4  # what each fit returned, in block order

    # Every (machine, hour) of the 10 days exactly once.
    keys = list(zip(level_rows["machineID"], level_rows["hour"], strict=True))
    assert len(keys) == len(set(keys)) == 2 * 240
    assert len(pipeline.trained_on) == 4
    first_hour = int(start.timestamp()) // 3600
    blocks = [(first_hour + 60 * k, first_hour + 60 * (k + 1)) for k in range(4)]  # 2.5 days
    for (block_start, block_end), trained in zip(blocks, pipeline.trained_on, strict=True):
        hours = {int(t.timestamp()) // 3600 for t in trained}
        # Every row except the block, the 24 h before it (their look-ahead reaches into it) and
        # the 24 h after it.
        excluded = set(range(block_start - 24, block_end + 24))
        assert hours == set(range(first_hour, first_hour + 240)) - excluded


# --- reproducibility -----------------------------------------------------------------------------


def _noisy_rows(spark):
    """200 rows whose labels only loosely follow vibration, so every bootstrap sample matters."""
    import numpy as np

    rng = np.random.default_rng(5)
    start = datetime(2015, 3, 1, tzinfo=UTC)
    rows = []
    for m in range(1, 26):
        for i in range(8):
            vibration = float(rng.normal(45, 8))
            label = int(rng.integers(0, 5)) if rng.random() < 0.5 else int(vibration > 50)
            rows.append((m, start + 12 * i * H, vibration, int(rng.integers(0, 3)), 5, label))
    return spark.createDataFrame(rows, TINY_DDL + ", label_index int")


def _probabilities(model, rows) -> list[tuple]:
    scored = model.transform(rows).select(
        "machineID", "datetime", vector_to_array("probability").alias("p")
    )
    return sorted((r["machineID"], r["datetime"], tuple(r["p"])) for r in scored.collect())


def test_training_is_reproducible_however_rows_are_partitioned(spark):
    rows = _noisy_rows(spark)
    split_one_way = rows.repartition(7)
    split_another = rows.orderBy(F.desc("datetime"), "machineID").coalesce(1)
    params = ModelParams(num_trees=5, max_depth=4, max_memory_mb=256, seed=3)
    first = build_pipeline(params, TINY_FEATURES).fit(split_one_way)
    again = build_pipeline(params, TINY_FEATURES).fit(split_another)
    assert _probabilities(first, rows) == _probabilities(again, rows)  # exactly, not approx

    # The layout is what makes it so: MLlib's own forest on the two splits disagrees.
    def bare_forest(df):
        assembled = VectorAssembler(inputCols=TINY_FEATURES, outputCol="features").transform(
            df.na.fill(45.0)
        )
        forest = RandomForestClassifier(labelCol="label_index", numTrees=5, maxDepth=4, seed=3)
        return forest.fit(assembled), assembled

    (a, data_a), (b, _) = bare_forest(split_one_way), bare_forest(split_another)
    assert _probabilities(a, data_a) != _probabilities(b, data_a)
    # A different seed gives a different forest: the seed is used, not ignored.
    other = build_pipeline(ModelParams(**{**params.__dict__, "seed": 4}), TINY_FEATURES)
    assert _probabilities(other.fit(rows), rows) != _probabilities(first, rows)


# --- quality on simulated data -------------------------------------------------------------------

QUALITY_DAYS = 120
QUALITY_TREES = 10  # the default forest but 10 trees, to keep the test short


@pytest.fixture
def generated_code(spark):
    with spark_defaults(spark):
        yield spark


def test_random_forest_reaches_macro_f1_on_simulated_hold_out(generated_code):
    """FleetSimulator(n_machines=100, seed=7) x 120 days from history_start, features over the whole
    range in one call, labels with the 48 h horizon; the last 14 days are the hold-out.

    The clean profile (every sensor excursion ends in a failure): this checks that the chain
    learns a signal that is there, not how good the model is on realistic data, which
    benchmarks/quality.py measures in the crew's units."""
    spark = generated_code
    began = time.perf_counter()
    sim = FleetSimulator(n_machines=100, seed=7, history_start=date(2015, 1, 1), profile="clean")
    start = sim.history_start
    end = start + timedelta(days=QUALITY_DAYS)
    machines = spark.createDataFrame(sim.machines())
    features = machine_features(
        spark.createDataFrame(sim.telemetry(start, end)),
        spark.createDataFrame(sim.errors(start, end)),
        spark.createDataFrame(sim.maintenance(start, end)),
        machines,
        start,
        end,
        unknown_since=sim.history_start,
    )
    # Failures up to end + horizon, so the last rows' labels are complete.
    failures = spark.createDataFrame(sim.failures(start, end + timedelta(days=2)))
    labels = label_upcoming_failures(feature_grid(machines, start, end), failures, 48)
    rows = training_rows(features, labels).localCheckpoint()  # computed once, reused by the fit

    train, holdout = temporal_split(rows, end, holdout_days=14, horizon_hours=48)
    params = ModelParams(num_trees=QUALITY_TREES)
    model = build_pipeline(params).fit(train)
    ev = evaluate(model.transform(holdout))
    elapsed = time.perf_counter() - began

    support = {name: m.support for name, m in ev.per_class.items()}
    print(f"\nhold-out support per class: {support}")
    print(ev.as_markdown())
    print(f"macro-F1 {ev.macro_f1:.3f}; {elapsed:.0f} s for simulation, features and fit")
    assert ev.rows == 100 * 14 * 24  # hourly rows
    assert all(support[c] >= 10 for c in LABELS[1:]), support  # enough failures to judge
    assert ev.macro_f1 >= 0.6
