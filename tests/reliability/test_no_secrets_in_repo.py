"""No secret-looking literal in any tracked file: passwords, tokens and keys come from the environment.

Scans every file `git ls-files` lists for credentials in URLs, password/secret/token/key assignments,
private keys and well-known token shapes. A literal that must stay (a loopback demo value, a test's
throw-away value) is allowed only by being listed in ALLOWED with why; anything else fails the test.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]

# Values allowed to appear as literals, and why. Keep it short: each one is a decision.
ALLOWED = {
    "demo-token": "the simulator's token for `make demo`, served on loopback only (settings default)",
    "not-used-with-trust-auth": "tests: the test cluster uses trust auth, the value is never checked",
}
# Throw-away values of tests, allowed under tests/ only: by prefix, or listed.
ALLOWED_PREFIXES_IN_TESTS = ("test-", "test_", "wrong")
ALLOWED_IN_TESTS = {
    "feed-health-token": "tests/e2e: the token of a throw-away local stack",
    "scheduler-test-token": "tests/integration: the token of a throw-away local simulator",
    "pw": "tests/unit: a webhook URL's password that redaction must hide",
    "pw-123": "tests/unit: an SMTP connection's password the router must carry",
    "s3cret!": "tests/unit: an SMTP password the alert config must read from the environment",
}

PATTERNS = {
    "credentials in a URL": re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@'\"]*:(?P<value>[^@\s/'\"{}$<>]+)@"),
    "password, secret, token or key assigned": re.compile(
        r"(?i)(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key)\w*['\"]?\s*[:=]\s*"
        r"['\"](?P<value>[^'\"\s$%{}<>]{6,})['\"]"
    ),
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----(?P<value>)"),
    "AWS access key": re.compile(r"\b(?P<value>AKIA[0-9A-Z]{16})\b"),
    "GitHub or Slack token": re.compile(
        r"\b(?P<value>gh[pousr]_[A-Za-z0-9]{30,}|xox[abprs]-[A-Za-z0-9-]{10,})"
    ),
}
# What a placeholder looks like (documentation, not a secret).
PLACEHOLDER = re.compile(
    r"(?i)^(?:\*+|x+|\.+|<.*>|change-?me|your[-_].*|example.*|password|secret|token|none|null"
    r"|[a-z_]+_password)$"  # the last: a psql variable's name (PASSWORD :'bi_reader_password')
)
SKIPPED_SUFFIXES = (".png", ".jpg", ".xlsx", ".ico", ".gz", ".zip", ".lock", ".svg")


def tracked_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, text=True
    ).stdout
    return [ROOT / name for name in listed.split("\0") if name and not name.endswith(SKIPPED_SUFFIXES)]


def is_allowed(value: str, path: Path) -> bool:
    if value in ALLOWED or PLACEHOLDER.match(value):
        return True
    in_tests = "tests" in path.relative_to(ROOT).parts
    return in_tests and (value in ALLOWED_IN_TESTS or value.lower().startswith(ALLOWED_PREFIXES_IN_TESTS))


def find_secrets(path: Path, text: str) -> list[str]:
    found = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        for kind, pattern in PATTERNS.items():
            for match in pattern.finditer(line):
                value = match.group("value")
                if kind in ("private key", "AWS access key", "GitHub or Slack token") or not is_allowed(
                    value, path
                ):
                    found.append(f"{path.relative_to(ROOT)}:{line_number}: {kind}: {line.strip()[:120]}")
    return found


def test_no_tracked_file_holds_a_secret_looking_literal():
    found = []
    for path in tracked_files():
        if not path.is_file():
            continue  # deleted in the working tree
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        found += find_secrets(path, text)
    assert not found, (
        "secret-looking literals in tracked files (use the environment, or add to ALLOWED with why):\n"
        + "\n".join(found)
    )


def test_the_scan_catches_what_it_is_for(tmp_path):
    """The patterns find planted secrets (independently written examples), so a pass means something."""
    # Written in pieces, so this file holds no secret-looking literal itself.
    planted = [
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: postgresql://postgres:" + "hunter2hunter@db/airflow",
        "pass" + 'word = "Tr0ub4dor&3x"',
        "API_TO" + 'KEN: "9f8e7d6c5b4a"',
        "-----BEGIN RSA PRIVATE " + "KEY-----",
        "aws = AKIA" + "ABCDEFGHIJKLMNOP",
    ]
    fake = ROOT / "docs" / "planted.md"  # a path outside tests/, never written: only its name is used
    for line in planted:
        assert find_secrets(fake, line), f"not caught: {line}"
    for harmless in (
        "postgresql://postgres:${POSTGRES_PASSWORD:?set it}@postgres:5432/airflow",
        'password = os.environ["EPIFEEDS_PG_PASSWORD"]',
        "EPIFEEDS_DISTRICT_API_TOKEN: demo-token",
        'token: "<your token>"',
    ):
        assert not find_secrets(fake, harmless), f"false alarm: {harmless}"
