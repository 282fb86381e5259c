"""Attribute matching of PS3.4 C.2.2.2 (Query/Retrieve C-FIND), as pure functions.

:func:`key_matcher` turns one key value of a request identifier into a predicate on the
stored value of that attribute; :func:`identifier_matches` applies every key of an
identifier to a candidate entity; :func:`return_identifier` builds the response
identifier for a matching entity (PS3.4 C.2.2.1.2, C.2.2.2.6).

Values are handled as text, the way pydicom gives them (multiple values joined with a
backslash). Nothing here does I/O or logs: keys and values are patient data.

Decisions taken where the standard leaves a choice (each is tested):

* PN is matched case-insensitively, in Single Value and Wild Card Matching. The
  standard allows it (C.2.2.2.1: for PN "an application may perform literal matching
  that is either case-sensitive, or that is insensitive to some or all aspects of
  case"; C.2.2.2.4: for PN wild card matching "is implementation dependent"). A PN key
  without "=" is also tried against each component group of the stored name, and
  trailing "^" / "=" delimiters are not significant (PS3.5 6.2).
* Leading and trailing spaces (and the NUL that pads a UID) are padding, not
  significant, in both the key and the stored value.
* A lone "-" in a DA, TM or DT key is a range with neither end: it matches everything,
  like Universal Matching (C.2.2.2.3), as DCMTK does. Empty Value Matching (C.2.2.2.7,
  the key ``""``) changes the meaning of an empty-looking key only when it was agreed
  (extended negotiation; PS3.18 8.3.4.5: performed only when requested and
  supported), hence the ``empty_value_matching`` switch, off by default; off, ``""``
  is an ordinary value.
* Range Matching (C.2.2.2.5) is inclusive at both ends and an end covers its whole
  precision: the upper end "12" of a TM range reaches 12:59:59.999999, "2006" of a DT
  range the last moment of 2006 (a TM "120000" reaches 12:00:00.999999). A range whose
  first end is after its second ("where <date1> is less or equal to <date2>"), or that
  crosses midnight (TM, not supported by C.2.2.2.5), is a :class:`MatchError`.
  Combined DA/TM range matching needs extended negotiation and is not done: a Study
  Date range and a Study Time range are matched each on its own.
* A stored value with several values matches when any of them matches (C.2.2.3).
  A key with several values that is not a list of UIDs has no defined meaning without
  extended negotiation of Multiple Value Matching (C.2.2.2.8, note 4); here it matches
  when any of its values matches (an OR, like List of UID Matching). LT, ST, UT and
  UR have one value, and a backslash in them is an ordinary character.
* Wild cards "*" and "?" in a UI, DA, TM or DT key are a :class:`MatchError`: C.2.2.2.4
  applies to AE, CS, LO, LT, PN, SH, ST, UC, UR and UT only, and DICOM has no escape
  character, so for those VRs a "*" or "?" is always a wild card.
"""

from __future__ import annotations

import calendar
import copy
import datetime
import re
from collections.abc import Callable, Iterable
from functools import lru_cache

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

__all__ = ["MatchError", "Matcher", "identifier_matches", "key_matcher", "return_identifier"]

Matcher = Callable[[str | None], bool]

#: VRs Wild Card Matching applies to (PS3.4 C.2.2.2.4).
WILDCARD_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
#: VRs Range Matching applies to (PS3.4 C.2.2.2.5).
RANGE_VRS = frozenset({"DA", "TM", "DT"})
#: Never keys: the level (C.4.1.1.3.1) and the character set (C.2.2.2: "never matched").
_NOT_KEYS = frozenset({0x00080052, 0x00080005})
_QUERY_RETRIEVE_LEVEL = 0x00080052
_SPECIFIC_CHARACTER_SET = 0x00080005
#: VRs of one value whose text may hold a backslash (PS3.5 6.2: not a delimiter there).
_UNSPLIT_VRS = frozenset({"LT", "ST", "UT", "UR"})
_PADDING = " \x00"
_EMPTY_VALUE = '""'


class MatchError(ValueError):
    """A key value that cannot be a valid matching key (a malformed or reversed range,
    a wild card in a UID, date or time, a sequence key of several items)."""


def _strip(value: str | None) -> str:
    return (value or "").strip(_PADDING)


def _values(stored: str | None, split: bool = True) -> list[str]:
    """The stored value and, when it has several, each of them (C.2.2.3)."""
    text = _strip(stored)
    if not split or "\\" not in text:
        return [text]
    return [text, *(_strip(part) for part in text.split("\\"))]


# -- key_matcher ------------------------------------------------------------------


def key_matcher(vr: str, value: str | None, *,
                empty_value_matching: bool = False) -> Matcher | None:
    """A predicate on the stored value (text, ``None`` or ``""`` when absent) for one
    key of VR ``vr`` with the text ``value``; ``None`` for Universal Matching.

    Raises :class:`MatchError` when ``value`` cannot be a valid key.
    """
    return _key_matcher(vr.upper(), value or "", empty_value_matching)


# Small on purpose: queries with a unique key each (one SOP Instance UID per C-FIND) fill
# the cache with matchers never used again, and 4096 of them held several MiB of a
# long-running server (found by benchmarks/soak.py).
@lru_cache(maxsize=256)
def _key_matcher(vr: str, value: str, empty_value_matching: bool) -> Matcher | None:
    key = _strip(value)
    if not key:
        return None  # C.2.2.2.3 Universal Matching: a zero-length key matches all
    if empty_value_matching and key == _EMPTY_VALUE:
        # C.2.2.2.7 Empty Value Matching: only entities without a value match
        return lambda stored: not _strip(stored)
    if vr == "UI":
        return _uid_matcher(key)
    if "\\" in key and vr not in _UNSPLIT_VRS:
        return _any_of(vr, key)
    if vr in RANGE_VRS:
        if "*" in key or "?" in key:
            raise MatchError(f"wild cards are not allowed in a {vr} key (PS3.4 C.2.2.2.4)")
        if "-" in key:
            return _range_matcher(vr, key)
    if vr in WILDCARD_VRS and ("*" in key or "?" in key):
        return _wildcard_matcher(vr, key)
    return _single_value_matcher(vr, key)


def _uid_matcher(key: str) -> Matcher | None:
    """C.2.2.2.1 Single Value Matching of one UID; C.2.2.2.2 List of UID Matching of
    several ("each UID in the list ... may generate a match")."""
    if "*" in key or "?" in key:
        raise MatchError("wild cards are not allowed in a UID key (PS3.4 C.2.2.2.2)")
    uids = frozenset(filter(None, (_strip(uid) for uid in key.split("\\"))))
    if not uids:
        return None  # only delimiters: no value, so universal

    def matches(stored: str | None) -> bool:
        return any(value in uids for value in _values(stored))

    return matches


def _any_of(vr: str, key: str) -> Matcher | None:
    """A multi-valued key (other than UI): any of its values may match (C.2.2.2.8,
    note 4: undefined without extended negotiation; OR is the common reading)."""
    matchers: list[Matcher] = []
    for part in key.split("\\"):
        if not _strip(part):
            continue
        matcher = _key_matcher(vr, part, False)
        if matcher is None:
            return None  # one universal value ("*") makes the whole key universal
        matchers.append(matcher)
    if not matchers:
        return None

    def matches(stored: str | None) -> bool:
        return any(matcher(stored) for matcher in matchers)

    return matches


def _single_value_matcher(vr: str, key: str) -> Matcher:
    """C.2.2.2.1 Single Value Matching: exact and case-sensitive (DA, TM, DT too: their
    literal value), except PN, case-insensitive here (allowed by C.2.2.2.1)."""
    if vr == "PN":
        wanted = _person_name(key)
        groups = "=" not in key

        def matches_name(stored: str | None) -> bool:
            for value in _values(stored):
                if _person_name(value) == wanted:
                    return True
                if groups and "=" in value and any(
                        _person_name(group) == wanted for group in value.split("=")):
                    return True
            return False

        return matches_name

    split = vr not in _UNSPLIT_VRS

    def matches(stored: str | None) -> bool:
        return key in _values(stored, split)

    return matches


def _person_name(value: str) -> str:
    """A PN value with insignificant differences removed: case, padding, trailing
    component ("^") and group ("=") delimiters (PS3.5 6.2)."""
    groups = [group.strip(" ").rstrip("^").strip(" ") for group in value.split("=")]
    return "=".join(groups).rstrip("=").casefold()


def _wildcard_matcher(vr: str, key: str) -> Matcher | None:
    """C.2.2.2.4 Wild Card Matching: "*" any sequence of characters (also none), "?"
    exactly one character; case-sensitive except PN. "*" alone is Universal Matching.
    Every other character is literal: DICOM has no escape character."""
    if set(key) == {"*"}:
        return None
    glob = _glob(key, ignore_case=vr == "PN")
    person_name = vr == "PN"
    groups = person_name and "=" not in key
    split = vr not in _UNSPLIT_VRS

    def matches(stored: str | None) -> bool:
        for value in _values(stored, split):
            forms = [value]
            if person_name:
                forms.append(value.rstrip("=^ "))
                if groups and "=" in value:
                    forms.extend(group.strip(" ").rstrip("^ ") for group in value.split("="))
            if any(glob(form) for form in forms):
                return True
        return False

    return matches


def _glob(key: str, *, ignore_case: bool) -> Callable[[str], bool]:
    """A predicate: does the whole value match ``key``, "*" and "?" being wild cards?

    The key is cut at each "*" into segments of literal characters and "?", each
    compiled alone: with no repetition in it, a segment matches exactly as many
    characters as it has, and a search for it tries each start once. The first segment
    must match at the start, the last at the end, and each middle one is taken at its
    leftmost place after the one before (the leftmost leaves the most room for those
    after it, so no other choice can succeed where it fails). Hence no backtracking:
    each segment of length k is searched for once, in at most len(value) * k steps, so
    a value is matched in O(len(value) * len(key)) at worst, whatever the key, where
    a regular expression of ".*" would backtrack exponentially in the number of "*".
    """
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    segments = [re.compile("".join("." if ch == "?" else re.escape(ch) for ch in part),
                           flags) for part in key.split("*")]
    lengths = [len(part) for part in key.split("*")]
    if len(segments) == 1:
        only = segments[0]
        return lambda value: only.fullmatch(value) is not None
    first, *middle, last = segments
    first_length, last_length = lengths[0], lengths[-1]
    middle = [segment for segment, length in zip(middle, lengths[1:-1], strict=True)
              if length]

    def matches(value: str) -> bool:
        if first.match(value) is None:
            return False
        position = first_length
        for segment in middle:
            found = segment.search(value, position)
            if found is None:
                return False
            position = found.end()
        start = len(value) - last_length
        return start >= position and last.fullmatch(value, start) is not None

    return matches


# -- Range Matching (C.2.2.2.5) -------------------------------------------------------

#: A moment: (count of the VR's unit, offset from UTC in minutes or None).
_Moment = tuple[int, int | None]
#: A parsed value: its first and its last moment (a partial value spans its precision).
_Span = tuple[_Moment, _Moment]

_DA = re.compile(r"(\d{4})(\d{2})(\d{2})")
_DA_LEGACY = re.compile(r"(\d{4})\.(\d{2})\.(\d{2})")  # ACR-NEMA; stored values only
_TM = re.compile(r"(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,6}))?)?)?")
_DT = re.compile(r"(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})"
                 r"(?:\.(\d{1,6}))?)?)?)?)?)?([+-]\d{4})?")
_MICROS_PER_DAY = 86_400_000_000


def _parse_da(text: str, *, stored: bool = False) -> _Span | None:
    match = _DA.fullmatch(text) or (_DA_LEGACY.fullmatch(text) if stored else None)
    if match is None:
        return None
    try:
        day = datetime.date(*(int(group) for group in match.groups())).toordinal()
    except ValueError:
        return None
    return (day, None), (day, None)


def _time_span(hour: str, minute: str | None, second: str | None,
               fraction: str | None) -> tuple[int, int] | None:
    """(first, last) microsecond of the day a TM value covers, or None if invalid."""
    hh, mm, ss = int(hour), int(minute or 0), int(second or 0)
    if hh > 23 or mm > 59 or ss > 60:  # 60: a leap second (PS3.5 6.2 TM)
        return None
    first = ((hh * 60 + mm) * 60 + ss) * 1_000_000
    if fraction is not None:
        first += int(fraction.ljust(6, "0"))
        unit = 10 ** (6 - len(fraction))
    elif second is not None:
        unit = 1_000_000
    elif minute is not None:
        unit = 60_000_000
    else:
        unit = 3_600_000_000
    return first, first + unit - 1


def _parse_tm(text: str, *, stored: bool = False) -> _Span | None:
    if stored and ":" in text:
        text = text.replace(":", "")  # ACR-NEMA HH:MM:SS; stored values only
    match = _TM.fullmatch(text)
    if match is None:
        return None
    span = _time_span(*match.groups())
    if span is None:
        return None
    return (span[0], None), (span[1], None)


def _parse_dt(text: str, *, stored: bool = False) -> _Span | None:
    del stored  # DT has no legacy form
    match = _DT.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    offset = None
    if zone is not None:
        zh, zm = int(zone[1:3]), int(zone[3:5])
        if zh > 14 or zm > 59:
            return None
        offset = (zh * 60 + zm) * (-1 if zone[0] == "-" else 1)
    try:
        y = int(year)
        m_first, m_last = (int(month), int(month)) if month else (1, 12)
        d_first = int(day) if day else 1
        d_last = int(day) if day else calendar.monthrange(y, m_last)[1]
        first_day = datetime.date(y, m_first, d_first).toordinal()
        last_day = datetime.date(y, m_last, d_last).toordinal()
    except ValueError:
        return None
    if hour is None:
        in_day = (0, _MICROS_PER_DAY - 1)
    else:
        span = _time_span(hour, minute, second, fraction)
        if span is None:
            return None
        in_day = span
    return ((first_day * _MICROS_PER_DAY + in_day[0], offset),
            (last_day * _MICROS_PER_DAY + in_day[1], offset))


_PARSERS: dict[str, Callable[..., _Span | None]] = {
    "DA": _parse_da, "TM": _parse_tm, "DT": _parse_dt}


def _compare(a: _Moment, b: _Moment) -> int:
    """-1, 0 or 1. Offsets from UTC count when both moments have one (C.2.2.2.5: "the
    offset from Universal Coordinated Time, if present ..., shall be taken into
    account"); otherwise both are taken as local times."""
    x, y = a[0], b[0]
    if a[1] is not None and b[1] is not None:
        x, y = x - a[1] * 60_000_000, y - b[1] * 60_000_000
    return (x > y) - (x < y)


def _range_ends(vr: str, key: str) -> tuple[_Span | None, _Span | None]:
    """The two ends of a range key, split at its one range "-". A DT end may carry a
    "-" offset from UTC, so each "-" is tried; a split whose two ends are valid and in
    order is the range."""
    parse = _PARSERS[vr]
    found: list[tuple[_Span | None, _Span | None]] = []
    for index, ch in enumerate(key):
        if ch != "-":
            continue
        low_text, high_text = key[:index].strip(" "), key[index + 1:].strip(" ")
        low = parse(low_text) if low_text else None
        high = parse(high_text) if high_text else None
        if (low_text and low is None) or (high_text and high is None):
            continue
        if low is not None and high is not None and _compare(low[0], high[0]) > 0:
            continue  # "<date1> is less or equal to <date2>" (C.2.2.2.5)
        found.append((low, high))
    if not found:
        raise MatchError(f"not a {vr} range: each end must be a valid {vr} value, the "
                         "first not after the second (PS3.4 C.2.2.2.5)")
    return found[0]


def _range_matcher(vr: str, key: str) -> Matcher | None:
    """C.2.2.2.5 Range Matching: "<a>-<b>" matches a to b inclusive, "-<b>" up to and
    including b, "<a>-" a and after. A lone "-" has no end: it matches everything.
    A DT key that is one value with a negative offset ("20060705120000-0500") is
    Single Value Matching of that literal."""
    if key == "-":
        return None
    if vr == "DT" and _parse_dt(key) is not None:
        try:
            low, high = _range_ends(vr, key)
        except MatchError:
            return _single_value_matcher(vr, key)
    else:
        low, high = _range_ends(vr, key)
    parse = _PARSERS[vr]

    def matches(stored: str | None) -> bool:
        for value in _values(stored):
            span = parse(value, stored=True) if value else None
            if span is None:
                continue
            point = span[0]
            if low is not None and _compare(point, low[0]) < 0:
                continue
            if high is not None and _compare(point, high[1]) > 0:
                continue
            return True
        return False

    return matches


# -- identifiers ---------------------------------------------------------------------


def _is_key(tag: BaseTag) -> bool:
    return int(tag) not in _NOT_KEYS and tag.element != 0  # (gggg,0000): group length


def _vr_of(element: DataElement) -> str:
    vr = str(element.VR)
    if vr == "UN" or " or " in vr:
        try:
            vr = dictionary_VR(element.tag)
        except KeyError:
            return vr
    return vr.split(" or ")[0]


def _text(value: object) -> str:
    """An element value as the text a key or stored value is matched as."""
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("latin-1")
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(_text(item) for item in value)
    return str(value)


def _sequence_key(element: DataElement) -> Dataset | None:
    """The one item of a sequence key, or None when the key is universal: no item, an
    empty item (C.2.2.2.6), or an item whose keys are all universal."""
    items = list(element.value or [])
    if not items:
        return None
    if len(items) > 1:
        raise MatchError("a sequence key has a single item (PS3.4 C.2.2.2.6)")
    item: Dataset = items[0]
    return item if len(item) else None


def identifier_matches(query: Dataset, candidate: Dataset, *,
                       empty_value_matching: bool = False) -> bool:
    """Whether ``candidate`` matches every key of the identifier ``query``.

    Query/Retrieve Level, Specific Character Set and group lengths are not keys.
    Raises :class:`MatchError` for a key that cannot be valid.
    """
    for element in query:
        if not _is_key(element.tag):
            continue
        if element.VR == "SQ":
            item = _sequence_key(element)
            if item is None or _all_universal(item, empty_value_matching):
                continue
            stored = candidate.get(element.tag)
            if stored is None or stored.VR != "SQ" or not any(
                    identifier_matches(item, stored_item,
                                       empty_value_matching=empty_value_matching)
                    for stored_item in stored.value):
                return False  # C.2.2.2.6: all item keys match in at least one item
            continue
        matcher = key_matcher(_vr_of(element), _text(element.value),
                              empty_value_matching=empty_value_matching)
        if matcher is None:
            continue
        stored = candidate.get(element.tag)
        if not matcher(None if stored is None or stored.VR == "SQ" else _text(stored.value)):
            return False
    return True


def _all_universal(item: Dataset, empty_value_matching: bool) -> bool:
    """Whether every key of a sequence item matches everything (C.2.2.2.3: such keys
    only ask for values; the entity need not have any item for them)."""
    for element in item:
        if not _is_key(element.tag):
            continue
        if element.VR == "SQ":
            inner = _sequence_key(element)
            if inner is not None and not _all_universal(inner, empty_value_matching):
                return False
        elif key_matcher(_vr_of(element), _text(element.value),
                         empty_value_matching=empty_value_matching) is not None:
            return False
    return True


def return_identifier(query: Dataset, candidate: Dataset, *,
                      empty_value_matching: bool = False) -> Dataset:
    """The response identifier for ``candidate``: every key of ``query`` with the
    candidate's value, zero-length when the candidate has none (C.2.2.1.2); the
    Query/Retrieve Level of the query; the Specific Character Set of the candidate.

    A sequence key returns the candidate's items that match the key's item, each with
    only the attributes the key's item asks for (C.2.2.2.6: "a sequence of matching
    Items containing only the requested Attributes"); a sequence key with no item or
    an empty item returns the candidate's whole sequence (C.2.2.2.6: "the entire
    Sequence of Items").
    """
    result = _restricted(query, candidate, empty_value_matching)
    if _QUERY_RETRIEVE_LEVEL in query:
        result.add(copy.deepcopy(query[_QUERY_RETRIEVE_LEVEL]))
    if _SPECIFIC_CHARACTER_SET in candidate:
        result.add(copy.deepcopy(candidate[_SPECIFIC_CHARACTER_SET]))
    return result


def _restricted(keys: Dataset, candidate: Dataset, empty_value_matching: bool) -> Dataset:
    result = Dataset()
    for element in keys:
        if not _is_key(element.tag):
            continue
        stored = candidate.get(element.tag)
        if element.VR == "SQ":
            items = _items(element, stored, empty_value_matching)
            result.add(DataElement(element.tag, "SQ", items))
        elif stored is None or stored.VR == "SQ":
            result.add(DataElement(element.tag, _vr_of(element), None))
        else:
            result.add(copy.deepcopy(stored))
    return result


def _items(key: DataElement, stored: DataElement | None,
           empty_value_matching: bool) -> Sequence:
    if stored is None or stored.VR != "SQ":
        return Sequence([])
    stored_items: Iterable[Dataset] = stored.value
    item = _sequence_key(key)
    if item is None:
        return Sequence([copy.deepcopy(stored_item) for stored_item in stored_items])
    return Sequence([_restricted(item, stored_item, empty_value_matching)
                     for stored_item in stored_items
                     if identifier_matches(item, stored_item,
                                           empty_value_matching=empty_value_matching)])
