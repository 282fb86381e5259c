"""C-FIND keys as SQL conditions, with exactly the matching rules of
:mod:`~dicomnet.archive.matching` (PS3.4 C.2.2.2).

Matching a large index in Python costs a data set per row; in SQL the rows that do
not match never leave SQLite. Each key becomes one condition on its column:

* List of UID Matching is ``IN``, Single Value Matching ``=`` (PN: of the lower-cased
  value, case-insensitive as matching.py decides), Wild Card Matching ``GLOB`` with
  SQLite's metacharacter "[" escaped (DICOM has no escape character: every other
  character is literal), Range Matching of DA a string comparison of YYYYMMDD.
* Those translations hold for *plain* stored values only: no padding, no backslash
  (several values), for PN nothing but printable ASCII without "=" (component
  groups) or trailing "^", for DA a valid date of eight digits. Every condition is
  ``CASE WHEN <plain> THEN <native> ELSE dn_match(...) END``: any other stored value
  goes to ``dn_match``, an SQL function that runs matching.py's own matcher on it, so
  the result is matching.py's for every value by construction.
* What SQL cannot say as well (TM and DT ranges with their precision rules, PN keys
  that are not ASCII, keys with more "*" than :data:`MAX_GLOB_STARS`) is ``dn_match``
  for every row: still inside SQLite, a cached matcher per key, no data set.

SQLite's GLOB backtracks on "*": each "*" may retry every later position, so a key of
many "*" costs a power of the value's length. Runs of "*" are collapsed (the same
pattern) and keys with more than a few are matched by matching.py's linear matcher.

PostgreSQL cannot call Python (:data:`~dicomnet.archive.database.POSTGRESQL`): there,
wherever SQLite would call ``dn_match`` the condition is TRUE, so the statement keeps a
superset of the matches, and :mod:`~dicomnet.archive.find_sql` runs matching.py's
matcher on each row returned. The native conditions are the same with PostgreSQL's
words (LIKE with an escape character for GLOB, ``strpos`` for ``instr``, a regular
expression for the printable-ASCII test), on ``COLLATE "C"`` columns: bytewise, as
SQLite compares. Its "plain" DA is narrower (days after the 28th go to Python): it
need only never keep a value out that matching.py would let in.
"""

from __future__ import annotations

import datetime
import sqlite3

from dicomnet.archive.database import SQLITE, Dialect
from dicomnet.archive.matching import (
    _UNSPLIT_VRS,
    RANGE_VRS,
    WILDCARD_VRS,
    _person_name,
    _range_ends,
    _strip,
    key_matcher,
)

__all__ = ["MAX_GLOB_STARS", "MAX_OR_VALUES", "MAX_SQL_VALUES", "Condition", "as_pydicom",
           "key_condition", "register"]

#: "*" a GLOB pattern may hold; a key with more is matched by the linear matcher.
MAX_GLOB_STARS = 4
#: UIDs of a list a condition binds with IN; a longer list is matched by the
#: function (a set look-up): SQLite limits the variables of a statement.
MAX_SQL_VALUES = 500
#: Values of a multi-valued key OR-ed in SQL; more go to the function: each adds a
#: level to the expression tree, whose depth SQLite limits (1000).
MAX_OR_VALUES = 16
#: (SQL text, its parameters); None for Universal Matching.
Condition = tuple[str, list[str]]


def as_pydicom(vr: str, text: str) -> str:
    """A stored value as the Python path sees it once pydicom holds it: each value of
    a UI, IS or DS stripped of white space (UID, IS and DS objects), of a PN of its
    trailing "=" (empty component groups, PS3.5 6.2.1). Matching and the identifiers
    use that text, as they did when every row was a pydicom data set."""
    if vr in _STRIPPED_VRS:
        return "\\".join(part.strip() for part in text.split("\\")) if "\\" in text \
            else text.strip()
    if vr == "PN" and "=" in text:
        return "\\".join(part.rstrip("=") for part in text.split("\\"))
    return text


_STRIPPED_VRS = frozenset({"UI", "IS", "DS"})


def _dn_match(vr: str, key: str, stored: str | None) -> int:
    matcher = key_matcher(vr, key)
    if matcher is None:
        return 1
    return 1 if matcher(None if stored is None else as_pydicom(vr.upper(), stored)) else 0


def register(db: sqlite3.Connection) -> None:
    """Give ``db`` the ``dn_match(vr, key, stored)`` function the conditions use: once,
    when the connection is made. SQLite refuses to replace a function while any
    statement of the connection is still active (a cursor not read to its end)."""
    db.create_function("dn_match", 3, _dn_match, deterministic=True)


def _glob(key: str) -> str:
    """A GLOB pattern for a wild card key: "[" is SQLite's only other metacharacter
    (a lone "]" is literal); runs of "*" are one "*" (the same matches)."""
    while "**" in key:
        key = key.replace("**", "*")
    return key.replace("[", "[[]")


def _no_padding(column: str, dialect: Dialect) -> str:
    if dialect.python_in_sql:
        # A NUL anywhere goes to dn_match: SQLite's trim(), GLOB and length() stop at one.
        return f"instr({column}, char(0)) = 0 AND {column} = trim({column}, ' ')"
    return f"{column} = btrim({column}, ' ')"  # PostgreSQL's text holds no NUL


def _plain(vr: str, column: str, dialect: Dialect = SQLITE) -> str:
    """SQL: the stored value is one the native condition handles as matching.py does."""
    sqlite = dialect.python_in_sql
    position = "instr" if sqlite else "strpos"
    parts = [_no_padding(column, dialect)]
    if vr not in _UNSPLIT_VRS:
        parts.append(f"{position}({column}, '\\') = 0")
    if vr == "PN" or vr in _STRIPPED_VRS:
        # Printable ASCII: no other white space (as_pydicom strips it), nothing that
        # lower() and casefold() would fold differently.
        parts.append(f"{column} NOT GLOB '*[^ -~]*'" if sqlite else f"{column} !~ '[^ -~]'")
    if vr == "PN":
        parts += [f"{position}({column}, '=') = 0",
                  f"{column} NOT GLOB '*^'" if sqlite else f"{column} NOT LIKE '%^'"]
    return " AND ".join(parts)


def _date(ordinal: int) -> str:
    day = datetime.date.fromordinal(ordinal)
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


#: SQL: a DA value of eight digits that is a date of the calendar (year 0001 on,
#: as Python's dates, which matching.py parses with).
#: SQLite's date() takes "2023-02-30" as it is; with a modifier it normalises it to
#: another day, so only a real date comes back unchanged.
_DAY = "substr({c}, 1, 4) || '-' || substr({c}, 5, 2) || '-' || substr({c}, 7, 2)"
_VALID_DA = ("({c} GLOB '[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]'"
             " AND substr({c}, 1, 4) <> '0000'"
             f" AND date({_DAY}, '+0 days') = {_DAY})")


#: PostgreSQL: a DA of eight digits, a month and a day up to the 28th: a real date
#: (days after the 28th, which a month may lack, are left to matching.py).
_PLAIN_DA_PG = ("({c} ~ '^[0-9]{{8}}$' AND substr({c}, 1, 4) <> '0000'"
                " AND substr({c}, 5, 2) BETWEEN '01' AND '12'"
                " AND substr({c}, 7, 2) BETWEEN '01' AND '28')")


def _like(key: str) -> str:
    """A LIKE pattern (escape character "!") for a wild card key."""
    while "**" in key:
        key = key.replace("**", "*")
    key = key.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return key.replace("*", "%").replace("?", "_")


def _native(vr: str, key: str, column: str, dialect: Dialect = SQLITE
            ) -> tuple[str, str, list[str]] | None:
    """(plain, native condition, its parameters) for a valid, non-universal key
    (stripped, one value unless UI), or None when only dn_match can say it."""
    sqlite = dialect.python_in_sql
    if "\x00" in key:
        return None  # SQLite's GLOB and lower() stop at a NUL
    if vr == "UI":
        uids = sorted(frozenset(filter(None, (_strip(uid) for uid in key.split("\\")))))
        if len(uids) > MAX_SQL_VALUES:
            return None
        marks = ", ".join("?" * len(uids))
        return _plain(vr, column, dialect), f"{column} IN ({marks})", uids
    if vr in RANGE_VRS and "-" in key:
        if vr != "DA":
            return None
        low, high = _range_ends(vr, key)
        bounds: list[str] = []
        parts: list[str] = []
        if low is not None:
            parts.append(f"{column} >= ?")
            bounds.append(_date(low[0][0]))
        if high is not None:
            parts.append(f"{column} <= ?")
            bounds.append(_date(high[1][0]))
        valid = _VALID_DA if sqlite else _PLAIN_DA_PG
        return valid.format(c=column), " AND ".join(parts), bounds
    if vr in WILDCARD_VRS and ("*" in key or "?" in key):
        pattern = _glob(key)
        if pattern.count("*") > MAX_GLOB_STARS:
            return None
        plain = _plain(vr, column, dialect)
        if not sqlite:
            pattern = _like(key)
        match = "GLOB ?" if sqlite else "LIKE ? ESCAPE '!'"
        if vr == "PN":
            if not key.isascii():
                return None
            return plain, f"lower({column}) {match}", [pattern.lower()]
        return plain, f"{column} {match}", [pattern]
    if vr == "PN":
        return _plain(vr, column, dialect), f"lower({column}) = ?", [_person_name(key)]
    return _plain(vr, column, dialect), f"{column} = ?", [key]


def key_condition(vr: str, value: str, column: str, dialect: Dialect = SQLITE
                  ) -> Condition | None:
    """The condition on ``column`` (an SQL expression of text, never NULL) for the
    key of VR ``vr`` and text ``value``; None for Universal Matching. Without Python
    in SQL (PostgreSQL) the condition keeps every row it cannot decide: the caller
    must still run the key's matcher on the rows it returns.

    Raises :class:`~dicomnet.archive.matching.MatchError` for a key that cannot be
    valid, whatever the index holds."""
    vr = vr.upper()
    value = value or ""
    if key_matcher(vr, value) is None:
        return None
    key = _strip(value)
    if dialect.python_in_sql:
        fallback, fallback_parameters = f"dn_match(?, ?, {column})", [vr, value]
    else:
        fallback, fallback_parameters = "TRUE", []
    if "\\" in key and vr not in _UNSPLIT_VRS and vr != "UI":
        # Any of the values (matching.py _any_of); none of them is universal here.
        parts = [part for part in key.split("\\") if _strip(part)]
        if len(parts) > MAX_OR_VALUES:
            return fallback, fallback_parameters
        conditions = [key_condition(vr, part, column, dialect) for part in parts]
        sql = " OR ".join(f"({c[0]})" for c in conditions if c is not None)
        return f"({sql})", [p for c in conditions if c is not None for p in c[1]]
    native = _native(vr, key, column, dialect)
    if native is None:
        return fallback, fallback_parameters
    plain, condition, parameters = native
    return (f"(CASE WHEN {plain} THEN {condition} ELSE {fallback} END)",
            [*parameters, *fallback_parameters])
