"""A failure a service handler raises to answer with a status and its reason.

A handler that returns a failure status says nothing of why; one that raises
:class:`ServiceFailure` gives the Error Comment (0000,0902), and where PS3.7 defines
them the Offending Element (0000,0901) and Error ID (0000,0903), that go with it
(PS3.7 §9.3, §10.3 and Annex C). The DIMSE-N services use its subclass
:class:`~dicomnet.services.normalized.NFailure`; Storage and Verification handlers
raise it directly.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["ServiceFailure"]


class ServiceFailure(Exception):  # noqa: N818 - a response, raised for convenience
    """Answer with a failure (or warning) ``status`` and the optional Error Comment
    (sent escaped and cut to 64 characters, LO), Error ID and Offending Element."""

    def __init__(self, status: int, comment: str | None = None, *,
                 error_id: int | None = None,
                 offending: Iterable[int] | None = None) -> None:
        super().__init__(f"0x{status:04X}" + (f" {comment}" if comment else ""))
        self.status = int(status)
        self.comment = comment
        self.error_id = error_id
        self.offending = tuple(int(tag) for tag in offending) if offending else None
