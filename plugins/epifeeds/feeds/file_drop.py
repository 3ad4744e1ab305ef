"""The file drop agencies upload to, read through fsspec: a local folder by default, any fsspec URL
(`s3://bucket/drop`, `memory://drop`) by configuration.

Layout (what the simulator writes and district offices and hotels are asked to follow):

    <root>/<feed folder>/<reporter>/<report date>.<csv|xlsx|json>     e.g. testing_sites/140105/2022-03-01.csv
    <root>/arrivals.json                                               optional: {"files": {path: arrived_at}}

A file's arrival time is its entry in `arrivals.json` when there is one (object stores cannot keep a
copied file's modification time), else its modification time. A run takes only files that had arrived
by its data interval's end, so re-running an interval sees exactly what the first run saw.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cached_property
from typing import BinaryIO

import fsspec

ARRIVALS_MANIFEST = "arrivals.json"


class FileDropUnavailable(RuntimeError):
    """The file drop cannot be read at all; the message says what to check."""


@dataclass(frozen=True)
class DropFile:
    uri: str  # full URL, with the protocol, as recorded in landing.batches.source_uri
    relative_path: str  # below the drop root, e.g. testing_sites/140105/2022-03-01.csv
    reporter_label: str  # the reporter folder as named in the drop (an id, or a name to resolve)
    report_date: date
    file_format: str  # csv | xlsx | json (the file's extension, lower-case)
    arrived_at: datetime  # UTC


class FileDrop:
    def __init__(self, root_url: str) -> None:
        self.root_url = root_url.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.root_url)

    def _uri(self, path: str) -> str:
        protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        if protocol in ("file", "local"):
            return f"file://{path}"
        return f"{protocol}://{path.lstrip('/')}"

    @cached_property
    def arrivals(self) -> dict[str, datetime]:
        """The optional manifest, keyed by path below the root."""
        path = f"{self.root}/{ARRIVALS_MANIFEST}"
        if not self.fs.exists(path):
            return {}
        with self.fs.open(path, "rb") as handle:
            files = json.loads(handle.read()).get("files", {})
        arrivals = {}
        for listed, moment in files.items():
            parsed = datetime.fromisoformat(str(moment).replace("Z", "+00:00"))
            arrivals[listed] = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        return arrivals

    def arrived_at(self, path: str) -> datetime:
        relative = posixpath.relpath(path, self.root) if path.startswith(self.root) else path
        for listed, moment in self.arrivals.items():  # manifest paths may carry the drop's own folder name
            if listed == relative or listed.endswith("/" + relative):
                return moment
        modified = self.fs.modified(path)
        return modified if modified.tzinfo else modified.replace(tzinfo=UTC)

    def check_reachable(self, what: str) -> None:
        if not self.fs.exists(self.root):
            raise FileDropUnavailable(
                f"{what}: the file drop {self.root_url} does not exist or is empty; check "
                f"EPIFEEDS_FILE_DROP_URL (and EPIFEEDS_REGISTRY_URL for registries) and that the drop is mounted"
            )

    def files_for(
        self, feed_folder: str, report_dates: list[date], *, arrived_by: datetime
    ) -> list[DropFile]:
        """The feed's files for the report dates that had arrived by `arrived_by`, oldest date first."""
        found: list[DropFile] = []
        for report_date in report_dates:
            pattern = f"{self.root}/{feed_folder}/*/{report_date.isoformat()}.*"
            for path in sorted(self.fs.glob(pattern)):
                extension = path.rsplit(".", 1)[-1].lower()
                if extension not in ("csv", "xlsx", "json") or self.fs.isdir(path):
                    continue
                try:
                    arrived_at = self.arrived_at(path)
                except OSError:  # listed, but gone or unreadable (a link to nowhere): reading it fails, and
                    arrived_at = arrived_by  # the run lists it as failed rather than skipping it unseen
                if arrived_at > arrived_by:
                    continue  # not there yet at the run's time: a later run takes it
                found.append(
                    DropFile(
                        uri=self._uri(path),
                        relative_path=posixpath.relpath(path, self.root),
                        reporter_label=path.rsplit("/", 2)[-2],
                        report_date=report_date,
                        file_format=extension,
                        arrived_at=arrived_at,
                    )
                )
        return found

    def read(self, drop_file: DropFile) -> bytes:
        with self.open(drop_file.relative_path) as handle:
            return handle.read()

    def size(self, relative_path: str) -> int:
        """Bytes of one file below the root, without reading it (an OSError if it is gone)."""
        return self.fs.size(f"{self.root}/{relative_path}")

    def open(self, relative_path: str) -> BinaryIO:
        """One file below the root, to read in pieces (a file beyond the size limit is never read whole)."""
        return self.fs.open(f"{self.root}/{relative_path}", "rb")

    def located(self, relative_path: str) -> tuple[datetime, str]:
        """(arrival time, URI) of one file below the root, without reading it."""
        path = f"{self.root}/{relative_path}"
        if not self.fs.isfile(path):
            raise FileDropUnavailable(
                f"{relative_path} is missing under {self.root_url}: check EPIFEEDS_REGISTRY_URL (or "
                f"EPIFEEDS_FILE_DROP_URL) and ask the registry's owner to publish it"
            )
        return self.arrived_at(path), self._uri(path)
