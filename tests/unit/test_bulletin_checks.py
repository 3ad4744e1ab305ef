"""The bulletin's own rules on hand-written series (no database): N1 once per measure, I2 before I5,
unpublished measures skipped, no comparison across a missing date."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from epifeeds.feeds.names import load_district_roster
from epifeeds.quality.bulletin_checks import check_measure_pairs, check_unpublished

pytestmark = pytest.mark.unit

ROSTER = load_district_roster()
DAYS = [date(2022, 4, 9) + timedelta(days=n) for n in range(5)]


def series(values: list[int | None], published: bool = True) -> dict[date, tuple[int | None, bool]]:
    return {day: (value, published) for day, value in zip(DAYS, values, strict=True)}


def failing(checked) -> set[tuple[str, str, date, tuple[str, ...]]]:
    return {
        (
            r.rule,
            r.reporter,
            r.report_date,
            tuple(sorted(f.details.get("measures", {}) or [f.details.get("measure")])),
        )
        for r, f in checked
        if r.status == "fail"
    }


def test_a_decrease_is_one_i2_and_the_same_pairs_i5_that_day_is_not_raised():
    data = {
        ("110000", "cumulative_recovered"): series([2850, 2857, 2600, 2605, 2610]),
        ("110000", "new_recovered"): series([7, 7, 5, 5, 5]),
        ("110000", "cumulative_deaths"): series([7, 7, 0, 0, 1]),
        ("110000", "new_deaths"): series([0, 0, 0, 0, 2]),  # 0 → 1 with 2 new: I5 on the last day
    }
    assert failing(check_measure_pairs(data, DAYS, ROSTER)) == {
        ("I2", "110000", DAYS[2], ("cumulative_deaths", "cumulative_recovered")),
        ("I5", "110000", DAYS[4], ("cumulative_deaths",)),
    }


def test_unpublished_measures_are_one_n1_each_and_the_identity_rules_skip_them():
    data = {
        ("110000", "cumulative_local_confirmed"): series([0, 0, 0, 0, 0], published=False),
        ("110000", "new_local_confirmed"): series([3, 0, 4, 0, 1]),
        ("110105", "cumulative_confirmed"): series([None] * 5, published=False),
        ("110105", "new_confirmed"): series([1, 1, 1, 1, 1]),
    }
    assert failing(check_unpublished(data, DAYS, ROSTER)) == {
        ("N1", "110000", DAYS[0], ("cumulative_local_confirmed",)),
        ("N1", "110105", DAYS[0], ("cumulative_confirmed",)),
    }
    assert {r.severity for r, _ in check_unpublished(data, DAYS, ROSTER)} == {"info"}
    assert failing(check_measure_pairs(data, DAYS, ROSTER)) == set()


def test_no_comparison_across_a_missing_date():
    recovered, new = series([10, 17, 0, 40, 47]), series([7, 7, 0, 7, 7])
    del recovered[DAYS[2]], new[DAYS[2]]  # DAYS[3] (40) is not compared with DAYS[1] (17)
    data = {("110000", "cumulative_recovered"): recovered, ("110000", "new_recovered"): new}
    assert failing(check_measure_pairs(data, DAYS, ROSTER)) == set()
