"""The confidence interval of a set's mean (agents.stats) and the one rounding of every shown
number (agents.formatting): checked against printed t tables and a hand computation."""

from __future__ import annotations

import math
import statistics

import pytest

from agents.evaluate import evaluate
from agents.formatting import format_interval, format_mean_interval, format_number, format_seeds
from agents.policies import heuristic_policy
from agents.stats import MeanInterval, mean_interval, summary_interval, t_critical, values_interval

# Two-sided 95 % critical values of Student's t, as printed in the usual tables.
T_TABLE = {1: 12.7062, 2: 4.3027, 4: 2.7764, 9: 2.2622, 19: 2.0930, 29: 2.0452, 99: 1.9842}


@pytest.mark.parametrize(("df", "expected"), T_TABLE.items())
def test_the_t_quantile_matches_the_printed_table(df, expected):
    assert t_critical(df) == pytest.approx(expected, abs=5e-5)


def test_the_t_quantile_tends_to_the_normal_one():
    assert t_critical(5000) == pytest.approx(1.95996, abs=1e-3)
    assert t_critical(19, 0.99) == pytest.approx(2.8609, abs=5e-5)
    with pytest.raises(ValueError):
        t_critical(0)


def test_the_interval_of_twenty_episodes_by_hand():
    # 20 episodes, mean 0.3125, population std 0.25: the sample std is 0.25 · √(20/19) and the
    # half-width t(0.975, 19) · s / √20 = 2.093024 · 0.25 / √19 = 0.120043.
    ci = mean_interval(0.3125, 0.25, 20)
    assert ci is not None and ci.n == 20
    assert ci.half_width == pytest.approx(2.0930240544 * 0.25 / math.sqrt(19), rel=1e-9)
    assert (ci.low, ci.high) == pytest.approx((0.192457, 0.432543), abs=1e-6)


def test_a_population_std_is_corrected_to_the_sample_one():
    scores = [0.1, 0.4, 0.35, 0.9, 0.6]
    from_population = mean_interval(statistics.fmean(scores), statistics.pstdev(scores), len(scores))
    from_sample = mean_interval(statistics.fmean(scores), statistics.stdev(scores), len(scores),
                                population_std=False)
    from_values = values_interval(scores)
    assert from_population is not None and from_sample is not None and from_values is not None
    assert from_population.as_list() == pytest.approx(from_sample.as_list())
    assert from_population.as_list() == pytest.approx(from_values.as_list())
    naive = mean_interval(statistics.fmean(scores), statistics.pstdev(scores), len(scores), population_std=False)
    assert naive is not None
    assert naive.half_width < from_population.half_width  # the mistake this guards against: too narrow


def test_no_interval_without_two_episodes_or_a_std():
    assert mean_interval(0.5, 0.0, 1) is None and mean_interval(0.5, None, 20) is None
    assert mean_interval(None, 0.1, 20) is None and values_interval([0.4]) is None
    assert mean_interval(0.5, 0.0, 3) == MeanInterval(0.5, 0.5, 0.5, 3)


def test_a_summary_stored_before_intervals_gets_the_same_interval_as_a_new_one():
    evaluation = evaluate(heuristic_policy, "easy_screening", range(6), "classic")
    new = evaluation.summary()
    from_values = values_interval(evaluation.scores)
    assert from_values is not None and new["score_ci95"] == pytest.approx(from_values.as_list())
    assert new["risk_reduction_ci95"] is not None and new["std_risk_reduction"] >= 0
    old = {k: v for k, v in new.items() if not k.endswith("_ci95")}
    old_score, new_score = summary_interval(old), summary_interval(new)
    old_risk = summary_interval(old, "risk_reduction")
    assert old_score is not None and new_score is not None and old_risk is not None
    assert old_score.as_list() == pytest.approx(new_score.as_list())
    assert old_risk.as_list() == pytest.approx(new["risk_reduction_ci95"])
    assert summary_interval({"mean_score": 0.5, "episodes": 10}) is None  # no std stored: no interval


@pytest.mark.parametrize(("value", "digits", "expected"), [
    (3.15, "steps", "3.2"),  # f"{3.15:.1f}" is "3.1": the binary value is 3.1499…
    (0.3125, "score", "0.313"),  # f"{0.3125:.3f}" is "0.312": half to even
    (2.675, 2, "2.68"), (0.1, 3, "0.100"), (-0.0001, "score", "0.000"), (-0.1235, 3, "-0.124"),
    (2048.5, "rate", "2049"), (12, "score", "12"), (None, "score", "—"), (True, 3, "True"),
])
def test_numbers_round_half_up_on_their_decimal_text(value, digits, expected):
    assert format_number(value, digits) == expected


def test_means_are_written_with_their_interval_and_seeds_as_a_range():
    ci = mean_interval(0.3125, 0.25, 20)
    assert format_interval(ci) == "[0.192, 0.433]"
    assert format_mean_interval(0.3125, ci) == "0.313 [0.192, 0.433]"
    assert format_mean_interval(0.3125, None) == "0.313" and format_mean_interval(None, ci) == "—"
    assert format_seeds(10000, 100) == "10000–10099" and format_seeds(7, 1) == "7" and format_seeds(None, 5) == "—"
