"""Keyed pseudonyms: HMAC-SHA256 of a normalised identifier, labelled with the key's id.

Inside the warehouse a person is ``person_key``, a surrogate with no relation to any
identifier. Where a stable pseudonym of an identifier is needed *outside* it (a join with
another agency's extract, a research file), it is :func:`keyed_digest`: HMAC-SHA256 under a
secret key, never a plain hash — an 18-character identity number has only about 10^11
plausible values (6-digit address code × birth date × 3-digit sequence; the check
character follows), which a laptop hashes in minutes.

**Normalisation.** The same person must get the same digest whatever form was sent: an
identity number is normalised with :func:`popdata.normalize.ids.parse_id` (full-width
digits, spaces, Excel apostrophe, lower-case ``x`` → ``X``, a valid 15-digit number upgraded
to its 18-character form). An ID-shaped but invalid number (wrong check character or birth
date) is kept as cleaned, not corrected. Any other identifier is only NFKC-normalised and
stripped. Blank values and placeholders (不详, 无, ``-``) have no pseudonym: they would all
share one digest and join strangers.

**Output.** ``"<key_id>:<64 hex digits>"``, e.g. ``"k1:3f5a…"``: the key id says which key
made a digest, so after a rotation the old digests are recognisable and
:func:`digest_with_all` can match them under the previous keys.

**Keys** (:func:`load_keys`; never in code or in the repository, never a default):

``POPDATA_HMAC_CONN_ID``
    Id of an Airflow connection, read through Airflow's secrets backends
    (``airflow.sdk.BaseHook.get_connection``: a task's supervisor, ``AIRFLOW_CONN_*``
    variables, Vault, AWS/GCP secret managers, the metadata database). Its *password* is the
    secret, **base64** (standard or URL-safe alphabet, padding optional) of at least
    :data:`MIN_SECRET_BYTES` bytes; its *extra* is ``{"key_id": "k1"}``. Several ids separated
    by commas (``popdata_hmac_k2,popdata_hmac_k1``): the first is the current key, the others
    are previous keys for matching.
``POPDATA_HMAC_KEY``
    For tests and machines without Airflow: ``"<key_id>:<base64 secret>"``, several separated
    by commas, current first (the form ``popdata secrets new-hmac-key`` prints). Used only
    when ``POPDATA_HMAC_CONN_ID`` is not set.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from popdata.normalize.ids import ID_BAD_BIRTH_DATE, ID_BAD_CHECK_CHAR, ID_BLANK, parse_id

__all__ = [
    "ENV_CONN_ID",
    "ENV_KEY",
    "MIN_SECRET_BYTES",
    "KeyNotConfiguredError",
    "PseudonymKey",
    "digest_matches",
    "digest_with_all",
    "format_env_key",
    "key_id_of",
    "keyed_digest",
    "load_key",
    "load_keys",
    "new_key",
    "normalise_identifier",
    "parse_env_keys",
]

#: Environment variable naming the Airflow connection(s) that hold the key(s).
ENV_CONN_ID = "POPDATA_HMAC_CONN_ID"
#: Environment variable holding the key(s) directly, ``"<key_id>:<base64>[,…]"``.
ENV_KEY = "POPDATA_HMAC_KEY"
#: Shortest secret accepted: 256 bits, the output size of SHA-256 (RFC 2104 §3).
MIN_SECRET_BYTES = 32

_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
#: ID-shaped invalid numbers are kept as cleaned (upper-case ``X``, no spaces), not re-read as text.
_ID_SHAPED_REASONS = frozenset({ID_BAD_CHECK_CHAR, ID_BAD_BIRTH_DATE})


class KeyNotConfiguredError(RuntimeError):
    """No usable pseudonymisation key: not configured, not found, or malformed (never a default)."""


@dataclass(frozen=True, slots=True, repr=False)
class PseudonymKey:
    """An HMAC key and the id its digests carry; ``repr``/``str`` never show the secret."""

    key_id: str
    secret: bytes

    def __post_init__(self) -> None:
        """Refuse a malformed key id and a secret shorter than :data:`MIN_SECRET_BYTES`."""
        if not isinstance(self.key_id, str) or not _KEY_ID.fullmatch(self.key_id):
            raise ValueError(
                "a key id is 1-32 characters of letters, digits, '_', '.', '-' "
                f"(starting with a letter or digit), got {self.key_id!r}"
            )
        if not isinstance(self.secret, bytes):
            raise TypeError(f"the secret of key {self.key_id!r} must be bytes")
        if len(self.secret) < MIN_SECRET_BYTES:
            raise ValueError(
                f"the secret of key {self.key_id!r} has {len(self.secret)} bytes; "
                f"at least {MIN_SECRET_BYTES} are required (popdata secrets new-hmac-key makes one)"
            )

    def __repr__(self) -> str:
        """The key id only: the secret must never reach a log or a traceback."""
        return f"PseudonymKey(key_id={self.key_id!r}, secret=<hidden>)"

    __str__ = __repr__


def normalise_identifier(identifier: str) -> str:
    """The canonical text of an identifier, the input of :func:`keyed_digest`.

    An identity number becomes its normalised 18-character form (a valid 15-digit number is
    upgraded, ``x`` → ``X``, full-width digits and spaces cleaned); an ID-shaped number with a
    wrong check character or birth date is kept as cleaned, not corrected; anything else is
    NFKC-normalised and stripped. Raises ``ValueError`` for a blank value or a placeholder
    (不详, 无, ``-``): those have no pseudonym.
    """
    parsed = parse_id(identifier)
    if parsed.reason == ID_BLANK:
        raise ValueError("a blank or placeholder value has no pseudonym")
    if parsed.value is not None and (parsed.valid or parsed.reason in _ID_SHAPED_REASONS):
        return parsed.value
    text = unicodedata.normalize("NFKC", identifier).strip()
    if not text:  # pragma: no cover - parse_id already calls this blank
        raise ValueError("a blank or placeholder value has no pseudonym")
    return text


def keyed_digest(identifier: str, key: PseudonymKey) -> str:
    """``"<key_id>:<hex HMAC-SHA256>"`` of the normalised identifier (:func:`normalise_identifier`)."""
    message = normalise_identifier(identifier).encode("utf-8")
    return f"{key.key_id}:{hmac.new(key.secret, message, hashlib.sha256).hexdigest()}"


def digest_with_all(identifier: str, keys: Iterable[PseudonymKey]) -> tuple[str, ...]:
    """The identifier's digest under every key, in the keys' order (current key first).

    For matching digests made before a rotation: a stored digest ``d`` belongs to the
    identifier when ``d in digest_with_all(identifier, keys)`` (or use :func:`digest_matches`).
    """
    return tuple(keyed_digest(identifier, key) for key in keys)


def key_id_of(digest: str) -> str:
    """The id of the key a digest was made with (the part before the first ``:``)."""
    key_id, sep, hex_part = digest.partition(":")
    if not sep or not _KEY_ID.fullmatch(key_id) or len(hex_part) != 64:
        raise ValueError("not a keyed digest of the form '<key_id>:<64 hex digits>'")
    return key_id


def digest_matches(identifier: str, digest: str, keys: Iterable[PseudonymKey]) -> bool:
    """Tell whether ``digest`` is the identifier's digest under the key it names (constant time)."""
    key_id = key_id_of(digest)
    for key in keys:
        if key.key_id == key_id:
            return hmac.compare_digest(keyed_digest(identifier, key), digest)
    return False


def new_key(key_id: str = "k1") -> PseudonymKey:
    """A fresh random key of :data:`MIN_SECRET_BYTES` bytes from the operating system's CSPRNG."""
    return PseudonymKey(key_id, secrets.token_bytes(MIN_SECRET_BYTES))


def format_env_key(key: PseudonymKey) -> str:
    """The ``POPDATA_HMAC_KEY`` form ``"<key_id>:<base64 secret>"`` (this *shows* the secret)."""
    return f"{key.key_id}:{base64.b64encode(key.secret).decode('ascii')}"


def _decode_secret(text: str, where: str) -> bytes:
    """Decode a base64 secret (standard or URL-safe alphabet, padding optional); errors omit it."""
    compact = "".join(text.split()).translate(str.maketrans("-_", "+/"))
    compact += "=" * (-len(compact) % 4)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise KeyNotConfiguredError(f"the secret in {where} is not base64") from None


def _key(key_id: str, secret: bytes, where: str) -> PseudonymKey:
    """Build a key, turning a malformed id or short secret into :class:`KeyNotConfiguredError`."""
    try:
        return PseudonymKey(key_id, secret)
    except (TypeError, ValueError) as exc:
        raise KeyNotConfiguredError(f"{where}: {exc}") from None


def _unique(keys: list[PseudonymKey], where: str) -> tuple[PseudonymKey, ...]:
    """Refuse two keys with one id: a digest's prefix must name exactly one key."""
    seen: set[str] = set()
    for key in keys:
        if key.key_id in seen:
            raise KeyNotConfiguredError(f"{where} names key id {key.key_id!r} twice")
        seen.add(key.key_id)
    return tuple(keys)


def parse_env_keys(value: str) -> tuple[PseudonymKey, ...]:
    """Parse ``"<key_id>:<base64>[,<key_id>:<base64>…]"`` (current key first)."""
    keys: list[PseudonymKey] = []
    for number, part in enumerate(value.split(","), start=1):
        where = f"{ENV_KEY} (key {number})"
        key_id, sep, encoded = part.strip().partition(":")
        if not sep or not key_id or not encoded:
            raise KeyNotConfiguredError(f"{where} is not of the form '<key_id>:<base64 secret>'")
        keys.append(_key(key_id, _decode_secret(encoded, where), where))
    return _unique(keys, ENV_KEY)


def _key_from_connection(conn_id: str) -> PseudonymKey:
    """Read one key from an Airflow connection through Airflow's secrets backends."""
    from airflow.sdk import BaseHook  # lazily: importing Airflow takes seconds

    where = f"Airflow connection {conn_id!r}"
    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception as exc:  # AirflowNotFoundException, a backend's own errors
        raise KeyNotConfiguredError(f"{where} could not be read ({type(exc).__name__})") from exc
    if not conn.password:
        raise KeyNotConfiguredError(f"{where} has no password (the base64 secret)")
    key_id = (conn.extra_dejson or {}).get("key_id")
    if not isinstance(key_id, str) or not key_id:
        raise KeyNotConfiguredError(f'{where} has no "key_id" in its extra, e.g. {{"key_id": "k1"}}')
    return _key(key_id, _decode_secret(conn.password, where), where)


def load_keys(environ: Mapping[str, str] | None = None) -> tuple[PseudonymKey, ...]:
    """Every configured key, current first: from ``POPDATA_HMAC_CONN_ID``, else ``POPDATA_HMAC_KEY``.

    Raises :class:`KeyNotConfiguredError` when neither is set (there is no default key), when
    a connection is missing or malformed, or when a secret is shorter than
    :data:`MIN_SECRET_BYTES` bytes. No message ever contains a secret.
    """
    env = os.environ if environ is None else environ
    conn_ids = [part.strip() for part in env.get(ENV_CONN_ID, "").split(",") if part.strip()]
    if conn_ids:
        return _unique([_key_from_connection(conn_id) for conn_id in conn_ids], ENV_CONN_ID)
    value = env.get(ENV_KEY, "").strip()
    if value:
        return parse_env_keys(value)
    raise KeyNotConfiguredError(
        f"no pseudonymisation key is configured: set {ENV_CONN_ID} to the id of an Airflow connection "
        f'(password = base64 secret, extra = {{"key_id": "k1"}}) or {ENV_KEY} to "<key_id>:<base64 secret>" '
        "(popdata secrets new-hmac-key prints one; see docs/security.md)"
    )


def load_key(environ: Mapping[str, str] | None = None) -> PseudonymKey:
    """The current key (the first of :func:`load_keys`)."""
    return load_keys(environ)[0]
