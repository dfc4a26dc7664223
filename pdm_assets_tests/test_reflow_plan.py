"""The re-flow planner: which partitions a corrected raw day makes stale, and in how many runs.

Pure functions of a stated history (no instance, no Spark): 60 days 2026-01-01 .. 03-01, all of
it landed and materialized, models for February and March, a 48 h horizon.
"""

from datetime import date, timedelta

from pdm_assets import automation as auto
from pdm_assets.partitions import FEATURE_LOOKBACK_DAYS, model_partition_for_day

FIRST = date(2026, 1, 1)
LAST = date(2026, 3, 1)  # the newest daily partition
LABEL_LAST = LAST - timedelta(days=2)
DAYS = frozenset(FIRST + timedelta(days=i) for i in range((LAST - FIRST).days + 1))
MODELS = frozenset({"2026-02-01", "2026-03-01"})
SCORED = frozenset(d for d in DAYS if model_partition_for_day(d, 48) in MODELS)
HISTORY = auto.PlanInputs(
    first_day=FIRST,
    daily_last=LAST,
    label_last=LABEL_LAST,
    horizon_hours=48,
    landed=DAYS,
    models=MODELS,
    features=DAYS,
    scores=SCORED,
    labels=frozenset(d for d in DAYS if d <= LABEL_LAST),
)


def d(text: str) -> date:
    return date.fromisoformat(f"2026-{text}")


def span(days) -> tuple[date, date] | None:
    days = sorted(days)
    assert days == [days[0] + timedelta(days=i) for i in range(len(days))], "not contiguous"
    return (days[0], days[-1]) if days else None


def runs(phases) -> list[list[tuple[str, str | None, str | None]]]:
    return [[(s.job, s.first, s.last) for s in phase] for phase in phases]


def test_history_is_what_the_docstring_says():
    assert len(DAYS) == 60
    assert span(SCORED) == (d("02-04"), LAST)  # day D is scored by the model of D - 3 days


def test_a_corrected_maintenance_record_reflows_to_the_newest_day_in_six_runs():
    r = auto.reflow({d("01-20"): {"maintenance"}}, False, HISTORY)
    assert span(r.features) == (d("01-20"), LAST)  # the replacement state is carried forward
    assert r.labels == frozenset()  # labels read failures and the grid only: unchanged
    assert r.models == MODELS  # both training windows hold changed feature days
    assert span(r.scores) == (d("02-04"), LAST)
    # evaluation of D reads the scores of D-3..D and exists up to the newest label day
    assert span(r.evaluation) == (d("02-07"), LABEL_LAST)
    assert runs(auto.plan_phases({d("01-20"): {"maintenance"}}, False, HISTORY)) == [
        [("raw_job", "2026-01-20", "2026-01-20")],
        [("features_job", "2026-01-20", "2026-03-01")],
        [("model_job", "2026-02-01", "2026-02-01"), ("model_job", "2026-03-01", "2026-03-01")],
        [("scores_job", "2026-02-04", "2026-03-01")],
        [("evaluation_job", "2026-02-07", "2026-02-27")],
    ]


def test_a_corrected_telemetry_day_reflows_through_its_seven_day_baseline_only():
    r = auto.reflow({d("02-10"): {"telemetry"}}, False, HISTORY)
    # features of D compare the day with its machine's own 7-day baseline: D..D+7 read day 02-10
    assert span(r.features) == (d("02-10"), d("02-10") + timedelta(days=FEATURE_LOOKBACK_DAYS))
    assert r.labels == frozenset()
    # February's model trained on days up to 01-29: untouched; March's window holds 02-10.
    assert r.models == {"2026-03-01"}
    assert span(r.scores) == (d("02-10"), d("02-17"))  # March's model scores no day yet
    assert span(r.evaluation) == (d("02-10"), d("02-20"))  # scores of D-3..D feed evaluation D


def test_a_corrected_errors_day_reaches_as_far_as_telemetry():
    errors = auto.reflow({d("02-10"): {"errors"}}, False, HISTORY)
    telemetry = auto.reflow({d("02-10"): {"telemetry"}}, False, HISTORY)
    assert errors == telemetry  # error counts use the same 7-day history


def test_a_corrected_failure_relabels_its_lookback_and_retrains_what_learned_from_it():
    r = auto.reflow({d("01-20"): {"failures"}}, False, HISTORY)
    assert r.features == frozenset()
    assert span(r.labels) == (d("01-18"), d("01-20"))  # rows whose horizon sees the failure
    assert r.models == MODELS
    # every day scored by a retrained model is re-scored, and so re-evaluated
    assert span(r.scores) == (d("02-04"), LAST)
    # labels 01-18..01-20 have no scores before 02-04 to evaluate
    assert span(r.evaluation) == (d("02-07"), LABEL_LAST)


def test_a_late_failure_retrains_only_the_model_whose_window_holds_it():
    r = auto.reflow({d("02-25"): {"failures"}}, False, HISTORY)
    assert span(r.labels) == (d("02-23"), d("02-25"))
    assert r.models == {"2026-03-01"}  # March trains on rows up to 02-26 12:00
    assert r.scores == frozenset()  # ... and scores no day of this history yet
    assert span(r.evaluation) == (d("02-23"), d("02-25"))
    assert runs(auto.plan_phases({d("02-25"): {"failures"}}, False, HISTORY)) == [
        [("raw_job", "2026-02-25", "2026-02-25")],
        [("labels_job", "2026-02-23", "2026-02-25")],
        [("model_job", "2026-03-01", "2026-03-01")],
        [("evaluation_job", "2026-02-23", "2026-02-25")],
    ]


def test_a_changed_inventory_reflows_everything_in_one_run_per_job():
    phases = runs(auto.plan_phases({}, True, HISTORY))
    assert phases == [
        [("machines_job", None, None)],
        [("features_job", "2026-01-01", "2026-03-01")],
        [("labels_job", "2026-01-01", "2026-02-27")],
        [("model_job", "2026-02-01", "2026-02-01"), ("model_job", "2026-03-01", "2026-03-01")],
        [("scores_job", "2026-02-04", "2026-03-01")],
        [("evaluation_job", "2026-02-07", "2026-02-27")],
    ]


def test_a_maintenance_reflow_stops_before_a_day_that_has_not_landed():
    gap = auto.PlanInputs(**{**vars(HISTORY), "landed": DAYS - {d("02-15")}})
    r = auto.reflow({d("02-10"): {"maintenance"}}, False, gap)
    assert span(r.features) == (d("02-10"), d("02-14"))  # 02-15's own delivery re-flows on


def test_several_corrections_in_one_delivery_are_one_run_per_contiguous_range():
    changed = {d("01-20"): {"maintenance"}, d("02-10"): {"telemetry"}, d("02-20"): {"failures"}}
    phases = runs(auto.plan_phases(changed, False, HISTORY))
    assert phases[0] == [
        ("raw_job", "2026-01-20", "2026-01-20"),
        ("raw_job", "2026-02-10", "2026-02-10"),
        ("raw_job", "2026-02-20", "2026-02-20"),
    ]
    assert phases[1] == [("features_job", "2026-01-20", "2026-03-01")]
    assert sum(len(p) for p in phases[1:]) == 6  # features, labels, 2 models, scores, evaluation


def test_the_newest_day_alone_is_left_to_automation():
    assert runs(auto.plan_phases({LAST: {"maintenance"}}, False, HISTORY)) == [
        [("raw_job", "2026-03-01", "2026-03-01")]
    ]


def test_without_models_nothing_is_scored_or_retrained():
    bare = auto.PlanInputs(**{**vars(HISTORY), "models": frozenset(), "scores": frozenset()})
    r = auto.reflow({d("01-20"): {"maintenance"}}, False, bare)
    assert r.models == r.scores == r.evaluation == frozenset()


def test_a_plain_list_of_days_means_every_table_changed():
    assert auto.reflow([d("02-10")], False, HISTORY) == auto.reflow(
        {d("02-10"): {"telemetry", "errors", "maintenance", "failures"}}, False, HISTORY
    )
