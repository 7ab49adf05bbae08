"""No secret is committed: every file git would commit is scanned for keys, tokens and passwords.

Issue 8: the Fernet key, the JWT secret, database passwords and the HMAC key are generated at
set-up (``var/secrets/``, gitignored) or read from the environment / an Airflow secrets backend;
none is in the repository. This test reads the files ``git ls-files --cached --others
--exclude-standard`` lists (tracked, plus new files not ignored: what the next commit would
hold) and looks for:

- private key blocks (``-----BEGIN … PRIVATE KEY-----``);
- AWS access key ids (``AKIA…``) and ``aws_secret_access_key`` values;
- Fernet keys (URL-safe base64 of 32 bytes: 43 characters and ``=``);
- JWTs (``eyJ….eyJ….…``);
- long high-entropy values assigned to a name like password/secret/token/key;
- URLs with a password (``scheme://user:<password>@host``); the passwordless forms the project
  documents (``postgresql+psycopg://postgres@127.0.0.1``) and placeholders (``…``, ``***``,
  ``<password>``, ``${VAR}``) are fine;
- the ``POPDATA_HMAC_KEY`` form ``<key_id>:<base64 of ≥ 32 bytes>``.

Synthetic secrets in this file are built at run time, so the file passes its own scan. A
finding that is intended goes into :data:`ALLOWLIST` with its path, the matched text and why.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import secrets
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

#: Intended findings: (path, kind, exact matched text) → why it is not a secret. Keep it short;
#: every entry is a reason to fix the file instead. (The texts are concatenated from two parts so
#: that this file does not match them itself.)
ALLOWLIST: dict[tuple[str, str, str], str] = {
    # A deliberately fake password: the test checks that GX does not expand "$VAR" inside a URL;
    # the test server uses trust authentication and ignores it.
    (
        "tests/integration/test_quality_gx.py",
        "url-credentials",
        "postgresql+psycopg://postgres:" + "pw$POPDATA_UNSET_VAR@",
    ): "fake password on purpose (URL-escaping test)",
}

# --- the scanner --------------------------------------------------------------------------------------

_B64URL = r"A-Za-z0-9_\-"
_B64 = r"A-Za-z0-9+/_\-"
_PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16}\b")
# the end is "no more key characters", not \b: a key ending in "/" or "+" has no word boundary after it
_AWS_SECRET = re.compile(
    r"(?i)aws_?secret_?access_?key\s*[:=]\s*['\"]?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"
)
_FERNET = re.compile(rf"(?<![{_B64}])[{_B64URL}]{{43}}=(?![{_B64}=])")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
_HMAC_ENV = re.compile(
    rf"(?<![A-Za-z0-9_.:-])([A-Za-z0-9][A-Za-z0-9_.-]{{0,31}}):([{_B64}]{{43,}}={{0,2}})(?![{_B64}=])"
)
_ASSIGNED = re.compile(
    r"(?i)([A-Za-z0-9_.-]*(?:password|passwd|pwd|secret|token|api_?key|access_?key|private_?key|"
    r"credential|auth|key)[A-Za-z0-9_.-]*)['\"]?\s*(?::=|=>|[:=])\s*[fbr]?['\"]?"
    r"([^\s'\"`,;()\[\]{}<>]{20,})"
)
_URL_CREDENTIALS = re.compile(r"\b[a-z][a-z0-9+._-]*://([^\s:/?#@'\"<>]*):([^\s/?#@'\"<>]*)@")
#: A password in a URL that stands for one (or is taken from the environment at run time).
_PLACEHOLDER = re.compile(
    r"(?:…|\.{3}|\*+|x{3,}|X{3,}|<[^>]*>|\$\{[^}]*\}|\$[A-Z_][A-Z0-9_]*|\{[A-Za-z_]*\}|%\([a-z_]+\)s|)"
)
ENTROPY_THRESHOLD = 3.5  # bits per character; random base64 of 20+ characters is above 4


@dataclass(frozen=True, repr=False)
class Finding:
    """One suspected secret: where, which rule, and the matched text (shown shortened)."""

    path: str
    line: int
    kind: str
    text: str

    def __str__(self) -> str:
        """Where and what, with only the first characters of the match (CI logs are not private)."""
        return f"{self.path}:{self.line}: {self.kind}: {self.text[:8]}… ({len(self.text)} characters)"

    __repr__ = __str__


def shannon_entropy(text: str) -> float:
    """Shannon entropy of ``text`` in bits per character."""
    if not text:
        return 0.0
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _b64_bytes(text: str) -> int:
    """How many bytes ``text`` decodes to as (URL-safe or standard) base64; 0 if it does not."""
    compact = text.translate(str.maketrans("-_", "+/"))
    try:
        return len(base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True))
    except (binascii.Error, ValueError):
        return 0


#: snake_case, dotted and path-like names whose parts are words (with a number at most):
#: ``row_number_2024_partition_by``, ``popdata.linkage.keys``; not ``3f2a9c1e-4b5d-…`` (a UUID).
_NAME_LIKE = re.compile(
    r"(?:[a-z]+[0-9]*|[0-9]+)(?:[_./-](?:[a-z]+[0-9]*|[0-9]+))+|(?:[A-Z]+[0-9]*|[0-9]+)(?:_(?:[A-Z]+[0-9]*|[0-9]+))+"
)


def _random_looking(value: str) -> bool:
    """Long, high-entropy, letters and digits mixed; not a URL, a path or a snake/dotted name."""
    return (
        len(value) >= 20
        and "://" not in value
        and not _NAME_LIKE.fullmatch(value)
        and any(c.isdigit() for c in value)
        and any(c.isalpha() for c in value)
        and shannon_entropy(value) >= ENTROPY_THRESHOLD
    )


def scan_text(text: str, path: str = "<text>") -> list[Finding]:
    """Every suspected secret in ``text``."""
    found: list[Finding] = []

    def add(line: int, kind: str, matched: str) -> None:
        found.append(Finding(path, line, kind, matched))

    for number, line in enumerate(text.splitlines(), start=1):
        for match in _PRIVATE_KEY.finditer(line):
            add(number, "private-key", match.group(0))
        for match in _AWS_KEY_ID.finditer(line):
            add(number, "aws-access-key-id", match.group(0))
        for match in _AWS_SECRET.finditer(line):
            add(number, "aws-secret-access-key", match.group(1))
        for match in _JWT.finditer(line):
            add(number, "jwt", match.group(0))
        for match in _FERNET.finditer(line):
            if _b64_bytes(match.group(0)) == 32:
                add(number, "fernet-key", match.group(0))
        for match in _HMAC_ENV.finditer(line):
            encoded = match.group(2)
            if _b64_bytes(encoded) >= 32 and not re.fullmatch(r"[0-9a-fA-F]+", encoded):
                add(number, "hmac-key", match.group(0))
        for match in _URL_CREDENTIALS.finditer(line):
            if not _PLACEHOLDER.fullmatch(match.group(2)):
                add(number, "url-credentials", match.group(0))
        for match in _ASSIGNED.finditer(line):
            value = match.group(2)
            if _random_looking(value):
                add(number, "high-entropy-assignment", value)
    return found


def _repo_files() -> list[str]:
    """Files the next commit would hold: tracked ones plus new ones that are not ignored."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode("utf-8")
    return sorted({name for name in listing.split("\0") if name})


def _text_of(path: Path) -> str | None:
    """The text of a file, or ``None`` for a binary or missing one (a deleted, still-tracked file)."""
    if not path.is_file():
        return None
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", errors="replace")


def scan_repository() -> tuple[list[Finding], int]:
    """Findings in the repository's files, less the allowlisted ones; and how many files were read."""
    findings: list[Finding] = []
    scanned = 0
    for name in _repo_files():
        text = _text_of(REPO / name)
        if text is None:
            continue
        scanned += 1
        findings.extend(f for f in scan_text(text, name) if (f.path, f.kind, f.text) not in ALLOWLIST)
    return findings, scanned


needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@needs_git
def test_no_secret_is_committed() -> None:
    findings, scanned = scan_repository()
    assert scanned > 100  # the scan did read the repository
    shown = [str(f) for f in findings]  # shortened: a failing run must not print the secret
    assert not shown, "suspected secrets (move them to the environment, or allowlist with a reason):\n" + (
        "\n".join(shown)
    )


@needs_git
def test_allowlist_entries_are_still_needed() -> None:
    """An entry whose finding is gone must be removed, so the allowlist cannot grow stale."""
    present: set[tuple[str, str, str]] = set()
    for path in {path for path, _kind, _text in ALLOWLIST}:
        present |= {(f.path, f.kind, f.text) for f in scan_text(_text_of(REPO / path) or "", path)}
    assert set(ALLOWLIST) <= present, set(ALLOWLIST) - present


@needs_git
@pytest.mark.parametrize(
    "path",
    [
        "var/secrets/fernet_key",
        "var/secrets/jwt_secret",
        "var/airflow/airflow.cfg",
        ".venv/bin/python",
        "tests/output/report.html",
    ],
)
def test_local_state_is_gitignored(path: str) -> None:
    done = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=REPO, check=False)
    assert done.returncode == 0, f"{path} is not ignored by .gitignore"


@needs_git
def test_nothing_under_var_is_tracked() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "--", "var", ".venv", "tests/output"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert tracked == []


# --- the scanner itself must be able to fail --------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _jwt() -> str:
    head = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').decode().rstrip("=")
    body = base64.urlsafe_b64encode(b'{"sub":"admin","exp":9999999999}').decode().rstrip("=")
    return f"{head}.{body}.{secrets.token_urlsafe(32)}"


# Built at run time so that this file holds none of them (it is scanned too).
_DASHES = "-" * 5


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("private-key", f"{_DASHES}BEGIN RSA PRIVATE KEY{_DASHES}"),
        ("private-key", f"{_DASHES}BEGIN OPENSSH PRIVATE KEY{_DASHES}"),
        ("private-key", f"{_DASHES}BEGIN PRIVATE KEY{_DASHES}"),
        ("aws-access-key-id", "aws_access_key_id = " + "AKIA" + "Q3EGRJ7PFXM2ZK4B"),
        ("aws-secret-access-key", "aws_secret_access_key=" + _b64(secrets.token_bytes(30))),
        ("fernet-key", "fernet_key = " + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()),
        (
            "fernet-key",
            "AIRFLOW__CORE__FERNET_KEY: " + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        ),
        ("jwt", "Authorization: Bearer " + _jwt()),
        ("high-entropy-assignment", "password = '" + secrets.token_urlsafe(24) + "'"),
        ("high-entropy-assignment", 'API_TOKEN: "' + secrets.token_hex(20) + '"'),
        ("high-entropy-assignment", "AIRFLOW__API_AUTH__JWT_SECRET=" + secrets.token_urlsafe(64)),
        ("high-entropy-assignment", '{"client_secret": "' + secrets.token_urlsafe(18) + '"}'),
        ("high-entropy-assignment", "api_token: " + "3f2a9c1e-4b5d-4e6f-8a7b-9c0d1e2f3a4b"),
        ("url-credentials", "postgresql+psycopg://popdata:" + "Tr0ub4dor" + "@db.example:5432/popdata"),
        ("url-credentials", "https://alice:" + "hunter2" + "@example.org/"),
        ("url-credentials", "redis://:" + "s3cretpw" + "@cache:6379/0"),
        ("hmac-key", "POPDATA_HMAC_KEY=k1:" + _b64(secrets.token_bytes(32))),
        ("hmac-key", "export POPDATA_HMAC_KEY='k2:" + _b64(secrets.token_bytes(48)) + "'"),
    ],
)
def test_scanner_detects(kind: str, text: str) -> None:
    assert kind in {f.kind for f in scan_text(text)}, scan_text(text)


@pytest.mark.parametrize(
    "text",
    [
        "url = 'postgresql+psycopg://postgres@127.0.0.1:5432/popdata'",
        "postgresql+psycopg://postgres@/?host=/tmp/pg",
        "POPDATA_WAREHOUSE_URL=postgresql+psycopg://user:…@db.example:5432/popdata",
        "postgresql://user:***@host/db",
        "postgresql://user:<password>@host/db",
        "postgresql+psycopg://postgres:${POSTGRES_PASSWORD}@postgres:5432/popdata",
        "git@github.com:owner/repo.git",
        "http://localhost:8080/execution/",
        "POPDATA_HMAC_KEY=k1:…",
        "AIRFLOW__CORE__FERNET_KEY=<generated by popdata, var/secrets/fernet_key>",
        "jwt_secret = _secret(settings.var / 'secrets' / 'jwt_secret')",
        'key = "AIRFLOW__API_AUTH__JWT_SECRET"',
        "person_key = popdata.linkage.keys.person_key_for_record",
        "digest = 'k1:" + "0123456789abcdef" * 4 + "'",  # a keyed digest (hex) is not a key
        "sha256:" + "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "token = 'short'",
        "password = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'",
        "cursor_key = row_number_2024_partition_by",
    ],
)
def test_scanner_allows(text: str) -> None:
    assert scan_text(text) == []


def test_shannon_entropy() -> None:
    assert shannon_entropy("") == 0.0
    assert shannon_entropy("aaaa") == 0.0
    assert shannon_entropy("abcd") == pytest.approx(2.0)
    assert shannon_entropy(secrets.token_urlsafe(32)) > ENTROPY_THRESHOLD
