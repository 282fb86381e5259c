"""Error Comment (0000,0902): the reason a failure status gives, made safe to send.

PS3.7 Annex C lets every failure carry an Error Comment, a free text of VR LO: at most
64 characters (PS3.5 Table 6.2-1) of the default repertoire, no control characters
(LO excludes them but ESC). The reasons we give are built from what a peer sent (a
UID, an attribute value) and from exceptions, so they are escaped and cut here, once,
rather than trusted: a comment the command set codec refused would cost the peer its
answer.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from dicomnet.dimse.status import StatusCategory, category, describe

if TYPE_CHECKING:
    from dicomnet.dimse.messages import DIMSEMessage

__all__ = ["MAX_ERROR_COMMENT", "error_comment", "exception_comment", "fallback_comment",
           "with_error_comment"]

#: PS3.5 Table 6.2-1: LO holds at most 64 characters.
MAX_ERROR_COMMENT = 64


def error_comment(text: str) -> str:
    """``text`` as an Error Comment: printable ASCII only, others written ``/xNN``,
    ``/uNNNN`` (not with a backslash, which separates LO values, so a backslash
    becomes ``/`` too), blanks collapsed, cut to 64 characters with ``...`` marking
    the cut."""
    out: list[str] = []
    for char in " ".join(str(text).split()):
        if char == "\\":
            out.append("/")  # PS3.5 §6.2: "\" is the value delimiter, never text
        elif " " <= char <= "~":
            out.append(char)
        else:
            code = ord(char)
            out.append(f"/x{code:02x}" if code < 0x100 else f"/u{code:04x}"
                       if code < 0x10000 else f"/U{code:08x}")
    safe = "".join(out)
    if len(safe) > MAX_ERROR_COMMENT:
        safe = safe[:MAX_ERROR_COMMENT - 3].rstrip() + "..."
    return safe


def exception_comment(exc: BaseException) -> str:
    """A short comment for a handler that raised: the exception's type and the start
    of its message, never a traceback (the log has it, the peer does not need it)."""
    message = str(exc).splitlines()[0] if str(exc) else ""
    return error_comment(f"{type(exc).__name__}: {message}" if message
                         else type(exc).__name__)


def fallback_comment(status: int, service: str | None = None) -> str | None:
    """For a failure sent without a reason: the status's meaning (PS3.7 C, PS3.4), so
    that no failure goes out without an Error Comment; None for other categories."""
    if category(status) != StatusCategory.FAILURE:
        return None
    return error_comment(describe(status, service).split(" ", 1)[1])


#: Command Field of a response -> the service whose status meanings apply (PS3.4).
_SERVICE_OF = {0x8001: "storage", 0x8020: "find", 0x8010: "get", 0x8021: "move",
               0x8030: "verification"}


def with_error_comment(message: DIMSEMessage) -> DIMSEMessage:
    """``message`` as it may go out: a response's Error Comment escaped and cut, and a
    failure response given one (the status's meaning) when it has none; a request is
    returned as it is."""
    status = getattr(message, "status", None)
    if status is None or (status == 0 and message.error_comment is None):  # type: ignore[union-attr]
        return message  # the common case, first
    comment = getattr(message, "error_comment", None)
    if comment:
        safe = error_comment(comment)
        return message if safe == comment else cast(
            "DIMSEMessage", replace(cast(Any, message), error_comment=safe))
    if category(int(status)) != StatusCategory.FAILURE:
        return message
    fallback = fallback_comment(int(status), _SERVICE_OF.get(message.command_field))
    return cast("DIMSEMessage", replace(cast(Any, message), error_comment=fallback))
