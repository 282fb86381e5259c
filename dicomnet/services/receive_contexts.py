"""Storage presentation contexts a requestor proposes to *receive* instances (C-GET).

Two rules shape the proposal:

* An acceptor picks ONE transfer syntax per presentation context (PS3.8 §9.3.3.2). A
  context offering every compressed syntax at once therefore makes the peer choose one
  syntax for all the instances of that class, and transcode the rest (Orthanc chose
  Deflated for everything, and could not transcode JPEG 2000). So each compressed syntax
  gets a context of its own, next to one uncompressed context (Explicit/Implicit VR
  Little Endian, Explicit VR Big Endian: converting between those loses nothing): the
  peer then sends each instance in the syntax it holds it in, as DCMTK's storescu
  proposes for sending.
* An association holds at most 128 contexts (odd IDs 1-255, PS3.8 §9.3.2.2), and
  pydicom knows about 200 Storage SOP Classes. The contexts are ranked (classes the
  caller names first, then the classes most studies hold, then every other Storage SOP
  Class, retired ones last) and cut into batches of at most the limit: the first batch
  is what one association proposes; the next ones are for a caller that retrieves again
  for the instances the first left out (see :func:`storage_context_batches`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache

from dicomnet.uids import UNCOMPRESSED_TRANSFER_SYNTAXES, storage_sop_classes

__all__ = [
    "COMPRESSED_SYNTAX_NAMES",
    "DEFAULT_COMPRESSED",
    "LIKELY_STORAGE",
    "compressed_syntax",
    "ranked_storage_classes",
    "receive_contexts",
    "storage_context_batches",
]

#: Short names for the compressed transfer syntaxes (PS3.5 Annex A.4, PS3.6 Annex A), for
#: the command line; a UID works too.
COMPRESSED_SYNTAX_NAMES: dict[str, str] = {
    "deflated": "1.2.840.10008.1.2.1.99",
    "jpeg-baseline": "1.2.840.10008.1.2.4.50",
    "jpeg-extended": "1.2.840.10008.1.2.4.51",
    "jpeg-lossless": "1.2.840.10008.1.2.4.57",
    "jpeg-lossless-sv1": "1.2.840.10008.1.2.4.70",
    "jpeg-ls-lossless": "1.2.840.10008.1.2.4.80",
    "jpeg-ls": "1.2.840.10008.1.2.4.81",
    "j2k-lossless": "1.2.840.10008.1.2.4.90",
    "j2k": "1.2.840.10008.1.2.4.91",
    "htj2k-lossless": "1.2.840.10008.1.2.4.201",
    "htj2k-rpcl": "1.2.840.10008.1.2.4.202",
    "htj2k": "1.2.840.10008.1.2.4.203",
    "rle": "1.2.840.10008.1.2.5",
    "mpeg2": "1.2.840.10008.1.2.4.100",
    "h264": "1.2.840.10008.1.2.4.102",
    "hevc": "1.2.840.10008.1.2.4.107",
}

#: The compressed syntaxes archives hold most, most common first: a context each for
#: every image class that fits.
DEFAULT_COMPRESSED: tuple[str, ...] = (
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless
    "1.2.840.10008.1.2.5",  # RLE Lossless
)

#: The Storage SOP Classes most studies hold, most common first: this is a ranking (what
#: to propose first when everything does not fit), not the list of classes; that comes
#: from pydicom (:func:`dicomnet.uids.storage_sop_classes`).
LIKELY_STORAGE: tuple[str, ...] = (
    "1.2.840.10008.5.1.4.1.1.2",  # CT
    "1.2.840.10008.5.1.4.1.1.4",  # MR
    "1.2.840.10008.5.1.4.1.1.1",  # CR
    "1.2.840.10008.5.1.4.1.1.1.1",  # DX for presentation
    "1.2.840.10008.5.1.4.1.1.1.2",  # MG for presentation
    "1.2.840.10008.5.1.4.1.1.6.1",  # US
    "1.2.840.10008.5.1.4.1.1.3.1",  # US multi-frame
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture
    "1.2.840.10008.5.1.4.1.1.12.1",  # XA
    "1.2.840.10008.5.1.4.1.1.128",  # PET
    "1.2.840.10008.5.1.4.1.1.20",  # NM
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT
    "1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR
    "1.2.840.10008.5.1.4.1.1.13.1.3",  # Breast Tomosynthesis
    "1.2.840.10008.5.1.4.1.1.12.2",  # XRF
    "1.2.840.10008.5.1.4.1.1.88.67",  # X-Ray Radiation Dose SR (most CT studies)
    "1.2.840.10008.5.1.4.1.1.88.22",  # Enhanced SR
    "1.2.840.10008.5.1.4.1.1.88.33",  # Comprehensive SR
    "1.2.840.10008.5.1.4.1.1.88.11",  # Basic Text SR
    "1.2.840.10008.5.1.4.1.1.88.59",  # Key Object Selection
    "1.2.840.10008.5.1.4.1.1.11.1",  # Grayscale Softcopy Presentation State
    "1.2.840.10008.5.1.4.1.1.104.1",  # Encapsulated PDF
    "1.2.840.10008.5.1.4.1.1.1.1.1",  # DX for processing
    "1.2.840.10008.5.1.4.1.1.1.2.1",  # MG for processing
    "1.2.840.10008.5.1.4.1.1.7.2",  # Multi-frame Grayscale Byte SC
    "1.2.840.10008.5.1.4.1.1.7.3",  # Multi-frame Grayscale Word SC
    "1.2.840.10008.5.1.4.1.1.7.4",  # Multi-frame True Color SC
    "1.2.840.10008.5.1.4.1.1.7.1",  # Multi-frame Single Bit SC
    "1.2.840.10008.5.1.4.1.1.77.1.4",  # VL Photographic
    "1.2.840.10008.5.1.4.1.1.66.4",  # Segmentation
    "1.2.840.10008.5.1.4.1.1.481.1",  # RT Image
    "1.2.840.10008.5.1.4.1.1.481.2",  # RT Dose
    "1.2.840.10008.5.1.4.1.1.481.3",  # RT Structure Set
    "1.2.840.10008.5.1.4.1.1.481.5",  # RT Plan
    "1.2.840.10008.5.1.4.1.1.128.1",  # Legacy Converted Enhanced PET
    "1.2.840.10008.5.1.4.1.1.130",  # Enhanced PET
    "1.2.840.10008.5.1.4.1.1.9.1.1",  # 12-lead ECG
    "1.2.840.10008.5.1.4.1.1.66",  # Raw Data
    "1.2.840.10008.5.1.4.1.1.88.68",  # Radiopharmaceutical Radiation Dose SR
    "1.2.840.10008.5.1.4.1.1.88.73",  # Patient Radiation Dose SR
    "1.2.840.10008.5.1.4.1.1.88.76",  # Enhanced X-Ray Radiation Dose SR
)

#: Classes with pixel data whose names do not say "Image" (PS3.3 IODs with an Image
#: Pixel or Enhanced pixel module): these get the compressed contexts too.
_PIXEL_CLASSES_BY_NAME = ("Volume Storage", "RT Dose Storage", "Segmentation Storage",
                          "Parametric Map Storage", "Thickness Map Storage",
                          "Corneal Topography Map Storage")


def compressed_syntax(name: str) -> str:
    """The UID of a compressed syntax named on the command line (a short name of
    :data:`COMPRESSED_SYNTAX_NAMES` or a UID); ValueError otherwise."""
    uid = COMPRESSED_SYNTAX_NAMES.get(name.strip().lower(), name.strip())
    if not uid or any(ch not in "0123456789." for ch in uid):
        raise ValueError(f"unknown transfer syntax {name!r}: a UID or one of "
                         f"{', '.join(COMPRESSED_SYNTAX_NAMES)}")
    return uid


def _has_pixels(sop_class: str) -> bool:
    """Whether instances of ``sop_class`` carry pixel data (and so may be compressed).
    A class pydicom does not know (a private one) is assumed to."""
    from pydicom.uid import UID

    name = UID(sop_class).name
    if not name or name == sop_class:
        return True
    return "Image" in name or name.endswith(_PIXEL_CLASSES_BY_NAME)


@cache
def _retired(sop_class: str) -> bool:
    from pydicom._uid_dict import UID_dictionary

    entry = UID_dictionary.get(sop_class)
    return entry is not None and entry[3] == "Retired"


def ranked_storage_classes(extra: Iterable[str] = ()) -> list[str]:
    """Every Storage SOP Class, most likely first: ``extra`` (the caller's, private
    ones included), then :data:`LIKELY_STORAGE`, then the rest of pydicom's, retired
    ones last."""
    everything = storage_sop_classes()
    ranked = dict.fromkeys([*extra, *LIKELY_STORAGE])
    ranked.update(dict.fromkeys(uid for uid in everything if not _retired(uid)))
    ranked.update(dict.fromkeys(everything))
    return list(ranked)


def receive_contexts(sop_class: str, compressed: Sequence[str]
                     ) -> list[tuple[str, list[str]]]:
    """The contexts to receive ``sop_class`` in: one uncompressed, and one per
    syntax in ``compressed`` if the class has pixel data (Deflated for any class)."""
    contexts = [(sop_class, list(UNCOMPRESSED_TRANSFER_SYNTAXES))]
    pixels = _has_pixels(sop_class)
    contexts.extend((sop_class, [syntax]) for syntax in compressed
                    if pixels or syntax == "1.2.840.10008.1.2.1.99")
    return contexts


def storage_context_batches(*, compressed: Sequence[str] = DEFAULT_COMPRESSED,
                            extra_classes: Iterable[str] = (), limit: int = 127
                            ) -> list[list[tuple[str, list[str]]]]:
    """The storage contexts for a C-GET, ranked and cut into batches of at most
    ``limit`` contexts (128 per association, PS3.8 §9.3.2.2, less those the caller
    needs for itself).

    Ranking is by context, not only by class: first the uncompressed context of every
    extra and likely class (so each of those can arrive at all, transcoded if need
    be), then the compressed contexts of those classes, most likely class first (so the
    common modalities arrive as stored), then the same two steps for every other
    class. A class whose uncompressed context is in an earlier batch than its
    compressed ones arrives transcoded by the peer (or not at all, if it cannot).
    """
    if limit < 1:
        raise ValueError(f"a batch holds at least one context, not {limit}")
    extra = list(dict.fromkeys(extra_classes))
    classes = ranked_storage_classes(extra)
    front = classes[:len(dict.fromkeys([*extra, *LIKELY_STORAGE]))]
    ordered: list[tuple[str, list[str]]] = []
    for sop_class in front:
        ordered.append(receive_contexts(sop_class, ())[0])
    for sop_class in front:
        ordered.extend(receive_contexts(sop_class, compressed)[1:])
    rest = classes[len(front):]
    for sop_class in rest:
        ordered.append(receive_contexts(sop_class, ())[0])
    for sop_class in rest:
        ordered.extend(receive_contexts(sop_class, compressed)[1:])
    return [ordered[start:start + limit] for start in range(0, len(ordered), limit)]
