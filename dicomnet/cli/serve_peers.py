"""``dicomnet serve --peer AET=HOST:PORT[:tls]``: the peers serve opens associations to.

``serve`` opens associations of its own: C-MOVE sub-operations to the move destination
(PS3.4 C.4.2) and storage commitment reports to an SCU whose association has ended
(PS3.4 J.3.3). A peer that listens with TLS only (PS3.15 Annex B) refuses a plain TCP
connection, so each peer says whether it wants TLS. Over TLS, ``serve`` presents its
own certificate (``--tls-cert``/``--tls-key``) as the client certificate, as a node
that is both SCP and SCU is one identity to its peers, and verifies the peer against
``--tls-ca`` (the CAs it trusts for its own clients) or the system's trust store.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from dicomnet.association import AssociationDriver
    from dicomnet.services.connector import Connect

__all__ = ["Peer", "parse_peers", "peer_addresses", "peer_connect"]

#: The suffix that asks for TLS: ``--peer ORTHANC=10.0.0.7:4242:tls``.
TLS_SUFFIX = ":tls"


@dataclass(frozen=True)
class Peer:
    host: str
    port: int
    tls: bool = False


def parse_peers(values: list[str]) -> dict[str, Peer]:
    """AE title -> peer, from ``--peer`` values; ValueError names a value that does not
    parse (an IPv6 host goes in brackets: ``AET=[::1]:104``)."""
    table: dict[str, Peer] = {}
    for value in values:
        title, _sep, address = value.partition("=")
        tls = address.lower().endswith(TLS_SUFFIX)
        if tls:
            address = address[:-len(TLS_SUFFIX)]
        host, _sep, port = address.rpartition(":")
        host = host.strip().strip("[]")
        if not title.strip() or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"--peer {value!r}: expected AET=HOST:PORT or AET=HOST:PORT:tls")
        table[title.strip()] = Peer(host, int(port), tls)
    return table


def peer_addresses(table: dict[str, Peer]) -> Callable[[str], tuple[str, int] | None]:
    """The destination lookup the archive's services take: AE title -> (host, port)."""

    def lookup(title: str) -> tuple[str, int] | None:
        peer = table.get(title)
        return None if peer is None else (peer.host, peer.port)

    return lookup


def peer_connect(table: dict[str, Peer], context: ssl.SSLContext | None,
                 connect: Callable[..., AbstractAsyncContextManager[Any]]) -> Connect:
    """``connect`` with ``ssl=context`` bound for the addresses of the TLS peers.

    The services call it with the (host, port) the lookup gave, so the address says
    which peer it is; two AE titles on one address share its TLS setting.
    """
    secure = {(peer.host, peer.port) for peer in table.values() if peer.tls}
    if secure and context is None:
        raise ValueError("a --peer with :tls needs a TLS client context")

    def open_association(host: str, port: int, **options: Any
                         ) -> AbstractAsyncContextManager[AssociationDriver]:
        if (host, port) in secure:
            options["ssl"] = context
        return cast("AbstractAsyncContextManager[AssociationDriver]",
                    connect(host, port, **options))

    return open_association
