"""Which error codes confirm which component's precursor, learned from labelled rows."""

from __future__ import annotations

from pyspark.sql import functions as F

from pdm_assets.schemas import ERROR_CODES
from pdm_assets.transforms.act_confirmation import ActConfirmation, learn_act_confirmation

CAP = 168  # hours since the last error when there was none in the lookback


def labelled_rows(spark, comp1_with_error1: int):
    """400 rows: 60 labelled comp1 (the first `comp1_with_error1` with error1 10 h ago, the last 20
    with error3 10 h ago), 60 labelled comp2 with no error, 280 unlabelled of which 20 saw error1,
    30 error2 and 100 error3 recently."""
    rows = []
    for i in range(400):
        since = dict.fromkeys(ERROR_CODES, CAP)
        if i < 60:
            label = 1
            if i < comp1_with_error1:
                since["error1"] = 10
            if i >= 40:
                since["error3"] = 10
        elif i < 120:
            label = 2
        else:
            label = 0
            if i < 140:
                since["error1"] = 20
            elif i < 170:
                since["error2"] = 5
            elif i < 270:
                since["error3"] = 5
        rows.append((label, *(since[e] for e in ERROR_CODES)))
    ddl = "label_index int, " + ", ".join(f"{e}_hours_since int" for e in ERROR_CODES)
    return spark.createDataFrame(rows, ddl)


def test_a_code_confirms_the_component_whose_failures_it_precedes(spark):
    learned = learn_act_confirmation(labelled_rows(spark, comp1_with_error1=40))
    # P(comp1 | error1 recent) = 40/60 against P(comp1) = 60/400: lift 4.4 on 40 rows. error3
    # (20 of 120 rows, lift 1.1) is common and error2 never precedes a failure; comp2 has no code.
    assert dict(learned.codes) == {
        "comp1": ("error1",),
        "comp2": (),
        "comp3": (),
        "comp4": (),
    }
    assert learned.describe().startswith("comp1: error1; comp2: risk only")
    assert ActConfirmation.from_record(learned.as_record()) == learned
    assert ActConfirmation.from_record(None) is None


def test_rows_without_error_history_columns_confirm_by_risk_alone(spark):
    rows = labelled_rows(spark, comp1_with_error1=40).drop(
        *(f"{e}_hours_since" for e in ERROR_CODES)
    )
    learned = learn_act_confirmation(rows)
    assert all(codes == () for codes in learned.codes.values())


def test_too_few_confirmed_rows_learn_nothing(spark):
    # 10 rows (under 16): too few to rest a pattern on.
    learned = learn_act_confirmation(labelled_rows(spark, comp1_with_error1=10))
    assert learned.codes["comp1"] == ()


def test_a_weaker_code_beside_the_best_one_is_left_out(spark):
    # error3 precedes 20 comp1 rows too (lift 1.1): above a minimum lift of 1, but under half the
    # best code's (4.4 / 2).
    learned = learn_act_confirmation(labelled_rows(spark, comp1_with_error1=40), min_lift=1.0)
    assert learned.codes["comp1"] == ("error1",)


def test_a_row_is_confirmed_by_its_own_components_code_within_the_window(spark):
    confirmation = ActConfirmation(codes={"comp1": ("error1", "error2")}, window_hours=36)
    cases = [
        # component, error1 since, error2 since, confirmed?
        ("comp1", 10, CAP, True),
        ("comp1", 36, CAP, True),
        ("comp1", 37, CAP, False),
        ("comp1", CAP, 3, True),  # either of its codes
        ("comp1", None, None, False),  # unknown history confirms nothing
        ("comp2", CAP, CAP, True),  # no confirming code: the risk alone decides
    ]
    frame = spark.createDataFrame(
        [c[:3] for c in cases],
        "component string, error1_hours_since int, error2_hours_since int",
    )
    got = frame.select(confirmation.confirmed(F.col("component")).alias("c")).collect()
    assert [r["c"] for r in got] == [c[3] for c in cases]
