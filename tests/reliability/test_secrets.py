"""No secret-looking string is committed: AWS key ids, secret access keys, private keys."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PATTERNS = {
    "AWS access key id": re.compile(rb"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret access key": re.compile(
        rb"(?i)aws_?secret_?access_?key\s*[\"']?\s*[=:]\s*[\"']?(?P<value>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"),
    "private key": re.compile(rb"-{5}BEGIN (?:[A-Z]+ )*PRIVATE KEY-{5}"),
}
ALLOWED = {b"testing"}  # moto's dummy credentials


def scan(text: bytes) -> list[str]:
    found = []
    for name, pattern in PATTERNS.items():
        for match in pattern.finditer(text):
            value = match.groupdict().get("value") or match.group(0)
            if value not in ALLOWED:
                found.append(f"{name} at byte {match.start()}")
    return found


def tracked_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [ROOT / p.decode() for p in out.split(b"\0") if p]


def test_no_secret_is_committed():
    files = tracked_files()
    assert files
    leaks = [f"{path.relative_to(ROOT)}: {hit}" for path in files if path.is_file() for hit in scan(path.read_bytes())]
    assert not leaks, "secret-looking strings are committed:\n" + "\n".join(leaks)


def test_the_scanner_finds_what_it_should_and_allows_the_moto_dummy():
    key_id = "AKIA" + "Q" * 16
    secret = "aws_secret_access_key = " + "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY"
    pem = "-----BEGIN " + "RSA PRIVATE KEY-----"
    for text in (key_id, secret, pem, "ASIA" + "Z9" * 8):
        assert scan(text.encode()), text
    assert scan(b'aws_secret_access_key="testing"') == []
    assert scan(b"AKIA is the prefix of long-term key ids") == []
