"""DIMSE status codes: their category and what they mean (PS3.7 Annex C, PS3.4).

The category decides what a requestor does next (pending: wait for more; cancel,
failure, warning, success: the operation is over), so it is computed from the rules of
PS3.7 Annex C rather than from a closed list: a code this table does not name still
gets the right category.
"""

from __future__ import annotations

from enum import Enum, IntEnum

__all__ = ["SERVICES", "Status", "StatusCategory", "category", "describe"]


class StatusCategory(Enum):
    SUCCESS = "Success"
    WARNING = "Warning"
    FAILURE = "Failure"
    CANCEL = "Cancel"
    PENDING = "Pending"


class Status(IntEnum):
    """Named status codes: the general ones (PS3.7 C) and common service ones (PS3.4).

    Some services give one code different meanings (B000 is "coercion of data elements"
    in Storage and "sub-operations complete, one or more failures" in Query/Retrieve);
    the second name is an alias of the same value, and :func:`describe` picks the
    meaning by service.
    """

    SUCCESS = 0x0000
    CANCEL = 0xFE00
    PENDING = 0xFF00
    PENDING_WARNING = 0xFF01
    # PS3.7 C.4 failures and warnings of the general (mostly DIMSE-N) statuses
    REQUESTED_OPTIONAL_ATTRIBUTES_NOT_SUPPORTED = 0x0001
    NO_SUCH_ATTRIBUTE = 0x0105
    INVALID_ATTRIBUTE_VALUE = 0x0106
    ATTRIBUTE_LIST_ERROR = 0x0107
    PROCESSING_FAILURE = 0x0110
    DUPLICATE_SOP_INSTANCE = 0x0111
    NO_SUCH_SOP_INSTANCE = 0x0112
    NO_SUCH_EVENT_TYPE = 0x0113
    NO_SUCH_ARGUMENT = 0x0114
    INVALID_ARGUMENT_VALUE = 0x0115
    ATTRIBUTE_VALUE_OUT_OF_RANGE = 0x0116
    INVALID_OBJECT_INSTANCE = 0x0117
    NO_SUCH_SOP_CLASS = 0x0118
    CLASS_INSTANCE_CONFLICT = 0x0119
    MISSING_ATTRIBUTE = 0x0120
    MISSING_ATTRIBUTE_VALUE = 0x0121
    SOP_CLASS_NOT_SUPPORTED = 0x0122
    NO_SUCH_ACTION = 0x0123
    NOT_AUTHORIZED = 0x0124
    DUPLICATE_INVOCATION = 0x0210
    UNRECOGNIZED_OPERATION = 0x0211
    MISTYPED_ARGUMENT = 0x0212
    RESOURCE_LIMITATION = 0x0213
    # PS3.4 service-specific codes
    OUT_OF_RESOURCES = 0xA700
    UNABLE_TO_CALCULATE_MATCHES = 0xA701
    UNABLE_TO_PERFORM_SUBOPERATIONS = 0xA702
    MOVE_DESTINATION_UNKNOWN = 0xA801
    DATA_SET_DOES_NOT_MATCH_SOP_CLASS = 0xA900
    CANNOT_UNDERSTAND = 0xC000
    COERCION_OF_DATA_ELEMENTS = 0xB000
    SUBOPERATIONS_COMPLETE_WITH_FAILURES = 0xB000
    ELEMENTS_DISCARDED = 0xB006
    DATA_SET_MISMATCH_WARNING = 0xB007


#: PS3.7 Annex C: these 01xx codes are warnings, every other 01xx/02xx a failure.
_WARNINGS = frozenset({0x0001, 0x0107, 0x0116})


def category(code: int) -> StatusCategory:
    """The category of a status code by the rules of PS3.7 Annex C."""
    if code == 0x0000:
        return StatusCategory.SUCCESS
    if code == 0xFE00:
        return StatusCategory.CANCEL
    if code in (0xFF00, 0xFF01):
        return StatusCategory.PENDING
    if code in _WARNINGS or 0xB000 <= code <= 0xBFFF:
        return StatusCategory.WARNING
    return StatusCategory.FAILURE


_GENERAL: dict[int, str] = {
    0x0000: "Success",
    0xFE00: "Cancel",
    0xFF00: "Pending",
    0xFF01: "Pending: warning",
    0x0001: "Warning: Requested optional Attributes are not supported",
    0x0105: "Failure: No such attribute",
    0x0106: "Failure: Invalid attribute value",
    0x0107: "Warning: Attribute list error",
    0x0110: "Failure: Processing failure",
    0x0111: "Failure: Duplicate SOP Instance",
    0x0112: "Failure: No such SOP Instance",
    0x0113: "Failure: No such event type",
    0x0114: "Failure: No such argument",
    0x0115: "Failure: Invalid argument value",
    0x0116: "Warning: Attribute Value out of range",
    0x0117: "Failure: Invalid object instance",
    0x0118: "Failure: No such SOP Class",
    0x0119: "Failure: Class-Instance conflict",
    0x0120: "Failure: Missing attribute",
    0x0121: "Failure: Missing attribute value",
    0x0122: "Refused: SOP Class not supported",
    0x0123: "Failure: No such action",
    0x0124: "Refused: Not authorized",
    0x0210: "Failure: Duplicate invocation",
    0x0211: "Failure: Unrecognized operation",
    0x0212: "Failure: Mistyped argument",
    0x0213: "Failure: Resource limitation",
}

# PS3.4 B.2.3 (Storage), C.4.1.1.4 (C-FIND), C.4.2.1.5 (C-MOVE), C.4.3.1.4 (C-GET),
# K.4.1.1.4 (Modality Worklist C-FIND), F.7.2.2.4 (MPPS); Verification (A) and Storage
# Commitment (J.3) use only the general codes of PS3.7 C.
# A key (low, high) stands for the whole range of codes.
_FIND: dict[int | tuple[int, int], str] = {
    0xA700: "Refused: Out of Resources",
    0xA900: "Failed: Identifier does not match SOP Class",
    (0xC000, 0xCFFF): "Failed: Unable to process",
    0xFE00: "Cancel: Matching terminated due to Cancel request",
    0xFF00: "Pending: Matches are continuing",
    0xFF01: "Pending: Matches are continuing, optional keys not supported",
}

_SERVICE: dict[str, dict[int | tuple[int, int], str]] = {
    "verification": {},
    "commitment": {},
    "mpps": {
        # PS3.4 F.7.2.2.4, Table F.7.2-2: an N-SET of a step already COMPLETED or
        # DISCONTINUED fails with 0110 and Error ID A710.
        0x0110: "Failure: Processing failure (Performed Procedure Step Object may no "
                "longer be updated)",
    },
    "find": _FIND,
    "worklist": _FIND,
    "storage": {
        (0xA700, 0xA7FF): "Refused: Out of Resources",
        (0xA900, 0xA9FF): "Error: Data Set does not match SOP Class",
        (0xC000, 0xCFFF): "Error: Cannot understand",
        0xB000: "Warning: Coercion of Data Elements",
        0xB007: "Warning: Data Set does not match SOP Class",
        0xB006: "Warning: Elements Discarded",
    },
    "move": {
        0xA701: "Refused: Out of Resources - Unable to calculate number of matches",
        0xA702: "Refused: Out of Resources - Unable to perform sub-operations",
        0xA801: "Refused: Move Destination unknown",
        0xA900: "Failed: Identifier does not match SOP Class",
        (0xC000, 0xCFFF): "Failed: Unable to process",
        0xFE00: "Cancel: Sub-operations terminated due to Cancel indication",
        0xB000: "Warning: Sub-operations complete, one or more failures",
        0xFF00: "Pending: Sub-operations are continuing",
    },
    "get": {
        0xA701: "Refused: Out of Resources - Unable to calculate number of matches",
        0xA702: "Refused: Out of Resources - Unable to perform sub-operations",
        0xA900: "Failed: Identifier does not match SOP Class",
        (0xC000, 0xCFFF): "Failed: Unable to process",
        0xFE00: "Cancel: Sub-operations terminated due to Cancel indication",
        0xB000: "Warning: Sub-operations complete, one or more failures or warnings",
        0xFF00: "Pending: Sub-operations are continuing",
    },
}


#: The ``service`` names :func:`describe` knows.
SERVICES = frozenset(_SERVICE)


def describe(code: int, service: str | None = None) -> str:
    """``"0xA700 Refused: Out of Resources"``: the code and its meaning, service-specific
    meanings (PS3.4) first, then the general ones (PS3.7 C), then the category.

    ``service`` is one of :data:`SERVICES` or None; describing must never fail (it runs
    while reporting errors), so an unknown service name counts as None.
    """
    table = _SERVICE.get(service or "", {})
    text = table.get(code)
    if text is None:
        for key, meaning in table.items():
            if isinstance(key, tuple) and key[0] <= code <= key[1]:
                text = meaning
                break
    if text is None:
        text = _GENERAL.get(code)
    if text is None:
        text = category(code).value
    return f"0x{code:04X} {text}"
