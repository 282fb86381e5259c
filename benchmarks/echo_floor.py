"""The least an asyncio server in CPython can do per C-ECHO: a lower bound, not a DICOM SCP.

    .venv/bin/python benchmarks/echo_floor.py PORT [--uvloop]

echo_bench.py runs it as the pairing "echoscu -> asyncio floor", to show where the
floor of any Python server on asyncio lies next to storescp: whatever a real server adds
(checking the PDUs, the upper layer state machine, decoding the command set, routing it
to a handler) comes on top of this. ``--uvloop`` runs the same protocol on uvloop's
event loop (libuv, compiled), the pairing "echoscu -> uvloop floor": a faster loop
lowers the floor only as far as the loop's own share of it goes.

It answers by pattern, not by reading the protocol: an A-ASSOCIATE-RQ with an
A-ASSOCIATE-AC accepting every context in Implicit VR Little Endian, any P-DATA-TF with
one C-ECHO-RSP (built once; only its Message ID Being Responded To is patched in,
taken from a fixed offset-free search of the request), an A-RELEASE-RQ with an
A-RELEASE-RP. One asyncio.Protocol, callbacks only: no task, no stream, no lock.
"""

from __future__ import annotations

import asyncio
import struct
import sys

from dicomnet.dimse.command_set import encode_command
from dicomnet.dimse.messages import CEchoRSP
from dicomnet.pdu import (
    AAssociateAC,
    ImplementationClassUIDSubItem,
    MaximumLengthSubItem,
    PresentationContextAC,
    UserInformationItem,
    decode_pdu,
    encode_pdu,
)

IMPLICIT_LE = "1.2.840.10008.1.2"
#: (0000,0110) Message ID, implicit VR little endian, length 2
MESSAGE_ID_TAG = b"\x00\x00\x10\x01\x02\x00\x00\x00"
RELEASE_RP = bytes([6, 0, 0, 0, 0, 4, 0, 0, 0, 0])


def echo_response_pdu() -> tuple[bytes, int]:
    """One P-DATA-TF holding a C-ECHO-RSP for context 1 (every accepted context
    carries Verification here), and the offset of its responded-to Message ID."""
    command = encode_command(CEchoRSP(message_id_being_responded_to=0xBEEF, status=0,
                                      affected_sop_class_uid="1.2.840.10008.1.1"))
    pdv = struct.pack(">IBB", len(command) + 2, 1, 0x03) + command
    pdu = struct.pack(">BBI", 4, 0, len(pdv)) + pdv
    return pdu, pdu.index(b"\xef\xbe")


def accept(request: bytes) -> bytes:
    rq = decode_pdu(request)
    assert rq.pdu_type == 1
    return encode_pdu(AAssociateAC(
        rq.called_ae_title, rq.calling_ae_title,  # type: ignore[attr-defined]
        tuple(PresentationContextAC(pc.context_id, 0, IMPLICIT_LE)
              for pc in rq.presentation_contexts),  # type: ignore[attr-defined]
        UserInformationItem((MaximumLengthSubItem(16384),
                             ImplementationClassUIDSubItem("1.2.826.0.1.3680043.10.1")))))


class Floor(asyncio.Protocol):
    response, message_id_at = echo_response_pdu()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport instances, but behave as one.
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= 6:
            length = struct.unpack_from(">I", self.buffer, 2)[0]
            if len(self.buffer) < 6 + length:
                return
            pdu, self.buffer = self.buffer[:6 + length], self.buffer[6 + length:]
            kind = pdu[0]
            if kind == 1:
                self.transport.write(accept(pdu))
            elif kind == 4:
                at = pdu.find(MESSAGE_ID_TAG) + len(MESSAGE_ID_TAG)
                start = self.message_id_at
                self.transport.write(self.response[:start] + pdu[at:at + 2]
                                     + self.response[start + 2:])
            elif kind == 5:
                self.transport.write(RELEASE_RP)
            else:
                self.transport.close()
                return


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Floor, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if "--uvloop" in sys.argv[2:]:
        import uvloop

        uvloop.run(serve(int(sys.argv[1])))
    else:
        asyncio.run(serve(int(sys.argv[1])))
