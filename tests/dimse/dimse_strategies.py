"""Hypothesis strategies for DIMSE messages: valid field values by VR (PS3.5 §6.2)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from hypothesis import strategies as st

from dicomnet.dimse import MESSAGE_TYPES, DIMSEMessage
from dicomnet.dimse.messages import message_fields

#: UI: digits and dots, at most 64 characters (PS3.5 §9.1).
uids = st.text(alphabet="0123456789.", min_size=1, max_size=64)
#: Default repertoire printable characters, without the backslash (a value delimiter).
_PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "\\")
#: AE: 1-16 characters; leading and trailing spaces are not significant, so none here.
ae_titles = st.text(alphabet=_PRINTABLE, min_size=1, max_size=16).filter(
    lambda s: s.strip(" ") == s and s != "")
#: LO: up to 64 characters, leading/trailing spaces not significant.
long_strings = st.text(alphabet=_PRINTABLE, max_size=64).filter(lambda s: s.strip(" ") == s)
us_values = st.integers(0, 0xFFFF)
at_values = st.lists(st.integers(0, 0xFFFFFFFF), max_size=6).map(tuple)

VALUES: dict[str, st.SearchStrategy[Any]] = {
    "UI": uids,
    "AE": ae_titles,
    "LO": long_strings,
    "US": us_values,
    "AT": at_values,
}


def message_strategy(cls: type[DIMSEMessage]) -> st.SearchStrategy[DIMSEMessage]:
    """Messages of ``cls``: required fields set, optional ones absent (None) or set.

    A field with a default other than None (Priority) is never None: it is always sent.
    """
    defaults = {f.name: f.default for f in fields(cls)}
    required: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for name, _tag, vr, is_required in message_fields(cls):
        if is_required or defaults[name] is not None:
            required[name] = VALUES[vr]
        else:
            optional[name] = st.none() | VALUES[vr]
    return st.builds(
        lambda kwargs: cls(**kwargs),
        st.fixed_dictionaries({**required, **optional, "has_dataset": st.booleans()}),
    )


MESSAGE_STRATEGIES = {cls.__name__: message_strategy(cls) for cls in MESSAGE_TYPES.values()}
any_message = st.one_of(*MESSAGE_STRATEGIES.values())
