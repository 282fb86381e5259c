"""UIDs dicomnet needs by name, taken from pydicom's UID dictionary (not hand-written).

PS3.6 Annex A lists them; pydicom ships that table, so a SOP class added to the standard
reaches dicomnet with a pydicom upgrade.
"""

from __future__ import annotations

from functools import cache

#: PS3.4 Annex A: Verification SOP Class.
VERIFICATION = "1.2.840.10008.1.1"

# PS3.5 Annex A / PS3.6 Annex A. Written out (not read from pydicom) so that importing
# dicomnet does not import pydicom: a CLI command that streams files never needs it.
IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2"
DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1.99"

#: What dicomnet proposes and accepts when nothing else is said, in order of preference.
#: Implicit VR Little Endian is the DICOM default every implementation supports
#: (PS3.5 §10.1); Explicit VR Little Endian keeps VRs and is what most peers prefer.
DEFAULT_TRANSFER_SYNTAXES: tuple[str, ...] = (
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
)

#: The transfer syntaxes dicomnet can convert between without a codec.
UNCOMPRESSED_TRANSFER_SYNTAXES: tuple[str, ...] = (
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    EXPLICIT_VR_BIG_ENDIAN,
)


def uid_name(uid: str) -> str:
    """The standard's name for a UID, or the UID itself if pydicom does not know it."""
    from pydicom.uid import UID

    name = UID(uid).name
    return name if name else uid


@cache
def storage_sop_classes() -> tuple[str, ...]:
    """Every Storage SOP Class pydicom knows (PS3.4 Annex B, PS3.6 Annex A), retired
    ones included: an archive keeps whatever old modalities send."""
    from pydicom._uid_dict import UID_dictionary

    not_storage = ("Storage Commitment", "Media Storage Directory")
    return tuple(
        uid for uid, (name, kind, *_rest) in UID_dictionary.items()
        if kind == "SOP Class" and "Storage" in name
        and not any(name.startswith(prefix) for prefix in not_storage)
    )


@cache
def archive_transfer_syntaxes() -> tuple[str, ...]:
    """Transfer syntaxes an archive accepts for storage: uncompressed first, then every
    compressed syntax pydicom knows (an archive files data sets as they come and never
    needs a codec to do so)."""
    from pydicom.uid import AllTransferSyntaxes

    rest = [str(ts) for ts in AllTransferSyntaxes
            if str(ts) not in UNCOMPRESSED_TRANSFER_SYNTAXES
            and str(ts) != DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN]
    return (*UNCOMPRESSED_TRANSFER_SYNTAXES, DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN, *rest)

