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


# --- a whole column at once gives what each value alone gives -------------------------------------------

from datetime import UTC, timedelta, timezone  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from epifeeds.feeds.contracts import DISTRICT_REPORTS, TESTING_SITE_REPORTS  # noqa: E402
from epifeeds.feeds.values import typed, typed_column  # noqa: E402

CELL = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**9),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            "",
            " ",
            "12",
            " 7 ",
            "１２３",
            "1,234",
            "-3",
            "3.0",
            "1e3",
            "1_000",
            "0" * 45 + "1",
            "٣",
            "2022-03-01",
            "2022/3/1",
            "2022年3月1日",
            "小店区",
            " 小店区 ",
            "a\x00b",
            "\t",
            "x\ty",
            "\ud800",
            "9" * 50,
            "10混1",
        ]
    ),  # fmt: skip
    st.text(max_size=8),
    st.dates(),
    st.datetimes(timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=8))])),
)
COLUMNS = [*TESTING_SITE_REPORTS.columns, DISTRICT_REPORTS.column("submitted_at")]


def one_by_one(column, values):
    out, problems = [], {}
    for position, value in enumerate(values):
        try:
            out.append(typed(column, value))
        except ValueProblem as problem:
            out.append(None)
            problems[position] = str(problem)
    return out, problems


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.sampled_from(COLUMNS), st.lists(CELL, max_size=30), st.integers(1, 40))
def test_a_column_typed_at_once_equals_each_value_typed_alone(column, values, repeat):
    values = values * (repeat if len(values) < 4 else 1)  # repeated values take the few-distinct path
    found, problems = typed_column(column, values)
    expected, expected_problems = one_by_one(column, values)
    assert problems == expected_problems
    assert [(type(v), v) for v in found] == [(type(v), v) for v in expected]
    assert [getattr(v, "tzinfo", None) for v in found] == [getattr(v, "tzinfo", None) for v in expected]


@pytest.mark.parametrize(
    "column",
    [TESTING_SITE_REPORTS.column("samples_collected"), TESTING_SITE_REPORTS.column("site_name_reported")],
)
def test_the_plain_columns_a_file_holds_take_the_fast_path(column):
    values = ["12", "7", "1034"] * 500 if column.is_count else [f"采样点{n}" for n in range(1500)]
    found, problems = typed_column(column, values)
    assert problems == {} and found == [typed(column, v) for v in values]
