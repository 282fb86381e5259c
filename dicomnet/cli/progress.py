"""The one-line progress bar of the transfer commands (store, get, move).

Drawn on stderr only when it is a terminal and no log output (-v, -d) or -q asked for
lines of their own: a bar redrawn with carriage returns would garble a log or a pipe.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["RetrieveBar", "add_progress_option", "draw", "end", "human_size", "wanted"]

_WIDTH = 30


def add_progress_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar, even on a terminal")


def wanted(args: argparse.Namespace) -> bool:
    """Whether to draw: decided once per command (asking the terminal costs a system
    call, between an answer and the next request)."""
    return not (getattr(args, "no_progress", False) or args.verbose or args.debug
                or args.quiet) and sys.stderr.isatty()


def draw(done: int, total: int, what: str, detail: str = "") -> None:
    """Redraw the bar: ``done`` of ``total`` ``what`` (files, instances), then
    ``detail`` (bytes so far, failures)."""
    filled = _WIDTH * min(done, total) // max(total, 1)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (_WIDTH - filled)}] {done}/{total} {what}"
                     + (f", {detail}" if detail else ""))
    sys.stderr.flush()


def end() -> None:
    """The line after a bar, so that what follows starts on a line of its own."""
    sys.stderr.write("\n")


def human_size(count: int) -> str:
    """A byte count as a person reads it: 512 B, 3.4 MB, 1.20 GB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.{2 if unit == 'GB' else 1}f} {unit}"
    return f"{count} B"


class RetrieveBar:
    """The bar of a C-GET or C-MOVE, from the counts of each pending response (PS3.4
    C.4.2.1.5, C.4.3.1.5: remaining, completed, failed, warning sub-operations), and,
    for C-GET, the bytes received so far (:attr:`received`)."""

    def __init__(self, enabled: bool, *, bytes_received: bool) -> None:
        self.enabled = enabled
        self.bytes_received = bytes_received
        self.received = 0
        self._drawn = False

    def update(self, message: object) -> None:
        """Redraw from a response's command (a peer that omits the optional counts
        shows what it gave)."""
        if not self.enabled:
            return
        remaining = getattr(message, "number_of_remaining_suboperations", None)
        if remaining is None:
            return  # a final response, or a peer that sends no counts
        completed = getattr(message, "number_of_completed_suboperations", None) or 0
        failed = getattr(message, "number_of_failed_suboperations", None) or 0
        warning = getattr(message, "number_of_warning_suboperations", None) or 0
        done = completed + failed + warning
        details = [human_size(self.received)] if self.bytes_received else []
        if failed:
            details.append(f"{failed} failed")
        draw(done, done + remaining, "instances", ", ".join(details))
        self._drawn = True

    def close(self) -> None:
        """End the bar's line, if one was drawn."""
        if self._drawn:
            end()
            self._drawn = False
