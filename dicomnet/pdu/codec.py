"""Bytes to PDUs and back: the wire format of PS3.8 §9.3 and PS3.7 Annex D.3.3.

The codec is one-way: the PDU and item records are plain frozen data, and the codec
looks up how to write a record in a table keyed by its type
(:mod:`dicomnet.pdu.encode`) and how to read one in a table keyed by its PDU or item
type byte (:mod:`dicomnet.pdu.decode`). Both directions take their header structs and
field names from :mod:`dicomnet.pdu.layout`, so the layout of every PDU, item and
sub-item is written down once. This module is the codec's front: its contract, and
the functions the rest of dicomnet uses.

The two directions are deliberately asymmetric:

* **Encoding** checks only what the wire cannot represent (an AE title longer than 16
  characters, a non-ASCII UID, a value too big for its field) and raises
  :class:`~dicomnet.errors.PDUError` for it. It does not enforce the standard's semantic
  rules (odd context IDs, at least one transfer syntax...), so that tests can send a
  peer the malformed-but-representable PDUs they need. Something that is not a PDU or
  item record at all is a programming error: :class:`TypeError`.
* **Decoding** reads bytes from the network, which may be hostile. Every length is
  checked against the bytes actually present before it is used, so no announced length
  allocates memory, and the only exception that leaves :func:`decode_pdu` is
  :class:`~dicomnet.errors.PDUError`, whose ``field`` names what was wrong. The upper
  layer turns it into an A-ABORT (PS3.8 §9.3.8) instead of crashing. Reserved fields are
  not tested (PS3.8 §9.3.1).

P-DATA-TF is the hot path: its PDVs are decoded with ``struct.unpack_from`` over a
memoryview, and each PDV's data is a slice of the input, not a copy.
"""

from __future__ import annotations

from dicomnet.pdu.decode import decode_item, decode_pdu, decode_user_sub_item
from dicomnet.pdu.encode import EncodableItem, encode_item, encode_pdu
from dicomnet.pdu.items import Item

__all__ = [
    "EncodableItem",
    "Item",
    "decode_item",
    "decode_pdu",
    "decode_user_sub_item",
    "encode_item",
    "encode_pdu",
]
