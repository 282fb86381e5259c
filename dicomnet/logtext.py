"""Peer-supplied text made safe for a log line.

AE titles, usernames, move destinations, certificate subjects and error text quoting
them come from whoever connects. Logged raw, a newline forges a second log record, an
escape sequence repaints the operator's terminal, and ten kilobytes of username flood
the log. :func:`peer_text` shows every character that is not printable as ``\\xNN``
(``\\uNNNN`` beyond Latin-1) and cuts the result, saying how long the original was, so
each log call stays one short line whatever the peer sent.
"""

from __future__ import annotations

__all__ = ["MAX_PEER_TEXT", "peer_text"]

#: Characters of peer text kept in a log line; an AE title is 16, a subject rarely 100.
MAX_PEER_TEXT = 64


def _escape(char: str) -> str:
    if char.isprintable() and char != "\\":
        return char
    code = ord(char)
    if char == "\\":
        return "\\\\"  # so an escape the peer typed cannot pass for one of ours
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 \
        else f"\\U{code:08x}"


def peer_text(value: object, limit: int = MAX_PEER_TEXT) -> str:
    """``value`` (text, bytes or anything with a ``str``) as one printable line:
    non-printable characters (control characters, DEL, line and paragraph separators,
    ...) and backslashes escaped, and anything past the first ``limit`` characters cut,
    with ``...(N chars)`` naming the original length."""
    if isinstance(value, bytes | bytearray | memoryview):
        text = bytes(value).decode("latin-1")
    else:
        text = str(value)
    head = text[:limit]  # a 10 MB value costs no more than a short one
    if not (head.isprintable() and "\\" not in head):
        head = "".join(_escape(char) for char in head)
    return head if len(text) <= limit else f"{head}...({len(text)} chars)"
