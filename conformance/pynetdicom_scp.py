"""pynetdicom as a Verification and Storage SCP, for ``dicomnet check``'s interop test.

    python pynetdicom_scp.py PORT AET

Runs as a process of its own (the hostile checks must not share a process with the
test) and keeps what it receives in memory: the check judges how pynetdicom negotiates,
frames and answers, not an archive of ours.
"""

from __future__ import annotations

import sys

from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]


def main() -> None:
    port, aet = int(sys.argv[1]), sys.argv[2]
    received: dict[str, bytes] = {}

    def on_store(event: evt.Event) -> int:
        received[event.request.AffectedSOPInstanceUID] = bytes(event.request.DataSet.getvalue())
        return 0x0000

    ae = AE(ae_title=aet)
    ae.supported_contexts = AllStoragePresentationContexts
    ae.add_supported_context(Verification)
    ae.maximum_associations = 16
    ae.start_server(("127.0.0.1", port), block=True, evt_handlers=[(evt.EVT_C_STORE, on_store)])


if __name__ == "__main__":
    main()
