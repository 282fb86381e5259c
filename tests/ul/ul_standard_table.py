"""PS3.8 §9.2.3 Table 9-10 retyped in the standard's own layout: the tests' oracle.

One row per event, one column per state, each cell "action:next-state" ("3|13" where
the action chooses), blank cells as ".", so a reader can hold it next to the PDF.
:mod:`dicomnet.ul.table` is written differently (row dicts); ``test_ul_table.py`` checks
that the two agree cell for cell.
"""

from __future__ import annotations

import re

from dicomnet.ul import Action, Event, State

# The grid keeps the standard's layout, wider than the line limit.
# ruff: noqa: E501
# Sta:    1         2          3          4         5          6          7          8          9          10          11         12         13
STANDARD = """
Evt1   AE-1:4     .          .          .         .          .          .          .          .          .           .          .          .
Evt2   .          .          .          AE-2:5    .          .          .          .          .          .           .          .          .
Evt3   .          AA-1:13    AA-8:13    .         AE-3:6     AA-8:13    AA-8:13    AA-8:13    AA-8:13    AA-8:13     AA-8:13    AA-8:13    AA-6:13
Evt4   .          AA-1:13    AA-8:13    .         AE-4:1     AA-8:13    AA-8:13    AA-8:13    AA-8:13    AA-8:13     AA-8:13    AA-8:13    AA-6:13
Evt5   AE-5:2     .          .          .         .          .          .          .          .          .           .          .          .
Evt6   .          AE-6:3|13  AA-8:13    .         AA-8:13    AA-8:13    AA-8:13    AA-8:13    AA-8:13    AA-8:13     AA-8:13    AA-8:13    AA-7:13
Evt7   .          .          AE-7:6     .         .          .          .          .          .          .           .          .          .
Evt8   .          .          AE-8:13    .         .          .          .          .          .          .           .          .          .
Evt9   .          .          .          .         .          DT-1:6     .          AR-7:8     .          .           .          .          .
Evt10  .          AA-1:13    AA-8:13    .         AA-8:13    DT-2:6     AR-6:7     AA-8:13    AA-8:13    AA-8:13     AA-8:13    AA-8:13    AA-6:13
Evt11  .          .          .          .         .          AR-1:7     .          .          .          .           .          .          .
Evt12  .          AA-1:13    AA-8:13    .         AA-8:13    AR-2:8     AR-8:9|10  AA-8:13    AA-8:13    AA-8:13     AA-8:13    AA-8:13    AA-6:13
Evt13  .          AA-1:13    AA-8:13    .         AA-8:13    AA-8:13    AR-3:1     AA-8:13    AA-8:13    AR-10:12    AR-3:1     AA-8:13    AA-6:13
Evt14  .          .          .          .         .          .          .          AR-4:13    AR-9:11    .           .          AR-4:13    .
Evt15  .          .          AA-1:13    AA-2:1    AA-1:13    AA-1:13    AA-1:13    AA-1:13    AA-1:13    AA-1:13     AA-1:13    AA-1:13    .
Evt16  .          AA-2:1     AA-3:1     .         AA-3:1     AA-3:1     AA-3:1     AA-3:1     AA-3:1     AA-3:1      AA-3:1     AA-3:1     AA-2:1
Evt17  .          AA-5:1     AA-4:1     AA-4:1    AA-4:1     AA-4:1     AA-4:1     AA-4:1     AA-4:1     AA-4:1      AA-4:1     AA-4:1     AR-5:1
Evt18  .          AA-2:1     .          .         .          .          .          .          .          .           .          .          AA-2:1
Evt19  .          AA-1:13    AA-8:13    .         AA-8:13    AA-8:13    AA-8:13    AA-8:13    AA-8:13    AA-8:13     AA-8:13    AA-8:13    AA-7:13
"""


def _parse() -> dict[tuple[State, Event], tuple[Action, tuple[State, ...]]]:
    cells: dict[tuple[State, Event], tuple[Action, tuple[State, ...]]] = {}
    rows = [line.split() for line in STANDARD.strip().splitlines()]
    assert [row[0] for row in rows] == [e.label for e in Event]
    for row in rows:
        event = Event(int(row[0].removeprefix("Evt")))
        assert len(row) == 1 + len(State), row
        for state, cell in zip(State, row[1:], strict=True):
            if cell == ".":
                continue
            match = re.fullmatch(r"([A-Z]{2}-\d+):([\d|]+)", cell)
            assert match, cell
            nexts = tuple(State(int(n)) for n in match.group(2).split("|"))
            cells[(state, event)] = (Action(match.group(1)), nexts)
    return cells


#: (state, event) -> (action, possible next states), as the standard prints them.
STANDARD_CELLS = _parse()
