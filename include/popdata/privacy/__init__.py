"""Privacy helpers: keyed pseudonyms of identifiers (docs/security.md, "Pseudonymisation").

- :mod:`popdata.privacy.pseudonym` — HMAC-SHA256 digests of normalised identifiers under a
  key from an Airflow connection / secrets backend (or ``POPDATA_HMAC_KEY``), with key ids so
  the key can be rotated.
- :mod:`popdata.privacy.csvfile` — ``popdata pseudonymise``: replace identifier columns of a CSV
  by their keyed digests, streaming.
"""
