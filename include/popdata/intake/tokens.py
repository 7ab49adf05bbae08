"""Per-village tokens (村级直报令牌): issued by the county, stored as their sha256 only.

A token is 32 random bytes, URL-safe base64 (43 characters), shown once when it is made
(``popdata village token new``) and handed to the village clerk. The warehouse keeps its sha256,
the village it reports for and a label (the clerk's role, written as ``填报人`` in the files);
revoking sets ``revoked_at`` and the token stops working at once. Run as the platform (the CLI).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

TOKEN_BYTES = 32
_VILLAGE = re.compile(r"^\d{9}(?!000)\d{3}$")


def token_hash(token: str) -> str:
    """The sha256 (hex) a token is stored and looked up by."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Clerk:
    """Who a valid token belongs to: the village it may report for and its label."""

    token_id: int
    village_code: str
    label: str


@dataclass(frozen=True)
class TokenInfo:
    """One issued token, as ``popdata village token list`` shows it (never the token itself)."""

    token_id: int
    village_code: str
    village_name: str | None
    label: str
    created_at: datetime
    revoked_at: datetime | None


class TokenError(ValueError):
    """A token cannot be issued or revoked (bad village code, unknown village, unknown id)."""


def issue(
    conn: sa.Connection, village_code: str, label: str, *, require_known: bool = True
) -> tuple[int, str]:
    """Issue a token for ``village_code``; returns (token id, the token: shown once, never stored).

    Raises:
        TokenError: the code is not a 12-digit village code (its last three digits not 000), the
            label is blank or longer than 64 characters, or (``require_known``) the published region
            reference has no such village.
    """
    code = village_code.strip()
    if not _VILLAGE.match(code):
        raise TokenError(
            f"{village_code!r} is not a 12-digit village code (村/居委会, last three digits not 000)"
        )
    label = label.strip()
    if not 1 <= len(label) <= 64:
        raise TokenError("the label must be 1 to 64 characters (e.g. 东风村计生专干)")
    if require_known:
        known = conn.execute(
            sa.text("SELECT 1 FROM mart.region_names WHERE region_code = :c"), {"c": code}
        ).scalar()
        if not known:
            raise TokenError(
                f"no village {code} in the published region reference (stats/regions): load it first,"
                " or pass --unknown-village to issue the token anyway"
            )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    token_id = conn.execute(
        sa.text(
            "INSERT INTO intake.village_tokens (token_sha256, village_code, label)"
            " VALUES (:h, :v, :l) RETURNING token_id"
        ),
        {"h": token_hash(token), "v": code, "l": label},
    ).scalar_one()
    return int(token_id), token


def revoke(conn: sa.Connection, token_id: int) -> bool:
    """Revoke a token; True when it was active (False: already revoked).

    Raises:
        TokenError: no token has that id.
    """
    row = conn.execute(
        sa.text(
            "UPDATE intake.village_tokens SET revoked_at = coalesce(revoked_at, now())"
            " WHERE token_id = :i RETURNING revoked_at = now()"
        ),
        {"i": token_id},
    ).one_or_none()
    if row is None:
        raise TokenError(f"no token {token_id}")
    return bool(row[0])


def list_tokens(conn: sa.Connection) -> list[TokenInfo]:
    """Every issued token, newest first, with its village's name."""
    rows = conn.execute(
        sa.text(
            "SELECT t.token_id, t.village_code, n.name, t.label, t.created_at, t.revoked_at"
            " FROM intake.village_tokens t LEFT JOIN mart.region_names n ON n.region_code = t.village_code"
            " ORDER BY t.token_id DESC"
        )
    ).all()
    return [TokenInfo(*row) for row in rows]


def authenticate(conn: sa.Connection, token: str | None) -> Clerk | None:
    """The clerk a token belongs to, when it is issued and not revoked; None otherwise."""
    if not token or len(token) > 128:
        return None
    row = conn.execute(
        sa.text(
            "SELECT token_id, village_code, label FROM intake.village_tokens"
            " WHERE token_sha256 = :h AND revoked_at IS NULL"
        ),
        {"h": token_hash(token.strip())},
    ).one_or_none()
    return Clerk(int(row[0]), row[1], row[2]) if row is not None else None
