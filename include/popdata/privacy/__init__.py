"""Privacy helpers: keyed pseudonyms of identifiers (docs/security.md, "Pseudonymisation").

- :mod:`popdata.privacy.pseudonym` — HMAC-SHA256 digests of normalised identifiers under a
  key from an Airflow connection / secrets backend (or ``POPDATA_HMAC_KEY``), with key ids so
  the key can be rotated.
- :mod:`popdata.privacy.csvfile` — ``popdata pseudonymise``: replace identifier columns of a CSV
  by their keyed digests, streaming.
"""

from popdata.privacy.pseudonym import (
    ENV_CONN_ID,
    ENV_KEY,
    MIN_SECRET_BYTES,
    KeyNotConfiguredError,
    PseudonymKey,
    digest_matches,
    digest_with_all,
    format_env_key,
    key_id_of,
    keyed_digest,
    load_key,
    load_keys,
    new_key,
    normalise_identifier,
    parse_env_keys,
)

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
