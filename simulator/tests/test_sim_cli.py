"""`epifeeds sim ...` as the main CLI wires it: register(subparsers), then args.func(args)."""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path

import pytest

from epifeeds_sim import cli

pytestmark = pytest.mark.unit


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="epifeeds")
    cli.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_generate_writes_the_simulation_and_says_what_it_wrote(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = parse(
        ["sim", "generate", "--days", "4", "--seed", "5", "--faults", "default", "--out", str(tmp_path)]
        + ["--feeds", "district_reports"]
    )

    assert args.func(args) == 0
    summary = capsys.readouterr().out
    assert "4 report days 2022-03-01..2022-03-04" in summary and "seed 5" in summary
    assert "missing_report (C1: 晋源区 2022-03-03)" in summary and "ground_truth.json" in summary
    assert len(list((tmp_path / "district_reports").glob("*.json"))) == 4
    assert not (tmp_path / "file_drop").exists()
    assert json.loads((tmp_path / "ground_truth.json").read_text(encoding="utf-8"))["seed"] == 5


def test_generate_options_default_sensibly_and_parse_the_start_date() -> None:
    args = parse(["sim", "generate", "--days", "2", "--seed", "1", "--out", "x", "--start", "2022-04-10"])

    assert (args.faults, args.scale, args.start) == ("default", "city", date(2022, 4, 10))
    assert args.feeds == ("district_reports", "testing_sites", "hotel_reports")


def test_feeds_always_include_the_district_feed_and_unknown_feeds_are_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = parse(["sim", "generate", "--days", "2", "--seed", "1", "--out", "x", "--feeds", "hotel_reports"])
    assert args.feeds == ("district_reports", "hotel_reports")

    with pytest.raises(SystemExit):
        parse(["sim", "generate", "--days", "2", "--seed", "1", "--out", "x", "--feeds", "weather"])
    assert "unknown feed(s) weather" in capsys.readouterr().err


def test_serve_parses_its_options_and_refuses_a_directory_without_a_simulation(tmp_path: Path) -> None:
    args = parse(
        ["sim", "serve", "--dir", str(tmp_path), "--port", "0", "--token", "t", "--fail-first-n", "2"]
    )

    assert (args.host, args.port, args.token, args.fail_first_n, args.failure_status) == (
        "127.0.0.1",
        0,
        "t",
        2,
        500,
    )
    with pytest.raises(SystemExit, match="sim generate"):
        args.func(args)


def test_unknown_fault_profiles_are_rejected_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse(["sim", "generate", "--days", "2", "--seed", "1", "--out", "x", "--faults", "many"])
    assert "invalid choice: 'many'" in capsys.readouterr().err


def test_generate_offers_the_province_scale(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = parse(
        ["sim", "generate", "--days", "1", "--seed", "2", "--faults", "none", "--out", str(tmp_path)]
        + ["--scale", "province", "--feeds", "district_reports"]
    )

    assert args.func(args) == 0
    assert "scale province" in capsys.readouterr().out
    (day,) = (tmp_path / "district_reports").glob("*.json")
    assert len(json.loads(day.read_text(encoding="utf-8"))["items"]) == 117 + 11  # districts and cities
    roster = json.loads((tmp_path / "registries/districts.json").read_text(encoding="utf-8"))["items"]
    assert [i["district_name"] for i in roster if i["district_level"] == "city"][:3] == [
        "太原市",
        "大同市",
        "阳泉市",
    ]
    with pytest.raises(SystemExit):  # the tests' reduced province is not a CLI choice
        parse(["sim", "generate", "--days", "1", "--seed", "2", "--out", "x", "--scale", "province-small"])
