"""Watch and act thresholds chosen on hand-made hold-out rows (pure numpy, no Spark)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pdm_assets.transforms.alert_levels import (
    choose_level_thresholds,
    failures_from_flags,
    published_hour,
    wilson_lower_bound,
)

HORIZON = 48


def holdout(blocks: dict[tuple[int, int, int], tuple[float, int]], failures) -> pd.DataFrame:
    """Hourly rows 0..199 of machines 1..3 at risk 0.05 (comp1), with `blocks` {(machine, first
    hour, last hour): (risk, component)} overriding, and label flags from `failures`
    [(machine, component, hour)]: a failure at f flags the rows f-48 .. f-1."""
    rows = []
    for m in (1, 2, 3):
        for h in range(200):
            risk, comp = 0.05, 1
            for (bm, lo, hi), value in blocks.items():
                if bm == m and lo <= h <= hi:
                    risk, comp = value
            flags = [
                int(any(fm == m and fc == c and f - HORIZON <= h < f for fm, fc, f in failures))
                for c in (1, 2, 3, 4)
            ]
            rows.append((m, h, risk, comp, *flags))
    columns = ["machineID", "hour", "risk", "component", *(f"fails_comp{i}" for i in range(1, 5))]
    return pd.DataFrame(rows, columns=columns)


FAILURES = [(1, 1, 100), (2, 2, 150)]
BLOCKS = {
    (1, 52, 75): (0.30, 1),  # precursor of machine 1's failure, >= 24 h ahead
    (1, 76, 99): (0.90, 1),  # confirmed, the last day
    (2, 102, 125): (0.40, 2),
    (2, 126, 149): (0.95, 2),
    (3, 20, 40): (0.35, 3),  # a false precursor
    (3, 60, 62): (0.85, 4),  # a false confirmation
}


def test_failures_are_recovered_from_the_label_flags():
    rows = holdout(BLOCKS, FAILURES)
    got = failures_from_flags(rows)
    assert sorted(map(tuple, got.to_numpy().tolist())) == [(1, 1, 100), (2, 2, 150)]


def test_level_thresholds_come_from_the_holdout():
    levels = choose_level_thresholds(
        holdout(BLOCKS, FAILURES), HORIZON, fallback=0.5, min_act_episodes=2
    )
    # Watch: each failure's best right-component risk published >= 24 h ahead is 0.30 and 0.40;
    # catching 90 % of 2 failures needs both: the lower one.
    assert levels.watch_threshold == pytest.approx(0.30)
    assert levels.watch_catch_24h == 1.0
    # At watch, 4 episodes (2 true, the false precursor, the false confirmation).
    assert (levels.watch_episodes, levels.watch_episode_precision) == (4, 0.5)
    # Act: below 0.85 the false confirmation keeps precision at 2/3 < 70 %; above it, 2 of 2.
    assert 0.85 < levels.act_threshold <= 0.90
    assert (levels.act_episodes, levels.act_episode_precision) == (2, 1.0)
    assert levels.act_catch_12h == 1.0 and levels.act_target_met
    assert levels.holdout_failures == 2

    # A different hold-out gives different thresholds: a weaker early signal lowers watch.
    weaker = {**BLOCKS, (2, 102, 125): (0.20, 2)}
    assert choose_level_thresholds(
        holdout(weaker, FAILURES), HORIZON, fallback=0.5, min_act_episodes=2
    ).watch_threshold == pytest.approx(0.20)


def test_act_falls_back_to_the_surest_threshold_when_the_target_is_out_of_reach():
    # With at least 3 episodes required, no threshold reaches 70 %: the best (2/3) is kept and
    # reported as missing its target.
    levels = choose_level_thresholds(holdout(BLOCKS, FAILURES), HORIZON, fallback=0.5)
    assert levels.act_episode_precision == pytest.approx(2 / 3)
    assert not levels.act_target_met
    assert levels.act_threshold >= levels.watch_threshold


def test_without_failures_both_levels_fall_back():
    levels = choose_level_thresholds(holdout({}, []), HORIZON, fallback=0.7)
    assert (levels.watch_threshold, levels.holdout_failures) == (0.7, 0)
    assert levels.watch_catch_24h is None


def confirmed_holdout(blocks, confirmed_blocks) -> pd.DataFrame:
    """holdout(blocks, FAILURES) with a `confirmed` flag on the rows of `confirmed_blocks`
    [(machine, first hour, last hour)]."""
    rows = holdout(blocks, FAILURES)
    flag = pd.Series(0, index=rows.index)
    for m, lo, hi in confirmed_blocks:
        flag[(rows.machineID == m) & rows.hour.between(lo, hi)] = 1
    return rows.assign(confirmed=flag)


def test_act_requires_confirmation_when_that_meets_the_target_and_the_risk_alone_does_not():
    # The false confirmation is now the riskiest episode: on risk alone, 0.90 gives 2 of 3 right
    # and 0.95 1 of 2, under 70 %. Its rows lack the confirming error; the failures' last days
    # have it.
    blocks = {**BLOCKS, (3, 60, 62): (0.97, 4)}
    rows = confirmed_holdout(blocks, [(1, 76, 99), (2, 126, 149)])
    levels = choose_level_thresholds(rows, HORIZON, fallback=0.5, min_act_episodes=2)
    assert levels.act_confirmed
    assert levels.act_threshold == pytest.approx(0.90)
    assert (levels.act_episodes, levels.act_episode_precision) == (2, 1.0)
    assert levels.act_catch_12h == 1.0
    assert "act (confirmed)" in levels.as_markdown()
    # Without the flag the same rows miss the target.
    plain = choose_level_thresholds(
        rows.drop(columns="confirmed"), HORIZON, fallback=0.5, min_act_episodes=2
    )
    assert not plain.act_confirmed and not plain.act_target_met


def test_act_keeps_the_risk_alone_when_confirmation_would_miss_failures():
    # Only the false confirmation carries the error: requiring it would catch nothing.
    rows = confirmed_holdout(BLOCKS, [(3, 60, 62)])
    levels = choose_level_thresholds(rows, HORIZON, fallback=0.5, min_act_episodes=2)
    assert not levels.act_confirmed
    assert 0.85 < levels.act_threshold <= 0.90 and levels.act_catch_12h == 1.0


def test_the_fallback_prefers_a_precision_measured_on_many_episodes():
    # 0.8 on 5 episodes is less sure than 0.65 on 40 (lower bounds about 0.43 and 0.52).
    assert wilson_lower_bound(0.65, 40) > wilson_lower_bound(0.8, 5)
    assert wilson_lower_bound(0.65, 40) == pytest.approx(0.519, abs=0.005)
    assert wilson_lower_bound(1.0, 3) < 1.0 and wilson_lower_bound(0.5, 0) == 0.0


def test_act_catch_is_measured_as_published_with_the_deployments_files():
    assert list(published_hour(np.array([30, 47, 48]), 24)) == [48, 48, 72]
    assert list(published_hour(np.array([30, 47]))) == [31, 48]  # hourly: the next hour
    with pytest.raises(ValueError, match="must divide 24"):
        published_hour(np.array([30]), 5)  # 5-hour files would not line up with days
    rows = holdout(BLOCKS, FAILURES)
    hourly = choose_level_thresholds(rows, HORIZON, fallback=0.5, min_act_episodes=2)
    daily = choose_level_thresholds(
        rows, HORIZON, fallback=0.5, min_act_episodes=2, landing_interval_hours=24
    )
    assert daily.act_threshold == hourly.act_threshold  # precision does not depend on it
    # The act rows start 24 h before each failure (hours 76 and 126): published the next hour,
    # both are 23 h ahead; with daily files, at midnight (hours 96 and 144), 4 and 6 h ahead.
    assert (hourly.act_catch_12h, daily.act_catch_12h) == (1.0, 0.0)
