"""Features and labels as daily partitions: day by day == single-run backfill == one recompute."""

from datetime import date, datetime, timedelta

import dagster as dg
import pandas as pd
import pytest

from pdm_assets.assets.labels import missing_lookahead
from pdm_assets.partitions import label_partitions
from pdm_assets.transforms.features import machine_features
from pdm_assets.transforms.replacements import inventory_replacements

RAW = ["machines", "raw_telemetry", "raw_errors", "raw_maintenance", "raw_failures"]
FEATURES = ["component_replacements", "machine_features"]
# Labels end their partitions a horizon earlier, so Dagster runs them apart from the features.
LABELS = ["failure_labels"]
DAYS = [f"2015-01-0{d}" for d in range(1, 5)]


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["machineID", "datetime"]).reset_index(drop=True)


def _read(platform, table, days=DAYS) -> pd.DataFrame:
    return _sorted(platform.store.read(table, days).toPandas())


def _assert_same(left: pd.DataFrame, right: pd.DataFrame):
    assert list(left.columns) == list(right.columns)
    assert len(left) == len(right) > 0
    for col in left.columns:
        if pd.api.types.is_float_dtype(left[col]):
            diff = (left[col] - right[col]).abs()
            both_null = left[col].isna() & right[col].isna()
            assert ((diff <= 1e-9) | both_null).all(), col
        else:
            assert list(left[col].astype(str)) == list(right[col].astype(str)), col


@pytest.fixture
def raw_week(platform):
    assert platform.run(["machines"]).success
    assert platform.run(RAW[1:], "2015-01-01", "2015-01-07").success
    return platform


def _run_chain(platform, first, last, checks=True):
    features = platform.run(FEATURES, first, last, checks=checks)
    labels = platform.run(LABELS, first, last, checks=checks)
    return features, labels


def test_day_by_day_equals_single_run_equals_one_recompute(raw_week, spark):
    platform = raw_week
    features, labels = _run_chain(platform, DAYS[0], DAYS[-1])
    checks = [*features.get_asset_check_evaluations(), *labels.get_asset_check_evaluations()]
    assert len(checks) == 3 and all(e.passed for e in checks)
    single_features = _read(platform, "machine_features")
    single_labels = _read(platform, "failure_labels")

    for day in DAYS:  # the checks ran on the single run above
        _run_chain(platform, day, day, checks=False)
    _assert_same(_read(platform, "machine_features"), single_features)
    _assert_same(_read(platform, "failure_labels"), single_labels)

    # One transform call over the whole history, given every maintenance record there is.
    store = platform.store
    machines = store.read("machines")
    every_day = [f"2015-01-0{d}" for d in range(1, 8)]
    history = inventory_replacements(machines).unionByName(
        store.read("raw_maintenance", every_day).select("datetime", "machineID", "comp")
    )
    recomputed = machine_features(
        store.read("raw_telemetry", every_day),
        store.read("raw_errors", every_day),
        history,
        machines,
        date(2015, 1, 1),
        date(2015, 1, 5),
        date(2014, 1, 1),
    )
    _assert_same(_sorted(recomputed.toPandas()), single_features)
    assert len(single_features) == 6 * 24 * len(DAYS)


def test_metadata_is_per_partition_in_a_single_run(raw_week):
    platform = raw_week
    features, result = _run_chain(platform, DAYS[0], DAYS[-1])
    labels = _read(platform, "failure_labels")
    labels["day"] = labels["datetime"].dt.strftime("%Y-%m-%d")
    expected = labels.groupby("day")["label"].apply(lambda s: (s != "none").mean()).to_dict()
    recorded = {
        m.partition: m.metadata["label_rate"].value
        for m in result.asset_materializations_for_node("failure_labels")
    }
    assert recorded == pytest.approx(expected, rel=1e-3)  # metadata keeps 4 significant digits
    rows = {
        m.partition: m.metadata["dagster/row_count"].value
        for m in features.asset_materializations_for_node("machine_features")
    }
    assert rows == {d: 6 * 24 for d in DAYS}  # 6 machines, hourly grid
    partial = {
        m.partition: m.metadata["partial_window_share"].value
        for m in features.asset_materializations_for_node("machine_features")
    }
    # The first day has less than 36 h of history; later days are complete.
    assert partial["2015-01-01"] == 1.0 and partial["2015-01-03"] == 0.0


def test_labels_refuse_a_day_whose_horizon_is_missing(raw_week):
    platform = raw_week
    assert platform.run(FEATURES, "2015-01-01", "2015-01-07").success
    result = platform.run(["failure_labels"], "2015-01-06", "2015-01-06", raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "2015-01-08" in failure.step_failure_data.error.to_string()


def test_missing_lookahead_names_the_trimmed_days():
    days = [date(2015, 1, 30), date(2015, 1, 31)]
    loaded = ["2015-01-30", "2015-01-31", "2015-02-01"]
    assert missing_lookahead(days, loaded, 2) == ["2015-02-02"]
    assert missing_lookahead(days, [*loaded, "2015-02-02"], 2) == []


def test_label_partitions_end_one_horizon_before_the_raw_days():
    yesterday = (datetime.utcnow().date() - timedelta(days=1)).isoformat()
    labels = label_partitions(48)
    raw_last = dg.DailyPartitionsDefinition(start_date="2015-01-01").get_last_partition_key()
    assert raw_last == yesterday
    assert (
        labels.get_last_partition_key()
        == (date.fromisoformat(yesterday) - timedelta(days=2)).isoformat()
    )
    assert (
        label_partitions(49).get_last_partition_key()
        == (date.fromisoformat(yesterday) - timedelta(days=3)).isoformat()
    )


def test_features_of_a_later_day_need_the_state_of_the_day_before(raw_week):
    platform = raw_week
    result = platform.run(
        ["component_replacements"], "2015-01-04", "2015-01-04", raise_on_error=False
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "2015-01-03" in failure.step_failure_data.error.to_string()
