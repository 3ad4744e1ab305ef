"""The feed-health view's pure parts: a heatmap cell's status from what the platform recorded, and the SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from epifeeds_ui.charts import band_chart
from epifeeds_ui.queries import _cell

pytestmark = pytest.mark.unit

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize(
    ("c1", "flags", "status"),
    [
        ({"status": "pass", "severity": "info"}, set(), "on_time"),
        ({"status": "fail", "severity": "warn"}, set(), "late"),
        ({"status": "fail", "severity": "error"}, set(), "missing"),
        ({"status": "fail", "severity": "error"}, {"silenced"}, "silenced"),
        ({"status": "silenced", "severity": "error"}, set(), "silenced"),
        ({"status": "pass", "severity": "info"}, {"revised"}, "revised"),
        ({"status": "fail", "severity": "warn"}, {"revised", "rejected"}, "rejected"),
        (None, set(), "not_due"),
    ],
)
def test_a_cell_is_named_by_its_most_important_status(c1, flags, status):
    cell = _cell(None if c1 is None else c1 | {"observed": {}, "expected": {}}, flags)
    assert cell["status"] == status
    assert status not in cell["flags"]


def test_a_late_and_revised_report_keeps_both_facts():
    cell = _cell({"status": "fail", "severity": "warn", "observed": {}, "expected": {}}, {"revised"})
    assert (cell["status"], cell["flags"]) == ("late", ["revised"])


def test_the_chart_shades_the_band_and_marks_the_break():
    points = [
        {"report_date": "2022-03-01", "value": 0.0, "band_low": -0.02, "band_high": 0.02, "status": "pass"},
        {
            "report_date": "2022-03-02",
            "value": -0.0387,
            "band_low": -0.02,
            "band_high": 0.02,
            "status": "fail",
        },
        {
            "report_date": "2022-03-03",
            "value": None,
            "band_low": None,
            "band_high": None,
            "status": "not_evaluable",
        },
    ]
    svg = ET.fromstring(band_chart(points))
    bands = [r for r in svg.iter(f"{SVG}rect") if r.get("class") == "tolerance-band"]
    circles = {c.get("class"): c for c in svg.iter(f"{SVG}circle")}
    assert len(bands) == 2  # no band where the day could not be judged
    failing, passing = circles["point point-fail"], circles["point point-pass"]
    band = bands[1]
    band_top, band_bottom = float(band.get("y")), float(band.get("y")) + float(band.get("height"))
    assert band_top <= float(passing.get("cy")) <= band_bottom
    assert float(failing.get("cy")) > band_bottom  # below the band: the sites came up short
    assert "not evaluable" in ET.tostring(svg, encoding="unicode")
