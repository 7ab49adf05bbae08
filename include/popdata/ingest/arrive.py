"""Arrival: find the files agencies dropped, decide whether each is complete, read manifests.

The drop zone is ``<landing>/<agency>/<feed>/<file>`` (AGENCY_EXTRACTS.md §1).
A data file is complete when its manifest ``<file>.manifest.json`` exists or,
without a manifest, once its size and mtime have not changed for the quiet
period. ``.part`` / ``.tmp`` uploads are never picked up.

File names are whatever the agency's system wrote: spaces, Chinese
(``中文文件名.csv``), a leading dash, ``..`` inside a name (``a..b.csv``) are
found and processed like any other file (the receipt says the name is
irregular). What is never read (安全):

- a **symbolic link** in the landing folder, or a file whose real path is not
  the path it was found at (reached through a linked folder, or outside the
  landing folder);
- anything that is not a **regular file** (a FIFO would block a reader forever,
  a device is not data);
- a file whose **name is not valid UTF-8** (a GBK name written by a Windows
  tool): it cannot be recorded in the ledger faithfully; the agency renames it.

Such entries are left in place and reported: :func:`find_drops` leaves them out
and logs a warning for each, :func:`skipped_entries` lists them (with the
reason) for callers that print what they did not take. Files are opened with
``O_NOFOLLOW`` so that a file swapped for a link after the look is not followed
either.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import stat
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

from popdata.config.feeds import Feed

log = logging.getLogger(__name__)

MANIFEST_SUFFIX = ".manifest.json"
IN_TRANSIT_SUFFIXES = (".part", ".tmp", ".partial", ".crdownload")
DATA_SUFFIXES = (".csv", ".xlsx")
MAX_MANIFEST_BYTES = 1 << 20  # a manifest is a few hundred bytes; anything near 1 MiB is not one

# Why an entry of a drop folder is never read (the reason codes of :class:`Skipped`).
SKIP_SYMLINK = "symlink"
SKIP_OUTSIDE = "outside_landing"
SKIP_NOT_REGULAR = "not_regular_file"
SKIP_NAME_NOT_UTF8 = "name_not_utf8"

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
class Skipped:
    """An entry of a drop folder that is never read (a link, not a regular file, an undecodable name)."""

    path: Path
    rel_path: str
    agency: str
    feed: str
    reason: str
    detail: str

    def describe(self) -> str:
        """One line for logs and the ``waiting`` notes of a run: ``<rel_path>: skipped, never read: …``."""
        return f"{self.rel_path}: skipped, never read ({self.reason}): {self.detail}"


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

    Entries that must never be read (links, non-regular files, undecodable
    names; see the module docstring) are not returned: each is logged as a
    warning, and :func:`skipped_entries` lists them.
    """
    files, skipped = _scan(landing, feed)
    for entry in skipped:
        log.warning("%s", entry.describe())
    drops = []
    for path in files:
        manifest = path.with_name(path.name + MANIFEST_SUFFIX)
        # a manifest that is a link still counts as present: read_manifest refuses it, and the
        # file is quarantined with the reason (manifest_unreadable) instead of waiting forever
        manifest_path = manifest if os.path.lexists(manifest) and not manifest.is_dir() else None
        complete, reason = True, None
        if manifest_path is None:
            age = now - path.lstat().st_mtime
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


def skipped_entries(landing: Path, feed: Feed) -> list[Skipped]:
    """Entries of ``landing/<agency>/<feed>/`` that look like drops but are never read, with the reason."""
    return _scan(landing, feed)[1]


def _scan(landing: Path, feed: Feed) -> tuple[list[Path], list[Skipped]]:
    """The data files of a feed's drop folder that are safe to read, and the entries skipped."""
    folder = landing / feed.agency / feed.feed
    if not folder.is_dir():
        return [], []
    real_landing = Path(os.path.realpath(landing))
    files: list[Path] = []
    skipped: list[Skipped] = []
    for path in sorted(folder.iterdir()):
        if not is_data_file(path) or (path.is_dir() and not path.is_symlink()):
            continue  # a sub-folder is not a drop (as before); a link to one is reported below
        problem = _unsafe_entry(path, landing, real_landing)
        if problem is None:
            files.append(path)
        else:
            reason, detail = problem
            skipped.append(Skipped(path, _rel(path, landing), feed.agency, feed.feed, reason, detail))
    return files, skipped


def _rel(path: Path, landing: Path) -> str:
    """The path relative to the landing folder, printable even when the name is not valid UTF-8."""
    rel = path.relative_to(landing).as_posix()
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _unsafe_entry(path: Path, landing: Path, real_landing: Path) -> tuple[str, str] | None:
    """Why ``path`` must not be read, as (reason, detail); None when it is a plain file of the folder."""
    try:
        info = path.lstat()
    except OSError as exc:  # vanished between listing and looking
        return SKIP_NOT_REGULAR, f"cannot be examined: {exc.strerror or exc}"
    if stat.S_ISLNK(info.st_mode):
        return SKIP_SYMLINK, "a symbolic link; links in the landing folder are never followed"
    if not stat.S_ISREG(info.st_mode):
        return SKIP_NOT_REGULAR, "not a regular file (a folder, FIFO, socket or device)"
    try:
        path.name.encode("utf-8")
    except UnicodeEncodeError:
        return SKIP_NAME_NOT_UTF8, "the file name is not valid UTF-8 (perhaps GBK); rename the file"
    real = Path(os.path.realpath(path))
    if real != real_landing / path.relative_to(landing):
        if real.is_relative_to(real_landing):
            return SKIP_OUTSIDE, "reached through a linked folder; links are never followed"
        return SKIP_OUTSIDE, "its real path is outside the landing folder"
    return None


def open_regular(path: Path) -> BinaryIO:
    """Open a regular file for reading without following a symbolic link in its last component.

    Raises :class:`OSError` for a link (``ELOOP``) or anything that is not a regular
    file; a FIFO is opened non-blocking so that looking at it cannot hang.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    flags |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(f"{path.name} is not a regular file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


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
    with open_regular(path) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


class ManifestError(ValueError):
    """A manifest that cannot be read or does not describe its file."""


def read_manifest(path: Path) -> dict[str, Any]:
    """Read a manifest; it must be a JSON object, a regular file (not a link) and under 1 MiB."""
    try:
        with open_regular(path) as handle:
            raw = handle.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        if path.is_symlink():
            raise ManifestError(f"manifest {path.name} is a symbolic link; links are never followed") from exc
        raise ManifestError(f"manifest {path.name} cannot be read: {exc}") from exc
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"manifest {path.name} is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
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
