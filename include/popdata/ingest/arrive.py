"""Arrival: find the files agencies dropped, decide whether each is complete, read manifests.

The drop zone is ``<landing>/<agency>/<feed>/<file>`` (AGENCY_EXTRACTS.md §1).
A data file is complete when its manifest ``<file>.manifest.json`` exists or,
without a manifest, once its size and mtime have not changed for the quiet
period. ``.part`` / ``.tmp`` uploads are never picked up.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from popdata.config.feeds import Feed

MANIFEST_SUFFIX = ".manifest.json"
IN_TRANSIT_SUFFIXES = (".part", ".tmp", ".partial", ".crdownload")
DATA_SUFFIXES = (".csv", ".xlsx")

_REGULAR_NAME = re.compile(r"^(?P<feed>[a-z_]+)_(?P<date>\d{8})(?:_(?P<seq>\d+))?\.(?:csv|xlsx)$")
_ANY_DATE = re.compile(r"(?<!\d)(\d{4})[-_.]?(\d{2})[-_.]?(\d{2})(?!\d)")


@dataclass(frozen=True, slots=True)
class Drop:
    """A file in the drop zone of a configured feed."""

    path: Path
    rel_path: str
    agency: str
    feed: str
    manifest_path: Path | None
    complete: bool
    waiting_reason: str | None


@dataclass(frozen=True, slots=True)
class NameCheck:
    """What a file name says: whether it follows ``<feed>_<YYYYMMDD>[_<seq>]`` and its date."""

    regular: bool
    extract_date: date | None


def check_file_name(file_name: str, feed: str) -> NameCheck:
    """Check a file name against the contract; recover the extract date from irregular names too."""
    match = _REGULAR_NAME.match(file_name)
    if match and match.group("feed") == feed:
        return NameCheck(True, _to_date(match.group("date")))
    found = _ANY_DATE.search(file_name)
    extract = _to_date("".join(found.groups())) if found else None
    return NameCheck(False, extract)


def _to_date(yyyymmdd: str) -> date | None:
    try:
        return date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return None


def is_data_file(path: Path) -> bool:
    """True for a candidate data file (not a manifest, not an upload in transit, not hidden)."""
    name = path.name
    if name.startswith(".") or name.endswith(MANIFEST_SUFFIX):
        return False
    return not name.lower().endswith(IN_TRANSIT_SUFFIXES)


def find_drops(landing: Path, feed: Feed, *, quiet_seconds: float, now: float) -> list[Drop]:
    """Every data file in ``landing/<agency>/<feed>/``, with its completeness.

    ``now`` is the wall-clock time of the look (seconds since the epoch): arrival
    is the one place where the wall clock matters, and it is passed in so that
    tests can say what time it is.
    """
    folder = landing / feed.agency / feed.feed
    if not folder.is_dir():
        return []
    drops = []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or not is_data_file(path):
            continue
        manifest = path.with_name(path.name + MANIFEST_SUFFIX)
        manifest_path = manifest if manifest.is_file() else None
        complete, reason = True, None
        if manifest_path is None:
            age = now - path.stat().st_mtime
            if age < quiet_seconds:
                complete, reason = False, f"unchanged for {age:.0f}s of the {quiet_seconds:.0f}s quiet period"
        drops.append(
            Drop(
                path=path,
                rel_path=path.relative_to(landing).as_posix(),
                agency=feed.agency,
                feed=feed.feed,
                manifest_path=manifest_path,
                complete=complete,
                waiting_reason=reason,
            )
        )
    return drops


def unconfigured_files(landing: Path, feeds: tuple[Feed, ...]) -> list[Path]:
    """Data files in the landing folder that no feed config covers (reported, never dropped silently)."""
    known = {(f.agency, f.feed) for f in feeds}
    found: list[Path] = []
    if not landing.is_dir():
        return found
    for path in sorted(landing.rglob("*")):
        if not path.is_file() or not is_data_file(path):
            continue
        parts = path.relative_to(landing).parts
        if len(parts) != 3 or (parts[0], parts[1]) not in known:
            found.append(path)
    return found


def sha256_of(path: Path) -> tuple[str, int]:
    """The sha256 hex digest and size of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


class ManifestError(ValueError):
    """A manifest that cannot be read or does not describe its file."""


def read_manifest(path: Path) -> dict[str, Any]:
    """Read a manifest; it must be a JSON object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"manifest {path.name} is not readable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ManifestError(f"manifest {path.name} is not a JSON object")
    return data


def manifest_extract_date(manifest: dict[str, Any]) -> date | None:
    """The ``extract_date`` of a manifest, when it is a valid ISO date."""
    raw = manifest.get("extract_date")
    if not isinstance(raw, str):
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None
