"""dicomnet: DICOM networking for Python, asyncio-native (PS3.7, PS3.8, PS3.4).

The names most programs need are here::

    async with dicomnet.connect("127.0.0.1", 11112, called_ae="STORESCP",
                                contexts=[CT_IMAGE_STORAGE]) as assoc:
        status = await assoc.store("image.dcm")

    server = dicomnet.Server("MYSCP")
    server.on_store()(handler)
    await server.serve("127.0.0.1", 11112)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dicomnet.client import connect
    from dicomnet.config import Timeouts
    from dicomnet.connection_events import Response
    from dicomnet.dimse import Status, StatusCategory
    from dicomnet.incoming_request import IncomingRequest
    from dicomnet.pool import AssociationPool
    from dicomnet.server import Server
    from dicomnet.service_methods import Association

__version__ = "0.1.0"

# Loaded on first use (PEP 562), so that importing the sans-IO core (dicomnet.pdu,
# dicomnet.ul, ...) does not pull in anyio through this package's __init__.
_EXPORTS = {
    "Association": "dicomnet.service_methods",
    "AssociationPool": "dicomnet.pool",
    "IncomingRequest": "dicomnet.incoming_request",
    "Response": "dicomnet.connection_events",
    "connect": "dicomnet.client",
    "Timeouts": "dicomnet.config",
    "Status": "dicomnet.dimse",
    "StatusCategory": "dicomnet.dimse",
    "Server": "dicomnet.server",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dicomnet' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "Association",
    "AssociationPool",
    "IncomingRequest",
    "Response",
    "Server",
    "Status",
    "StatusCategory",
    "Timeouts",
    "__version__",
    "connect",
]
