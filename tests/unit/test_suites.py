import pytest

from epifeeds.feeds.contracts import CONTRACTS
from epifeeds.quality.suites import derive_suite, load_suite

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("feed", sorted(CONTRACTS))
def test_reviewed_suite_matches_its_contract(feed):
    """The committed JSON is what runs; it must not drift from the contract it was derived from.
    After changing a contract, regenerate with epifeeds.quality.suites.write_suite and review the diff."""
    assert load_suite(CONTRACTS[feed]) == derive_suite(CONTRACTS[feed])


def test_every_count_column_must_be_non_negative():
    suite = derive_suite(CONTRACTS["district_reports"])
    checked = {
        e["kwargs"]["column"]
        for e in suite["expectations"]
        if e["type"] == "expect_column_values_to_be_between"
    }
    assert checked == set(CONTRACTS["district_reports"].count_columns)
