from datetime import date

import pytest

from epifeeds.feeds.values import ValueProblem, parse_count, parse_date

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1,234", 1234),
        ("１２３", 123),
        ("１，２３４", 1234),
        (" 7 ", 7),
        (5, 5),
        (5.0, 5),
        ("", None),
        (None, None),
    ],
)
def test_counts_as_agencies_type_them(raw, expected):
    assert parse_count(raw) == expected


@pytest.mark.parametrize("raw", ["-3", -1, "3.5", "n/a", True])
def test_bad_counts_are_refused_with_a_reason(raw):
    with pytest.raises(ValueProblem) as problem:
        parse_count(raw)
    assert str(raw) in str(problem.value) or repr(raw) in str(problem.value)


@pytest.mark.parametrize("raw", ["2022-03-06", "2022/3/6", "2022年3月6日", "２０２２-０３-０６"])
def test_dates_in_the_spellings_bulletins_use(raw):
    assert parse_date(raw) == date(2022, 3, 6)
