"""Progress bars and summary tables: silent when disabled, plain when piped, and the figures in the tables."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from popdata import bench, bench_ingest, bench_link, progress, runner
from popdata.bench_link import Phase, SizeResult
from popdata.cli import main
from popdata.progress import plain_console, progress_bar, progress_mode, render_text

# any C0/C1 control character but the newline: escape sequences, carriage returns, backspaces
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


@pytest.fixture(autouse=True)
def _no_forcing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The caller's POPDATA_PROGRESS must not decide these tests."""
    monkeypatch.delenv(progress.FORCE_ENV, raising=False)
    yield


def _terminal(buffer: io.StringIO) -> Console:
    """A console that believes it is an interactive terminal, writing into ``buffer``."""
    return Console(
        file=buffer, force_terminal=True, force_interactive=True, width=100, color_system="standard"
    )


def _pipe(buffer: io.StringIO) -> Console:
    """A console on a pipe (``StringIO`` is no terminal)."""
    return Console(file=buffer, width=100)


def _run_steps(console: Console, **kwargs: object) -> None:
    with progress_bar(3, "running DAG", console=console, **kwargs) as bar:  # type: ignore[arg-type]
        for dag_id in ("ingest__stats__regions", "link__persons", "quality__cross_feed"):
            with bar.step(dag_id):
                bar.advance(0)


# ------------------------------------------------------------------------------------- modes
def test_mode_follows_enabled_terminal_lines_and_force(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal, pipe = _terminal(io.StringIO()), _pipe(io.StringIO())
    assert progress_mode(True, terminal) == "live"
    assert progress_mode(False, terminal) == "off"
    assert progress_mode(True, pipe) == "off"
    assert progress_mode(True, pipe, lines=True) == "lines"
    assert progress_mode(True, pipe, force=True) == "live"
    assert progress_mode(True, terminal, lines=True, live=False) == "lines"
    monkeypatch.setenv(progress.FORCE_ENV, "never")
    assert progress_mode(True, terminal, lines=True) == "off"
    monkeypatch.setenv(progress.FORCE_ENV, "always")
    assert progress_mode(True, pipe) == "live"
    assert progress_mode(False, pipe) == "off"


def test_a_dumb_terminal_gets_no_live_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "dumb")
    console = Console(file=io.StringIO(), force_terminal=True)
    assert progress_mode(True, console, lines=True) == "lines"


# ------------------------------------------------------------------------------------- output
def test_disabled_bar_prints_nothing_even_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    buffer = io.StringIO()
    _run_steps(_terminal(buffer), enabled=False, lines=True)
    assert buffer.getvalue() == ""
    assert capsys.readouterr() == ("", "")


def test_default_console_is_stdout_and_silent_when_piped(capsys: pytest.CaptureFixture[str]) -> None:
    """pytest's captured stdout is no terminal: a bar without step lines prints nothing at all."""
    with progress_bar(10, "files", unit="rows") as bar:
        assert bar.mode == "off"
        for _ in range(10):
            bar.advance()
    assert capsys.readouterr() == ("", "")


def test_piped_bar_prints_one_plain_line_per_step() -> None:
    buffer = io.StringIO()
    _run_steps(_pipe(buffer), lines=True)
    text = buffer.getvalue()
    assert not CONTROL.search(text), repr(text)
    assert text.splitlines() == [
        "running DAG [1/3] ingest__stats__regions …",
        "running DAG [2/3] link__persons …",
        "running DAG [3/3] quality__cross_feed …",
    ]


def test_live_bar_draws_on_a_terminal_and_counts_steps() -> None:
    """The contrast to the piped case: on a terminal the bar is redrawn with control codes."""
    buffer = io.StringIO()
    console = _terminal(buffer)
    with progress_bar(3, "running DAG", console=console, lines=True) as bar:
        assert bar.mode == "live"
        for dag_id in ("a", "b", "c"):
            with bar.step(dag_id):
                pass
    assert bar.completed == 3
    text = buffer.getvalue()
    assert CONTROL.search(text)
    assert "running DAG" in text and "3/3" in text


def test_forced_bar_draws_even_on_a_pipe() -> None:
    buffer = io.StringIO()
    with progress_bar(2, "files", console=_pipe(buffer), force=True) as bar:
        assert bar.mode == "live"
        bar.advance(2)
    assert "2/2" in buffer.getvalue()


def test_log_lines_are_plain_on_a_pipe_and_a_step_counts_when_it_fails() -> None:
    buffer = io.StringIO()
    with progress_bar(2, "bench", console=_pipe(buffer)) as bar:
        bar.log("generated 10 persons\x1b[31m\r in 1s")
        with pytest.raises(RuntimeError), bar.step("boom"):
            raise RuntimeError("boom")
    assert bar.completed == 1
    assert buffer.getvalue() == "generated 10 persons[31m in 1s\n"


# ------------------------------------------------------------------------------------- tables
def test_render_text_is_plain_and_fits_the_fixed_width() -> None:
    table = progress.new_table("title", ["name", ("figure", "right"), "note"])
    table.add_row("household_registry", "12,345", "why " * 60)
    text = render_text([table, "a [bold]line[/bold] " * 20])
    assert not CONTROL.search(text)
    assert "12,345" in text and "[bold]line[/bold]" in text  # no markup: printed as written
    table_lines = text.splitlines()[:-1]
    assert max(len(line) for line in table_lines) <= progress.PLAIN_WIDTH
    assert len(text.splitlines()[-1]) > progress.PLAIN_WIDTH  # text lines are not broken


def test_make_console_off_a_terminal_is_plain_and_fixed_width() -> None:
    console = progress.make_console(io.StringIO())
    assert not console.is_terminal and console.width == progress.PLAIN_WIDTH
    assert console.color_system is None


def _summary() -> runner.Summary:
    feeds = [
        runner.FeedFiles("health", "birth_certificates", 9, 6, 1, 1, 1, 0, 1234, 1200, 34),
        runner.FeedFiles("police", "household_registry", 2, 2, 0, 0, 0, 0, 6090, 6090, 0),
    ]
    report = runner.RunReport(as_of=date(2014, 6, 30), seconds=81.25)
    report.dag_runs = {"ingest__health__birth_certificates": "success", "link__persons": "failed"}
    report.dag_seconds = {"ingest__health__birth_certificates": 12.34, "link__persons": 5.0}
    report.failed_tasks = {"link__persons": ["link[0]: failed"]}
    report.data_docs = Path("/tmp/gx/site/index.html")
    notes = ["mart.population at 2014-06-30: 2000 registered persons in 63 villages"]
    return runner.Summary(feeds=feeds, notes=notes, report=report)


def test_run_summary_tables_hold_the_figures_and_totals() -> None:
    text = render_text(runner.summary_renderables(_summary()))
    assert not CONTROL.search(text)
    lines = text.splitlines()
    row = next(line for line in lines if line.startswith("health/birth_certificates"))
    assert row.split()[1:] == ["9", "6", "1", "1", "1", "0", "1,234", "1,200", "34"]
    total = next(line for line in lines if line.startswith("total") and "7,324" in line)
    assert total.split()[1:] == ["11", "8", "1", "1", "1", "0", "7,324", "7,290", "34"]
    dag = next(line for line in lines if line.startswith("ingest__health__birth_certificates"))
    assert dag.split() == ["ingest__health__birth_certificates", "success", "12.3"]
    failed = next(line for line in lines if line.startswith("link__persons"))
    assert failed.split() == ["link__persons", "failed", "5.0", "link[0]:", "failed"]
    assert "17.3" in next(line for line in lines if line.startswith("total") and "failed" in line)
    # the lines scripts and tests grep stay, after the tables
    assert "DAG run ingest__health__birth_certificates: success" in lines
    assert "DAG run link__persons: failed" in lines and "    link[0]: failed" in lines
    assert "Data Docs (数据质量文档): file:///tmp/gx/site/index.html" in lines
    assert "as of 2014-06-30; took 81.2s" in lines
    assert lines.index("DAG run link__persons: failed") > lines.index(dag)


def test_text_summary_keeps_its_fixed_width_feed_table() -> None:
    """``runner.summary`` (``popdata status``) is unchanged: the old header, one line per feed, the run lines."""
    lines = runner.summary_text(_summary()).splitlines()
    assert lines[0].split() == [
        "feed",
        "files",
        "loaded",
        "w/rej",
        "quar",
        "dup",
        "rows",
        "read",
        "loaded",
        "rejected",
    ]
    assert lines[1].split() == ["health/birth_certificates", "9", "6", "1", "1", "1", "1234", "1200", "34"]
    assert lines[3].startswith("mart.population at 2014-06-30")
    assert "DAG run link__persons: failed" in lines
    empty = runner.summary_text(runner.Summary(feeds=[], notes=[]))
    assert empty.splitlines()[1] == "(no files in the ledger yet)"


def test_generate_prints_a_table_of_rows_and_files_per_feed(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["generate", "--persons", "100", "--seed", "3", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert not CONTROL.search(result.output), repr(result.output)
    lines = result.output.splitlines()
    assert lines[0].startswith("generated 100 persons (seed 3)")
    files = int(lines[0].split(": ")[1].split()[0])
    rows = {
        line.split()[0]: (int(line.split()[1].replace(",", "")), int(line.split()[2]))
        for line in lines[4:]
        if line.strip() and not line.startswith("total")
    }
    total = next(line for line in lines if line.startswith("total")).split()
    assert "household_registry" in rows and "regions" in rows
    assert int(total[1].replace(",", "")) == sum(r for r, _ in rows.values())
    assert int(total[2]) == sum(f for _, f in rows.values()) == files
    truth = (tmp_path / "truth" / "files.csv").read_text(encoding="utf-8").splitlines()
    assert len(truth) - 1 == files


# ------------------------------------------------------------------------------------- benches
def test_bench_phase_table_has_seconds_rate_share_and_total() -> None:
    text = render_text([bench.phase_table({"decode + parse": 2.0, "normalise": 6.0}, 40_000)])
    lines = text.splitlines()
    assert lines[0].split() == ["phase", "seconds", "rows/s", "share"]
    assert next(line for line in lines if line.startswith("decode")).split()[-3:] == ["2.00", "20,000", "25%"]
    assert next(line for line in lines if line.startswith("slice total")).split()[-3:] == [
        "8.00",
        "5,000",
        "100%",
    ]


def _ingest_run(scale: float) -> bench_ingest.IngestRun:
    return bench_ingest.IngestRun(
        file_name="f.csv",
        size_mb=1.0,
        rows_read=1000,
        rows_loaded=990,
        rows_rejected=10,
        reached="published",
        copied=1000,
        copy_seconds=0.5,
        steps={
            "register (sha256, ledger)": 0.25,
            "stage": 1.0,
            "validate (GX, in PostgreSQL)": 0.5,
            "publish (core + marts)": 0.25 * scale,
        },
        timings={"  decode + parse": 0.4, "  COPY to staging": 0.25},
        rss_before_mib=300.0,
    )


def test_bench_ingest_figures_keep_both_ingests_and_the_ratios() -> None:
    text = render_text(
        bench_ingest.figures(
            headline="popdata bench-ingest — f.csv",
            gx_import=3.0,
            runs={"loader": _ingest_run(2.0), "platform": _ingest_run(1.0)},
            peak_mib=900.0,
            rss_before_mib=300.0,
        )
    )
    assert not CONTROL.search(text)
    lines = text.splitlines()
    # phase, then seconds and rows/s as the loader, then as the platform
    assert next(line for line in lines if line.startswith("(a) raw COPY")).split()[-4:] == [
        "0.50",
        "2,000",
        "0.50",
        "2,000",
    ]
    assert next(line for line in lines if "decode + parse" in line).split()[-4:] == [
        "0.40",
        "2,500",
        "0.40",
        "2,500",
    ]
    assert next(line for line in lines if "full ingest total" in line).split()[-4:] == [
        "2.25",
        "444",
        "2.00",
        "500",
    ]
    assert lines.count("  full ingest ÷ raw COPY: 4.5x (target ≤ 3x)") == 1
    assert lines.count("  full ingest ÷ raw COPY: 4.0x (target ≤ 3x)") == 1
    assert any(line.startswith("loader: as the pipeline") for line in lines)
    assert "as the loader ÷ as the platform: full ingest 1.12x, publish 2.00x" in " ".join(lines)
    assert any(
        line.startswith("  GX validation (full suite, 1 staged file)") and "2.00x" in line for line in lines
    )
    assert any("peak memory" in line and "900 MiB" in line for line in lines)


def test_bench_link_report_keeps_its_figures() -> None:
    result = SizeResult(
        persons=100_000,
        mentions=150_000,
        link_seconds=30.0,
        peak_mib=1000.0,
        precision=0.99995,
        recall=0.9984,
        ingest_seconds=100.0,
        phases=[Phase("extract", 3.0, 480.0)],
    )
    text = bench_link.report([result], seed=7)
    assert not CONTROL.search(text)
    row = next(line for line in text.splitlines() if line.lstrip().startswith("100,000"))
    assert row.split() == ["100,000", "150,000", "30.0", "5,000", "1,000", "99.995%", "99.840%", "100", "ok"]
    assert next(line for line in text.splitlines() if line.startswith("extract")).split() == [
        "extract",
        "3.00",
        "10%",
        "480",
    ]


def test_plain_console_never_emits_control_codes() -> None:
    buffer = io.StringIO()
    plain_console(buffer).print(runner.files_table(_summary().feeds))
    assert buffer.getvalue() and not CONTROL.search(buffer.getvalue())
