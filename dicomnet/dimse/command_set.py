"""The command set codec: group 0000 in Implicit VR Little Endian (PS3.7 §6.3.1, Annex E).

dicomnet encodes and decodes command sets itself, not through pydicom: they are small,
fixed in form, and on the path of every message, so a direct codec is both faster and
stricter. Decoding accepts what the standard allows (unknown or retired group 0000
elements are skipped) and what deployed peers send harmlessly (elements of other groups:
skipped with a warning), and refuses everything else with :class:`DIMSEError`, whatever
the bytes.
"""

from __future__ import annotations

import logging
import struct
from typing import Any

from dicomnet.dimse.messages import MESSAGE_TYPES, DIMSEMessage, message_fields
from dicomnet.errors import DIMSEError

__all__ = ["decode_command", "encode_command"]

log = logging.getLogger("dicomnet.dimse")

_COMMAND_GROUP_LENGTH = 0x00000000
_COMMAND_FIELD = 0x00000100
_COMMAND_DATA_SET_TYPE = 0x00000800
#: PS3.7 E.1-1: 0101H means "no data set"; any other value means a data set follows.
#: 0001H is what DCMTK and pynetdicom send when there is one.
NO_DATASET = 0x0101
DATASET_PRESENT = 0x0001

_HEADER = struct.Struct("<HHI")
_US = struct.Struct("<H")
_UL = struct.Struct("<I")
#: Longest sane command set: all elements at their maximum is far below this.
_MAX_COMMAND = 64 * 1024


#: Maximum value lengths of the text VRs of group 0000 (PS3.5 Table 6.2-1).
_MAX_CHARS = {"AE": 16, "UI": 64, "LO": 64}


def _element(tag: int, value: bytes) -> bytes:
    return _HEADER.pack(tag >> 16, tag & 0xFFFF, len(value)) + value


def _encode_value(vr: str, value: Any) -> bytes:
    if vr == "US":
        return _US.pack(value)
    if vr == "AT":
        return b"".join(struct.pack("<HH", tag >> 16, tag & 0xFFFF) for tag in value)
    data = str(value).encode("ascii")
    if len(data) > _MAX_CHARS[vr]:
        # A peer may reject the whole command for one over-long value; better to fail
        # here, where the caller can see which field it was.
        raise ValueError(f"{len(data)} characters, {vr} allows {_MAX_CHARS[vr]}")
    if len(data) % 2:
        # PS3.5 §6.2: UI is padded with NUL, text VRs (AE, LO) with a space.
        data += b"\x00" if vr == "UI" else b" "
    return data


#: Per message class, its command elements in ascending tag order (PS3.7 §6.3.1):
#: (field name, the element's tag as 4 bytes, VR); the Command Field, fixed by the
#: class, is there as its whole element (VR ""), the Command Data Set Type as the name
#: "has_dataset". Built once per class: the encoder runs for every message.
_PLANS: dict[type, tuple[tuple[str, bytes, str], ...]] = {}
_TAG = struct.Struct("<HH")
_WITH_DATASET = _element(_COMMAND_DATA_SET_TYPE, _US.pack(DATASET_PRESENT))
_WITHOUT_DATASET = _element(_COMMAND_DATA_SET_TYPE, _US.pack(NO_DATASET))


def _plan(cls: type[DIMSEMessage]) -> tuple[tuple[str, bytes, str], ...]:
    entries = [(_COMMAND_FIELD, "", _element(_COMMAND_FIELD, _US.pack(cls.command_field)), ""),
               (_COMMAND_DATA_SET_TYPE, "has_dataset", b"", "")]
    entries += [(tag, name, _TAG.pack(tag >> 16, tag & 0xFFFF), vr)
                for name, tag, vr, _required in message_fields(cls)]
    entries.sort(key=lambda entry: entry[0])
    plan = tuple((name, prefix, vr) for _tag, name, prefix, vr in entries)
    _PLANS[cls] = plan
    return plan


def encode_command(message: DIMSEMessage) -> bytes:
    """The command set of ``message``: Command Group Length first, then the elements in
    ascending tag order (PS3.7 §6.3.1)."""
    cls = type(message)
    plan = _PLANS.get(cls) or _plan(cls)
    parts: list[bytes] = []
    name = ""
    try:
        for name, prefix, vr in plan:
            if not vr:
                if name:  # Command Data Set Type (PS3.7 E.1-1)
                    parts.append(_WITH_DATASET if message.has_dataset else _WITHOUT_DATASET)
                else:  # Command Field
                    parts.append(prefix)
                continue
            value = getattr(message, name)
            if value is None:
                continue
            data = _US.pack(value) if vr == "US" else _encode_value(vr, value)
            parts.append(prefix + _UL.pack(len(data)) + data)
    except (ValueError, struct.error) as exc:  # UnicodeEncodeError included
        raise DIMSEError(f"{cls.__name__}.{name}: cannot encode "
                         f"{getattr(message, name)!r} as {vr} ({exc})") from exc
    body = b"".join(parts)
    return _element(_COMMAND_GROUP_LENGTH, _UL.pack(len(body))) + body


def _decode_value(vr: str, raw: bytes, name: str) -> Any:
    if vr == "US":
        if len(raw) != 2:
            raise DIMSEError(f"{name}: US value of {len(raw)} bytes, expected 2")
        return _US.unpack(raw)[0]
    if vr == "AT":
        if len(raw) % 4:
            raise DIMSEError(f"{name}: AT value of {len(raw)} bytes is not a multiple of 4")
        return tuple((group << 16) | element
                     for group, element in struct.iter_unpack("<HH", raw))
    # PS3.5 §7.1.1 wants even Value Lengths, and we always send them; an unpadded
    # value from a sloppy peer is still understood: refusing it would abort the
    # association over one missing pad byte.
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise DIMSEError(f"{name}: {vr} value is not ASCII") from None
    return text.rstrip("\x00 ").lstrip(" ") if vr != "UI" else text.rstrip("\x00 ")


def decode_command(data: bytes | bytearray | memoryview) -> DIMSEMessage:
    """Decode a complete command set; raises :class:`DIMSEError` for anything malformed."""
    raw = bytes(data)
    if len(raw) > _MAX_COMMAND:
        raise DIMSEError(f"command set of {len(raw)} bytes is implausibly large")
    values: dict[int, bytes] = {}
    foreign: list[int] = []
    offset = 0
    end = len(raw)
    while offset < end:
        if end - offset < 8:
            raise DIMSEError(f"command element header truncated at offset {offset}")
        group, element, length = _HEADER.unpack_from(raw, offset)
        offset += 8
        if length > end - offset:
            raise DIMSEError(f"element ({group:04X},{element:04X}) length {length} runs "
                             "past the end of the command set")
        if group != 0x0000:
            # PS3.7 §6.3.1: a command set holds group 0000 only. Orthanc puts Failed SOP
            # Instance UID List (0008,0058) into its C-GET failure responses' command
            # set; DCMTK's getscu reads past such elements, and so do we: nothing in
            # them changes what the command means.
            foreign.append((group << 16) | element)
        else:
            values[element] = raw[offset:offset + length]
        offset += length
    group_length = values.get(_COMMAND_GROUP_LENGTH)
    if group_length is not None and len(group_length) != 4:
        # Optional on reading, and its value is not needed (the last-fragment flag
        # ends the command, PS3.8 Annex E.2), but it is a UL: 4 bytes (PS3.7 E.1-1).
        raise DIMSEError(f"Command Group Length: UL value of {len(group_length)} bytes, "
                         "expected 4")
    if _COMMAND_FIELD not in values:
        raise DIMSEError("command set without Command Field (0000,0100)")
    command_field = _decode_value("US", values[_COMMAND_FIELD], "Command Field")
    cls = MESSAGE_TYPES.get(command_field)
    if cls is None:
        raise DIMSEError(f"unknown Command Field 0x{command_field:04X}")
    if foreign:
        shown = ", ".join(f"({tag >> 16:04X},{tag & 0xFFFF:04X})" for tag in foreign[:8])
        more = f" and {len(foreign) - 8} more" if len(foreign) > 8 else ""
        log.warning("%s command set carries %s%s outside group 0000 (PS3.7 §6.3.1); "
                    "ignored", cls.__name__, shown, more)
    dataset_type = values.get(_COMMAND_DATA_SET_TYPE)
    if dataset_type is None:
        raise DIMSEError("command set without Command Data Set Type (0000,0800)")
    has_dataset = _decode_value("US", dataset_type, "Command Data Set Type") != NO_DATASET
    kwargs: dict[str, Any] = {"has_dataset": has_dataset}
    for name, tag, vr, required in message_fields(cls):
        value = values.get(tag)
        if value is None:
            if required:
                raise DIMSEError(f"{cls.__name__} without {name} (0000,{tag:04X})")
            continue
        if vr == "US" and len(value) == 2:  # the most common case, without a call
            kwargs[name] = value[0] | value[1] << 8
        else:
            kwargs[name] = _decode_value(vr, value, name)
    return cls(**kwargs)
