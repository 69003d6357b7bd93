"""How the CLI shows a wait for convergence (gitkube.agents.converge.Progress).

On a terminal: one line, redrawn at every look. Otherwise (a pipe, a log): the plain lines
of ``converge.PlainProgress`` — a line whenever an object converges, a summary every 10 s.
"""

from __future__ import annotations

from typing import TextIO

from gitkube.agents.converge import PlainProgress, Progress, ProgressSink


class LiveProgress:
    """A ``ProgressSink`` redrawing one terminal line; ``finish()`` clears it."""

    def __init__(self, out: TextIO):
        self.out = out

    def __call__(self, progress: Progress) -> None:
        self.out.write("\r\033[K" + progress.summary())
        self.out.flush()

    def finish(self) -> None:
        self.out.write("\r\033[K")
        self.out.flush()


def show_progress(out: TextIO, live: bool | None = None) -> LiveProgress | PlainProgress:
    """The display for ``out``: live when it is a terminal (unless ``live`` says)."""
    return LiveProgress(out) if (out.isatty() if live is None else live) else PlainProgress(out)


def finish(sink: ProgressSink) -> None:
    """End a display started by ``show_progress`` (a live line is cleared)."""
    if isinstance(sink, LiveProgress):
        sink.finish()


__all__ = ["LiveProgress", "finish", "show_progress"]
