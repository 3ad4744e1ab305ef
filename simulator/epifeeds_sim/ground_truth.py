"""The answer key of a simulation: every planted fault, exactly as it appears in the files.

`ground_truth.json` is what a test of the platform compares its findings against. Each fault names the
rule it should trip, the feed, the reporter, the report date, the values as published (`values`), the
clean values they replace (`expected`) and the further findings it explains (`consequences`, e.g. a
missing district report also breaks the city-vs-districts reconciliation R1 for that day).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

GROUND_TRUTH_FILE = "ground_truth.json"
FORMAT_VERSION = 1


@dataclass
class PlantedFault:
    kind: str  # e.g. "missing_report", "late_report", "positives_inconsistency", "alias_spelling"
    rule: str | None  # the data-quality rule it should trip (C1, V1, V2, I1, ...); None: not a fault
    feed: str  # "district_reports", "testing_sites", "hotel_reports", ...
    reporter: str | None  # district_id / site_id / hotel_id; None when the reporter is unknown
    reporter_name: str | None  # the name as the feed spells it (canonical name for a missing report)
    report_date: str | None  # ISO date the figures describe
    values: dict[str, Any] = field(default_factory=dict)  # what the files hold
    expected: dict[str, Any] = field(default_factory=dict)  # what a clean delivery would have held
    consequences: list[dict[str, Any]] = field(default_factory=list)  # findings this fault explains
    detail: str = ""
    file: str | None = None  # path relative to the simulation directory, when one file is concerned
    fault_id: str = ""  # F001, F002, ... in planting order

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {"fault_id": data.pop("fault_id"), **data}


@dataclass
class GroundTruth:
    seed: int
    days: int
    start: str
    end: str
    scale: str
    fault_profile: str
    timezone: str
    feeds: dict[str, Any]
    faults: list[PlantedFault]

    def add(self, fault: PlantedFault) -> PlantedFault:
        fault.fault_id = f"F{len(self.faults) + 1:03d}"
        self.faults.append(fault)
        return fault

    def select(
        self, *, feed: str | None = None, kind: str | None = None, rule: str | None = None
    ) -> list[PlantedFault]:
        return [
            f
            for f in self.faults
            if (feed is None or f.feed == feed)
            and (kind is None or f.kind == kind)
            and (rule is None or f.rule == rule)
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "generator": "epifeeds_sim",
            "format_version": FORMAT_VERSION,
            "seed": self.seed,
            "days": self.days,
            "start": self.start,
            "end": self.end,
            "scale": self.scale,
            "fault_profile": self.fault_profile,
            "timezone": self.timezone,
            "feeds": self.feeds,
            "faults": [f.to_dict() for f in self.faults],
        }

    def write(self, sim_dir: Path) -> Path:
        path = sim_dir / GROUND_TRUTH_FILE
        write_json(path, self.to_dict())
        return path

    @classmethod
    def load(cls, sim_dir: Path) -> GroundTruth:
        data = json.loads((sim_dir / GROUND_TRUTH_FILE).read_text(encoding="utf-8"))
        faults = [PlantedFault(**f) for f in data["faults"]]
        return cls(
            seed=data["seed"],
            days=data["days"],
            start=data["start"],
            end=data["end"],
            scale=data["scale"],
            fault_profile=data["fault_profile"],
            timezone=data["timezone"],
            feeds=data["feeds"],
            faults=faults,
        )


def write_json(path: Path, data: Any) -> None:
    """Deterministic JSON: UTF-8, Chinese kept readable, two-space indent, LF line ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    path.write_bytes(text.encode("utf-8"))
