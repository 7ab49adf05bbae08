"""``make bench-link``: time the person linkage alone on synthetic counties of several sizes.

Per size (``--persons``, default 100 000, 300 000 and 1 000 000):

1. **generate** the county once, cached under ``var/bench-link/persons_<N>_seed_<S>/``
   (``landing/``, ``truth/`` and a ``READY`` marker), in a child process so that its memory
   is not counted;
2. **ingest** every feed with files, reference data first, into a scratch database of the
   configured server (the embedded default unless ``POPDATA_WAREHOUSE_URL`` is set) with
   ``popdata.ingest.pipeline.process`` in this process, no Airflow (timed, not the benchmark);
3. **link** in a child process of its own, so that its peak memory is the linkage's: time
   ``popdata.linkage.link.run(engine)`` alone (wall time, mentions/s, the RSS high-water mark
   of that process, ``VmHWM``, DuckDB included since it runs in process; PostgreSQL's memory
   is not in it), phase by phase, then score ``core.record_link`` against the generator's truth with
   ``popdata.linkage.evaluate`` (overall pairwise precision and recall);
4. drop the scratch database.

Prints one table with a row per size and the growth of the linkage time between sizes
(time ratio, size ratio and the exponent ``log(time ratio) / log(size ratio)``), then the
phases of the largest size. Figures are printed, never asserted. When the linkage child dies
(out of memory, ``--link-timeout``), the row says how and the phase it was in.

``--count-pairs`` also counts the blocked candidate pairs of the probabilistic step (Splink's
blocking analysis, left out of the link time); ``--profile`` runs ``link.run`` under cProfile
and prints its top functions (the times are then inflated: not for the figures).

    python -m popdata.bench_link [--persons 100000 300000 1000000] [--seed S]
        [--link-timeout SECONDS] [--count-pairs] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import functools
import itertools
import json
import math
import os
import pstats
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from popdata.progress import ProgressBar, new_table, print_renderables, progress_bar, render_text

DEFAULT_SIZES = (100_000, 300_000, 1_000_000)
DEFAULT_SEED = 2014
#: The issue's targets at 1 000 000 persons.
TARGET_SECONDS = 300.0
TARGET_MIB = 8 * 1024.0


# ---------------------------------------------------------------------------------- results
@dataclass(frozen=True, slots=True)
class Phase:
    """One timed phase of a linkage run: seconds, and the RSS high-water mark when it ended."""

    label: str
    seconds: float
    peak_mib: float


@dataclass(slots=True)
class SizeResult:
    """What one size measured (``status`` is ``ok`` or why the linkage did not finish)."""

    persons: int
    status: str = "ok"
    generate_seconds: float | None = None
    ingest_seconds: float | None = None
    files: int = 0
    rows_loaded: int = 0
    mentions: int | None = None
    link_seconds: float | None = None
    rss_before_mib: float | None = None
    peak_mib: float | None = None
    precision: float | None = None
    recall: float | None = None
    evaluate_seconds: float | None = None
    last_phase: str | None = None
    phases: list[Phase] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def mentions_per_second(self) -> float | None:
        """Mentions linked per second of ``link.run``."""
        if not self.mentions or not self.link_seconds:
            return None
        return self.mentions / self.link_seconds

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SizeResult:
        """Rebuild from :meth:`to_dict` output (the linkage child's JSON)."""
        values = dict(data)
        values["phases"] = [Phase(**p) for p in values.get("phases", [])]
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------------- formatting
def _fmt(value: float | None, spec: str, missing: str = "—") -> str:
    return missing if value is None else format(value, spec)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.3f}%"


def results_table(results: Sequence[SizeResult]) -> Table:
    """One row per size: persons, mentions, link seconds, mentions/s, peak MiB, precision, recall, status."""
    table = new_table(
        None,
        [
            ("persons", "right"),
            ("mentions", "right"),
            ("link s", "right"),
            ("mentions/s", "right"),
            ("peak MiB", "right"),
            ("precision", "right"),
            ("recall", "right"),
            ("ingest s", "right"),
            "status",
        ],
    )
    for r in results:
        status = r.status if r.status == "ok" else f"{r.status} (in: {r.last_phase or '?'})"
        table.add_row(
            f"{r.persons:,}",
            _fmt(r.mentions, ","),
            _fmt(r.link_seconds, ".1f"),
            _fmt(r.mentions_per_second, ",.0f"),
            _fmt(r.peak_mib, ",.0f"),
            _pct(r.precision),
            _pct(r.recall),
            _fmt(r.ingest_seconds, ".0f"),
            status,
        )
    return table


def format_table(results: Sequence[SizeResult]) -> str:
    """:func:`results_table` as plain text (header, rule, one line per size)."""
    return render_text([results_table(results)])


def growth_lines(results: Sequence[SizeResult]) -> list[str]:
    """Linkage time growth between consecutive finished sizes: ratios and exponent ``k`` of t ∝ n^k."""
    done = sorted((r for r in results if r.status == "ok" and r.link_seconds), key=lambda r: r.persons)
    lines: list[str] = []
    for small, large in itertools.pairwise(done):
        assert small.link_seconds is not None and large.link_seconds is not None
        size_ratio = large.persons / small.persons
        time_ratio = large.link_seconds / small.link_seconds
        exponent = math.log(time_ratio) / math.log(size_ratio) if size_ratio > 1 and time_ratio > 0 else None
        memory = (
            f", peak memory ×{large.peak_mib / small.peak_mib:.2f}"
            if large.peak_mib and small.peak_mib
            else ""
        )
        lines.append(
            f"{small.persons:,} → {large.persons:,} persons (×{size_ratio:.2f}): link time ×{time_ratio:.2f}"
            f" (t ∝ n^{_fmt(exponent, '.2f')}){memory}"
        )
    return lines


def phases_table(result: SizeResult) -> Table:
    """Where the time and the memory of one linkage run went, phase by phase."""
    total = result.link_seconds or sum(p.seconds for p in result.phases if not p.label.startswith(" "))
    table = new_table(
        None,
        ["phase of link.run", ("seconds", "right"), ("share", "right"), ("peak MiB at end", "right")],
    )
    for p in result.phases:
        share = f"{p.seconds / total:.0%}" if total else "—"
        table.add_row(p.label, f"{p.seconds:.2f}", share, f"{p.peak_mib:,.0f}")
    return table


def format_phases(result: SizeResult) -> str:
    """:func:`phases_table` as plain text."""
    return render_text([phases_table(result)])


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring); sizes are kept in the order given, duplicates dropped."""
    parser = argparse.ArgumentParser(
        prog="python -m popdata.bench_link",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--persons", type=_positive_int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--link-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop a linkage that runs longer than this (reported, not an error)",
    )
    parser.add_argument(
        "--count-pairs",
        action="store_true",
        help="also count the blocked candidate pairs of the probabilistic step (not in the link time)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run link.run under cProfile and print its top functions (slower: not for the figures)",
    )
    parser.add_argument("--prepare-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--link-child", metavar="URL", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--truth", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.persons = list(dict.fromkeys(args.persons))
    return args


def _positive_int(text: str) -> int:
    value = int(text.replace("_", "").replace(",", ""))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text}")
    return value


# ---------------------------------------------------------------------------------- steps
def _peak_rss_mib() -> float:
    """This process's RSS high-water mark in MiB.

    ``VmHWM`` of ``/proc/self/status`` where there is one: on Linux ``ru_maxrss`` of
    ``getrusage`` survives ``fork`` + ``exec``, so a child started by a process that had
    ingested a county would report the parent's peak as its own floor. Elsewhere ``ru_maxrss``.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def cache_dir(persons: int, seed: int) -> Path:
    """Where the county of ``persons`` and ``seed`` is generated (``landing/``, ``truth/``, ``READY``)."""
    from popdata.config.settings import load_settings

    return load_settings().var / "bench-link" / f"persons_{persons}_seed_{seed}"


def prepare(persons: int, seed: int) -> float | None:
    """Generate the county once; returns the seconds it took, None when it was cached."""
    cache = cache_dir(persons, seed)
    if (cache / "READY").is_file():
        return None
    from popdata.generate import generate_county

    shutil.rmtree(cache, ignore_errors=True)
    started = time.perf_counter()
    generate_county(cache, persons=persons, seed=seed)
    seconds = time.perf_counter() - started
    (cache / "READY").write_text(f"{persons} persons, seed {seed}, {seconds:.1f}s\n", encoding="utf-8")
    print(f"generated {persons} persons in {seconds:.0f}s -> {cache}", file=sys.stderr, flush=True)
    return seconds


def ingest(engine: Any, landing: Path, work: Path) -> tuple[int, int]:
    """Ingest every feed with files in ``landing`` (reference data first); returns (files, rows loaded).

    Quarantined files and data docs go under ``work``, not under ``var/``.
    """
    import sqlalchemy as sa

    from popdata.config.feeds import default_feeds
    from popdata.config.settings import load_settings
    from popdata.ingest import pipeline
    from popdata.runner import feeds_with_files

    settings = dataclasses.replace(load_settings(), quarantine=work / "quarantine", data_docs=work / "gx")
    outbox = work / "outbox"
    for feed in feeds_with_files(landing, default_feeds()):
        started = time.perf_counter()
        reached = pipeline.process(
            engine, settings, feed, landing=landing, outbox=outbox, quiet_seconds=0, now=time.time()
        )
        print(
            f"  ingested {feed.feed_id}: {len(reached)} files in {time.perf_counter() - started:.1f}s",
            file=sys.stderr,
            flush=True,
        )
    with engine.connect() as conn:
        files, loaded = conn.execute(
            sa.text("SELECT count(*), coalesce(sum(rows_loaded), 0) FROM audit.file_ledger")
        ).one()
    return int(files), int(loaded)


class _Recorder:
    """Times phases of the linkage (wrapping module functions) and writes progress to a JSON file."""

    def __init__(self, result: SizeResult, path: Path | None) -> None:
        self.result = result
        self.path = path
        self.excluded = 0.0  # seconds spent in optional counting, not part of the link time

    def save(self) -> None:
        """Write the result so far (the parent reads it even when this process is killed)."""
        if self.path is not None:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.result.to_dict(), ensure_ascii=False), encoding="utf-8")
            tmp.replace(self.path)

    def wrap(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` timed as the phase ``label`` (repeated calls add up; phases are listed in start order)."""

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            phases = self.result.phases
            index = next((i for i, p in enumerate(phases) if p.label == label), None)
            if index is None:
                phases.append(Phase(label, 0.0, _peak_rss_mib()))
                index = len(phases) - 1
            self.result.last_phase = label.strip()
            self.save()
            print(f"  [link] {label.strip()} …", file=sys.stderr, flush=True)
            started, excluded = time.perf_counter(), self.excluded
            value = fn(*args, **kwargs)
            seconds = time.perf_counter() - started - (self.excluded - excluded)
            phases[index] = Phase(label, phases[index].seconds + seconds, _peak_rss_mib())
            print(
                f"  [link] {label.strip()}: {seconds:.1f}s, peak RSS {_peak_rss_mib():,.0f} MiB",
                file=sys.stderr,
                flush=True,
            )
            self.save()
            return value

        return wrapper

    def time_sql(self, engine: Any, threshold: float = 0.2) -> None:
        """Add up the time of every SQL statement of ``engine`` slower than ``threshold`` seconds, by its start.

        COPY through the raw driver connection is not seen here.
        """
        from sqlalchemy import event

        totals: dict[str, list[float]] = self.result.details.setdefault("slow_sql", {})

        @event.listens_for(engine, "before_cursor_execute")
        def _before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            conn.info["popdata_bench_started"] = time.perf_counter()

        @event.listens_for(engine, "after_cursor_execute")
        def _after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            seconds = time.perf_counter() - conn.info.pop("popdata_bench_started", time.perf_counter())
            if seconds > threshold:
                key = " ".join(statement.split())[:70]
                count_seconds = totals.setdefault(key, [0, 0.0])
                count_seconds[0] += 1
                count_seconds[1] = round(count_seconds[1] + seconds, 2)


def link_child(
    url: str, truth: Path, result_path: Path, persons: int, *, count_pairs: bool, profile: bool = False
) -> None:
    """Time ``link.run`` on the database at ``url`` and score it; write a :class:`SizeResult` JSON."""
    import sqlalchemy as sa

    from popdata.linkage import evaluate, keys, link, mentions, probabilistic

    result = SizeResult(persons=persons, status="running")
    rec = _Recorder(result, result_path)
    mentions.extract_mentions = rec.wrap("extract mentions (SQL → pandas)", mentions.extract_mentions)
    link.load_state = rec.wrap("load index state", link.load_state)
    link.certificate_pairs = rec.wrap("certificate pairs", link.certificate_pairs)
    link.plan_links = rec.wrap("plan links (exact, births, probabilistic)", link.plan_links)
    link.write_plan = rec.wrap("write plan (persons, merges, links, ops)", link.write_plan)
    for name in ("birth_rule_pairs", "representative_persons", "best_candidates"):
        if callable(getattr(keys, name, None)):  # the planner's helpers, when it still has them
            setattr(keys, name, rec.wrap(f"  of which {name}", getattr(keys, name)))
    prepare_frame = probabilistic.prepare_frame
    probabilistic.prepare_frame = rec.wrap("    scoring: prepare frames (pinyin keys)", prepare_frame)
    score = probabilistic.score_candidates

    def scored(remaining: Any, persons_frame: Any, **kwargs: Any) -> Any:
        result.details["scored_mentions"] = len(remaining)
        result.details["spine_persons"] = len(persons_frame)
        if count_pairs:
            started = time.perf_counter()
            wrapped, probabilistic.prepare_frame = probabilistic.prepare_frame, prepare_frame
            try:
                counts = probabilistic.count_blocked_comparisons(remaining, persons_frame)
            finally:
                probabilistic.prepare_frame = wrapped
            rec.excluded += time.perf_counter() - started
            result.details["blocked_pairs"] = dict(zip(counts["rule"], counts["marginal"], strict=True))
            result.details["candidate_pairs"] = int(counts["cumulative"].iloc[-1]) if len(counts) else 0
            print(f"  [link] candidate pairs: {result.details['candidate_pairs']:,}", file=sys.stderr)
        out = score(remaining, persons_frame, **kwargs)
        result.details["pairs_at_or_above_min_probability"] = len(out)
        return out

    probabilistic.score_candidates = rec.wrap("  of which scoring (Splink, DuckDB)", scored)

    engine = sa.create_engine(url)
    rec.time_sql(engine)
    try:
        result.rss_before_mib = _peak_rss_mib()
        profiler = cProfile.Profile() if profile else None
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        run = link.run(engine)
        if profiler is not None:
            profiler.disable()
        result.link_seconds = time.perf_counter() - started - rec.excluded
        result.peak_mib = _peak_rss_mib()
        accounted = sum(p.seconds for p in result.phases if not p.label.startswith(" "))
        result.phases.append(
            Phase("transaction, lock, commit, counting", result.link_seconds - accounted, result.peak_mib)
        )
        result.mentions = run.mentions
        if profiler is not None:
            stats = pstats.Stats(profiler, stream=sys.stderr)
            stats.sort_stats("tottime").print_stats(30)
            stats.sort_stats("cumulative").print_stats(40)
        result.details["run"] = run.summary()
        result.last_phase = "evaluate"
        rec.save()
        started = time.perf_counter()
        report = evaluate.evaluate(evaluate.load_links(engine), evaluate.load_truth(truth))
        result.evaluate_seconds = time.perf_counter() - started
        result.precision = report.overall.pairs.precision
        result.recall = report.overall.pairs.recall
        result.details["truth_mentions"] = report.truth_mentions
        result.details["missing_from_link"] = report.missing_from_link
        result.status = "ok"
        result.last_phase = None
        rec.save()
    finally:
        engine.dispose()


def _describe_exit(code: int) -> str:
    if code < 0:
        name = signal.Signals(-code).name
        return f"killed by {name}" + (" (out of memory?)" if -code == signal.SIGKILL else "")
    return f"exit status {code}"


def _start(command: list[str], bar: ProgressBar | None, **kwargs: Any) -> tuple[subprocess.Popen[str], Any]:
    """Start a child process; while a live bar is shown, its stderr is relayed above the bar (else inherited).

    Returns the child and the relaying thread (``None`` when nothing is relayed).
    """
    if bar is None or bar.mode != "live":
        return subprocess.Popen(command, text=True, **kwargs), None
    child = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, errors="replace", **kwargs)
    stream = child.stderr
    assert stream is not None

    def pump() -> None:
        for line in stream:
            bar.log(line.rstrip("\n"))

    thread = threading.Thread(target=pump, name="bench-link-relay", daemon=True)
    thread.start()
    return child, thread


def _join(relay: Any) -> None:
    """Wait for a relaying thread of :func:`_start` to print the last lines of its child."""
    if relay is not None:
        relay.join(timeout=10)


def bench_size(
    persons: int,
    seed: int,
    *,
    link_timeout: float | None,
    count_pairs: bool,
    profile: bool = False,
    bar: ProgressBar | None = None,
) -> SizeResult:
    """Generate (cached), ingest into a scratch database, link in a child process, score; drop the database.

    ``bar`` shows the current stage of this size (generate, ingest, link and evaluate).
    """
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from popdata.config.settings import load_settings
    from popdata.warehouse import db, migrate

    def stage(text: str) -> None:
        if bar is not None:
            bar.set_step(f"{persons:,} persons: {text}")

    stage("generate (cached)")
    started = time.perf_counter()
    command = [
        sys.executable,
        "-m",
        "popdata.bench_link",
        "--persons",
        str(persons),
        "--seed",
        str(seed),
        "--prepare-only",
    ]
    prepare_child, relay = _start(command, bar)
    code = prepare_child.wait()
    _join(relay)
    if code != 0:
        raise subprocess.CalledProcessError(code, command)
    cache = cache_dir(persons, seed)
    generated = time.perf_counter() - started
    ready = (cache / "READY").read_text(encoding="utf-8").strip()

    server_url = make_url(db.warehouse_url(load_settings()))
    name = f"popdata_bench_link_{uuid.uuid4().hex[:8]}"
    bench_url = server_url.set(database=name).render_as_string(hide_password=False)
    db.ensure_database(bench_url)
    engine = sa.create_engine(bench_url)
    work = Path(tempfile.mkdtemp(prefix="popdata-bench-link-"))
    result = SizeResult(persons=persons)
    result.details["generated"] = ready
    result.generate_seconds = generated
    try:
        landing = work / "landing"
        shutil.copytree(cache / "landing", landing)
        migrate.upgrade(engine)
        stage("ingest")
        print(f"ingesting {persons:,} persons into {name} …", file=sys.stderr, flush=True)
        started = time.perf_counter()
        result.files, result.rows_loaded = ingest(engine, landing, work)
        result.ingest_seconds = time.perf_counter() - started
        engine.dispose()
        print(
            f"ingested {result.files} files, {result.rows_loaded:,} rows in {result.ingest_seconds:.0f}s",
            file=sys.stderr,
            flush=True,
        )
        result_path = work / "link-result.json"
        command = [
            sys.executable,
            "-m",
            "popdata.bench_link",
            "--link-child",
            bench_url,
            "--truth",
            str(cache / "truth"),
            "--result",
            str(result_path),
            "--persons",
            str(persons),
        ]
        command += ["--count-pairs"] if count_pairs else []
        command += ["--profile"] if profile else []
        stage("link and evaluate (child process)")
        child, relay = _start(command, bar, start_new_session=True)
        try:
            code = child.wait(timeout=link_timeout)
            status = "ok" if code == 0 else _describe_exit(code)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            status = f"stopped after {link_timeout:.0f}s"
        _join(relay)
        if result_path.is_file():
            measured = SizeResult.from_dict(json.loads(result_path.read_text(encoding="utf-8")))
            for name_ in ("mentions", "link_seconds", "rss_before_mib", "peak_mib", "precision", "recall"):
                setattr(result, name_, getattr(measured, name_))
            result.evaluate_seconds = measured.evaluate_seconds
            result.phases = measured.phases
            result.last_phase = measured.last_phase
            result.details.update(measured.details)
            if status == "ok" and measured.status != "ok":
                status = measured.status
        result.status = status
    finally:
        engine.dispose()
        db.drop_database(bench_url)
        shutil.rmtree(work, ignore_errors=True)
    return result


def report_renderables(results: Sequence[SizeResult], seed: int) -> list[RenderableType]:
    """The report: the results table, the growth, then the phases of the largest size that ran."""
    out: list[RenderableType] = [
        Text(
            f"popdata bench-link — seed {seed}, {os.cpu_count()} CPUs, load average "
            + " ".join(f"{x:.2f}" for x in os.getloadavg())
            + "\n"
        ),
        results_table(results),
    ]
    lines: list[str] = []
    growth = growth_lines(results)
    if growth:
        lines += ["", "growth of the linkage time:", *(f"  {g}" for g in growth)]
    ran = [r for r in results if r.phases]
    if ran:
        largest = max(ran, key=lambda r: r.persons)
        lines += ["", f"phases at {largest.persons:,} persons ({largest.status}):"]
        out += [Text("\n".join(lines)), phases_table(largest)]
        lines = []
        details = {k: v for k, v in largest.details.items() if k != "slow_sql"}
        if details:
            lines += ["details: " + json.dumps(details, ensure_ascii=False)]
        slow = sorted(largest.details.get("slow_sql", {}).items(), key=lambda kv: -kv[1][1])
        if slow:
            lines.append("SQL statements slower than 0.2 s (count, seconds; COPY not included):")
            lines += [f"  {n:>4} {sec:>8.2f}s  {sql}" for sql, (n, sec) in slow[:8]]
        if largest.rss_before_mib is not None:
            lines.append(
                f"RSS of the linkage process before link.run (imports): {largest.rss_before_mib:,.0f} MiB"
            )
    lines += [
        "",
        f"target at 1 000 000 persons: link.run under {TARGET_SECONDS:.0f}s and {TARGET_MIB / 1024:.0f} GiB"
        " (peak = RSS high-water mark of the linkage process, DuckDB included, PostgreSQL not)",
    ]
    out.append(Text("\n".join(lines)))
    return out


def report(results: Sequence[SizeResult], seed: int) -> str:
    """:func:`report_renderables` as plain text."""
    return render_text(report_renderables(results, seed))


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark (or one of its child steps) and print the figures."""
    args = parse_args(argv)
    if args.prepare_only:
        for persons in args.persons:
            prepare(persons, args.seed)
        return
    if args.link_child is not None:
        if args.truth is None or args.result is None:
            raise SystemExit("--link-child needs --truth and --result")
        link_child(
            args.link_child,
            args.truth,
            args.result,
            args.persons[0],
            count_pairs=args.count_pairs,
            profile=args.profile,
        )
        return
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    results: list[SizeResult] = []
    with progress_bar(
        len(args.persons),
        "popdata bench-link",
        lines=True,
        console=Console(stderr=True, markup=False, highlight=False),
        unit="sizes",
    ) as bar:
        for persons in args.persons:
            with bar.step(f"{persons:,} persons"):
                results.append(
                    bench_size(
                        persons,
                        args.seed,
                        link_timeout=args.link_timeout,
                        count_pairs=args.count_pairs,
                        profile=args.profile,
                        bar=bar,
                    )
                )
            bar.log(f"\n{format_table(results)}\n")
    print()
    print_renderables(report_renderables(results, args.seed))


if __name__ == "__main__":
    main()
