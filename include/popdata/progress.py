"""Progress bars and summary tables for the long commands (``generate``, ``run``, the benches).

Built on ``rich``. A bar is drawn in one of three modes (:func:`progress_mode`):

``live``
    stdout is an interactive terminal (or the bar is forced): a rich progress bar
    with the current step and the elapsed time, redrawn in place.
``lines``
    not a terminal (a pipe, a log file, CI) and the caller asked for step lines:
    one plain line per step, no control characters, nothing else.
``off``
    disabled, or not a terminal and no step lines wanted: nothing at all.

``POPDATA_PROGRESS=always`` forces the live bar, ``POPDATA_PROGRESS=never``
switches every bar off. Tables are printed with :func:`make_console`, which
renders plain text at a fixed width of :data:`PLAIN_WIDTH` columns when the
output is not a terminal, so piped output is stable and free of escape codes.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Literal

from rich import box
from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

PLAIN_WIDTH = 120
"""Width of tables rendered for a pipe, a file or a test: fixed, so the output is stable."""

FORCE_ENV = "POPDATA_PROGRESS"
"""``always`` draws live bars even when stdout is not a terminal; ``never`` draws no bar and no step line."""

Mode = Literal["live", "lines", "off"]


def make_console(file: IO[str] | None = None, *, force_terminal: bool | None = None) -> Console:
    """A console writing to ``file`` (default: ``sys.stdout`` at the time of each print).

    On a terminal it has the terminal's width and colours; otherwise it writes plain
    text (no colour, no control codes) at :data:`PLAIN_WIDTH` columns.
    """
    console = Console(file=file, force_terminal=force_terminal, markup=False, highlight=False, emoji=False)
    if console.is_terminal:
        return console
    return plain_console(file)


def plain_console(file: IO[str] | None = None, *, width: int = PLAIN_WIDTH) -> Console:
    """A console that writes plain text ``width`` columns wide: no colour, no markup, no control codes."""
    return Console(
        file=file,
        force_terminal=False,
        force_interactive=False,
        color_system=None,
        width=width,
        markup=False,
        highlight=False,
        emoji=False,
    )


def _interactive(console: Console) -> bool:
    """True when ``console`` is a terminal that can redraw a line in place."""
    return console.is_terminal and not console.is_dumb_terminal


def progress_mode(
    enabled: bool, console: Console, *, lines: bool = False, force: bool = False, live: bool = True
) -> Mode:
    """How a bar on ``console`` is shown: ``live``, ``lines`` (one plain line per step) or ``off``.

    ``force`` (or ``POPDATA_PROGRESS=always``) draws the live bar even when ``console``
    is not a terminal; ``POPDATA_PROGRESS=never`` turns every bar off. ``live=False``
    never redraws in place (for output that other writers share): ``lines`` or ``off``.
    """
    setting = os.environ.get(FORCE_ENV, "").strip().lower()
    if not enabled or setting in ("never", "off", "0", "false"):
        return "off"
    if live and (force or setting in ("always", "force", "1", "true") or _interactive(console)):
        return "live"
    return "lines" if lines else "off"


class ProgressBar:
    """One bar: advance it by units of work, or run steps through it (:meth:`step`).

    Built by :func:`progress_bar`; in ``off`` mode only :meth:`log` prints anything.
    """

    def __init__(
        self,
        mode: Mode,
        description: str,
        total: float | None,
        *,
        console: Console,
        progress: Progress | None = None,
        task: TaskID | None = None,
    ) -> None:
        """Wrap a started rich ``progress`` and its ``task`` (live mode) or just the ``console`` (lines, off)."""
        self.mode: Mode = mode
        self.description = description
        self.total = total
        self.console = console
        self.steps_started = 0
        self.completed = 0.0
        self._progress = progress
        self._task = task

    def advance(self, amount: float = 1) -> None:
        """Count ``amount`` more units of work as done."""
        self.completed += amount
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, amount)

    def set_step(self, text: str) -> None:
        """Show ``text`` as the current step in the live bar (lines and off modes: nothing)."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, step=text)

    @contextmanager
    def step(self, text: str) -> Iterator[None]:
        """Run one step of the bar: shown while it runs, counted as one unit when it ends (even on error).

        In ``lines`` mode the start of each step is one line, ``<description> [i/n] <text> …``.
        """
        self.steps_started += 1
        if self.mode == "lines":
            count = f"{self.steps_started}/{self.total:.0f}" if self.total else f"{self.steps_started}"
            self._write(f"{self.description} [{count}] {text} …")
        self.set_step(text)
        try:
            yield
        finally:
            self.advance(1)

    def log(self, text: str) -> None:
        """Print ``text`` whatever the mode: above the bar when it is live, as plain lines otherwise."""
        if self._progress is not None:
            self._progress.console.print(Text(text), highlight=False, soft_wrap=True)
            return
        self._write(text)

    def _write(self, text: str) -> None:
        """``text`` as plain lines on the console's file, without control characters."""
        stream = self.console.file
        stream.write("\n".join(_plain(line) for line in text.split("\n")) + "\n")
        stream.flush()

    def finish(self) -> None:
        """Show the bar as complete (an open-ended bar gets a total equal to the work done)."""
        if self._progress is not None and self._task is not None:
            done = self.completed if self.total is None else self.total
            self._progress.update(self._task, total=max(done, 1), completed=max(done, 1), step="done")


def _plain(text: str) -> str:
    """``text`` without control characters (tabs become spaces, newlines and escapes are dropped)."""
    return "".join(" " if ch == "\t" else ch for ch in text if ch == "\t" or ch.isprintable())


@contextmanager
def progress_bar(
    total: float | None,
    description: str,
    *,
    enabled: bool = True,
    lines: bool = False,
    force: bool = False,
    console: Console | None = None,
    unit: str = "",
    live: bool = True,
    transient: bool = False,
    refresh_per_second: float = 5,
) -> Iterator[ProgressBar]:
    """A bar of ``total`` units (``None``: unknown) titled ``description``; see the module docstring for modes.

    ``lines`` asks for one line per :meth:`ProgressBar.step` when the output is not a
    terminal; ``live=False`` gives those lines even on a terminal, never a redrawn bar.
    ``unit`` is shown after the counts (``rows``, ``persons``). While the
    live bar is shown, anything printed to stdout or stderr by this process appears above it.
    """
    console = console or Console(markup=False, highlight=False)
    mode = progress_mode(enabled, console, lines=lines, force=force, live=live)
    if mode != "live":
        yield ProgressBar(mode, description, total, console=console)
        return
    if not _interactive(console):  # forced: draw it anyway
        console = Console(
            file=console.file, force_terminal=True, markup=False, highlight=False, width=console.width
        )
    progress = Progress(
        SpinnerColumn(finished_text="✓"),
        TextColumn("{task.description}", style="progress.description", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit, markup=False),
        TimeElapsedColumn(),
        TextColumn("{task.fields[step]}", markup=False),
        console=console,
        transient=transient,
        refresh_per_second=refresh_per_second,
    )
    with progress:
        task = progress.add_task(description, total=total, step="")
        bar = ProgressBar(mode, description, total, console=console, progress=progress, task=task)
        yield bar
        bar.finish()  # not reached on an error: the bar stays where the work stopped


# ---------------------------------------------------------------------------------------- tables
def new_table(title: str | None, columns: Sequence[str | tuple[str, str]]) -> Table:
    """A summary table: ``columns`` are names (left-aligned) or ``(name, "right")`` pairs.

    No cell wraps but those of a last, left-aligned column (free text: a status, failed tasks).
    The rules are drawn in ASCII when the output cannot show Unicode.
    """
    table = Table(
        title=title,
        box=box.SIMPLE_HEAD,
        title_justify="left",
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    for index, column in enumerate(columns):
        name, justify = (column, "left") if isinstance(column, str) else column
        table.add_column(
            name,
            justify="right" if justify == "right" else "left",
            no_wrap=justify == "right" or index < len(columns) - 1,
        )
    return table


def render_text(renderables: Iterable[RenderableType], *, width: int = PLAIN_WIDTH) -> str:
    """``renderables`` (tables, text) as plain text: no colour, no control codes, no trailing blanks.

    Tables fit in ``width`` columns; text lines are never broken.
    """
    buffer = io.StringIO()
    console = plain_console(buffer, width=width)
    for renderable in renderables:
        console.print(renderable, soft_wrap=True)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


def print_renderables(renderables: Iterable[RenderableType], console: Console | None = None) -> None:
    """Print ``renderables`` on ``console`` (default: :func:`make_console` on stdout); text lines are never broken."""
    console = console or make_console()
    for renderable in renderables:
        console.print(renderable, soft_wrap=True)
