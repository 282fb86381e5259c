"""The argument parser of every ``dicomnet`` command: DCMTK spellings never misread.

argparse reads ``-od DIR`` as ``-o d DIR`` (a short option with its value attached) and
``-dhl`` as ``-d -h -l``; with abbreviations on, ``--call`` would silently mean
``--called-aet`` today and something else once an option is added. DCMTK's options are
a dash and two to four letters, and people type them from habit; so abbreviations are
off, and such a word that is not one of this command's options is an error naming it
(and our spelling, where we have one), before argparse can split it. Where DCMTK's
spelling means what ours does, the command takes it as an alias instead.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from typing import Any

__all__ = ["CommandParser"]

#: A word shaped like a DCMTK option (``-od``, ``-aem``, ``+sd``, ``-dhl``, ``+tls``).
_DCMTK_SHAPED = re.compile(r"[-+][A-Za-z]{2,4}")
#: DCMTK spellings dicomnet has no alias for, and what to use here.
_OURS = {
    "-ll": "-v (info), -d (debug) or -q (errors only)",
    "-lc": "-v, -d or -q",
    "-pdu": "--max-pdu (dicomnet store, dicomnet serve)",
    "+tls": "--tls-cert and --tls-key (with --tls-ca for the peer's CA)",
    "-xs": "nothing: each file is sent in its own transfer syntax when the peer "
           "accepts it",
    "-aem": "--dest (dicomnet move)",
    "-od": "-o/--output (dicomnet get)",
}


class CommandParser(argparse.ArgumentParser):
    """argparse without abbreviations, refusing unknown DCMTK-shaped words."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None
                         ) -> tuple[argparse.Namespace, list[str]]:
        if args is not None:
            self._refuse_foreign_options(args)
        return super().parse_known_args(args, namespace)

    def _refuse_foreign_options(self, args: Sequence[str]) -> None:
        if self._subparsers is not None:
            return  # the words after the command are the command's to judge
        for word in args:
            if word == "--":
                return
            if word in self._option_string_actions or not _DCMTK_SHAPED.fullmatch(word):
                continue
            if word[0] not in self.prefix_chars:
                continue  # a value here (a '+' word where options start with '-' only)
            hint = _OURS.get(word)
            self.error(f"{word} is not an option of {self.prog}"
                       + (f"; use {hint}" if hint else "; see --help"))
