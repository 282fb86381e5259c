"""Who may associate: the address and certificate-subject rules of a :class:`~dicomnet.Server`.

Each rule compares parsed values, never text, so that what a peer controls (the
characters of its certificate's subject, the spelling of its address) cannot make it
look like someone else:

- **Certificate subjects** are X.509 names. An allowed subject is parsed once, from its
  RFC 4514 form, into attributes (OID and value). A peer's certificate is allowed when
  every attribute of an allowed subject appears, as a whole attribute with exactly that
  OID and value, in the peer's subject: ``CN=modality1,O=Hospital`` allows exactly that
  subject (and subjects with more attributes), ``CN=modality1`` allows any certificate
  whose subject holds the attribute ``CN=modality1``. Values compare exactly (case and
  spaces count). A common name ``evil,CN=modality1`` is one attribute whose value holds
  a comma; it is not ``CN=modality1``.
- **Addresses** compare as IP addresses. An IPv4 peer reached over an IPv6 socket
  (``::ffff:10.1.2.3``) is the IPv4 peer ``10.1.2.3``, and an IPv4-mapped rule
  (``::ffff:10.1.0.0/112``) is the IPv4 rule ``10.1.0.0/16``: each form matches the
  other and neither slips past a rule written in the other. The zone of a scoped IPv6
  address (``fe80::1%eth0``) is not part of the comparison: a rule names addresses, not
  interfaces.

A peer without a usable certificate or address is refused whenever a rule of that kind
is set.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.x509 import Name, NameAttribute

__all__ = [
    "IPAddress",
    "IPNetwork",
    "address_allowed",
    "ae_titles",
    "parse_networks",
    "parse_subjects",
    "peer_address",
    "peer_group",
    "subject_allowed",
]

#: A peer's address, IPv4 or IPv6.
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: An allowed network, IPv4 or IPv6 (:func:`parse_networks` makes them).
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# RFC 4291 §2.5.5.2: IPv4-mapped IPv6 addresses, ::ffff:0:0/96.
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def _without_zone(text: str) -> str:
    """``fe80::1%eth0`` -> ``fe80::1`` (RFC 4007 §11: the zone follows a ``%``)."""
    address, _sep, rest = text.partition("%")
    _zone, slash, prefix = rest.partition("/")
    return address + slash + prefix


def peer_address(host: str) -> IPAddress:
    """The peer's address as rules see it: without zone, IPv4-mapped made IPv4.
    ValueError if ``host`` is not an IP address."""
    address = ipaddress.ip_address(_without_zone(host))
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def peer_group(host: str) -> str:
    """The peer that per-address bounds (pending connections, login failures) count
    by: an IPv4 address (IPv4-mapped ones too), or the /64 an IPv6 address is in, since
    one host (or one customer of a provider) commonly holds a whole /64 (RFC 4291
    §2.5.4) and could use a new address for each connection. ``host`` itself, cut,
    when it is no IP address."""
    try:
        address = peer_address(host)
    except ValueError:
        return host[:64]
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address)


def _network(text: str) -> IPNetwork:
    network = ipaddress.ip_network(_without_zone(text.strip()), strict=False)
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96 \
            and network.subnet_of(_MAPPED):
        # ::ffff:a.b.c.d/N is a.b.c.d/(N-96): the same peers, compared as IPv4.
        mapped = network.network_address.ipv4_mapped
        assert mapped is not None
        return ipaddress.IPv4Network(f"{mapped}/{network.prefixlen - 96}", strict=False)
    return network


def parse_networks(rules: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Allowed networks (``"10.0.0.0/8"``, ``"::1"``, ``"::ffff:10.1.0.0/112"``),
    checked and put in the form :func:`address_allowed` compares; ValueError names a
    bad one."""
    if isinstance(rules, str):
        raise ValueError(f"give a list of networks, not the string {rules!r}")
    return tuple(_network(rule) for rule in rules)


def address_allowed(host: str, networks: Iterable[IPNetwork]) -> bool:
    """Whether the peer at ``host`` is in one of ``networks`` (from
    :func:`parse_networks`); a host that is no IP address is not."""
    try:
        address = peer_address(host)
    except ValueError:
        return False
    return any(address in network for network in networks)


def ae_titles(titles: Iterable[str]) -> frozenset[str]:
    """Allowed calling AE titles as given (the ACSE policy checks and unpadds each,
    :func:`dicomnet.acse.titles.ae_title_key` says how they compare); a lone string is
    refused rather than taken as a set of one-letter titles."""
    if isinstance(titles, str):
        raise ValueError(f"give a list of AE titles, not the string {titles!r}")
    return frozenset(titles)


def parse_subjects(rules: Iterable[str]) -> tuple[Name, ...]:
    """Allowed certificate subjects in RFC 4514 form (``"CN=modality1,O=Hospital"``),
    parsed into X.509 names; ValueError names one that does not parse or is empty."""
    from cryptography import x509

    if isinstance(rules, str):
        raise ValueError(f"give a list of subjects, not the string {rules!r}")
    names = []
    for rule in rules:
        try:
            name = x509.Name.from_rfc4514_string(rule)
        except ValueError as exc:
            raise ValueError(f"certificate subject {rule!r} is not in RFC 4514 form "
                             f"(e.g. CN=modality1,O=Hospital): {exc}") from None
        if not list(name):
            raise ValueError(f"certificate subject {rule!r} names no attribute")
        names.append(name)
    return tuple(names)


def _attributes(name: Name) -> set[tuple[str, str | bytes]]:
    return {_key(attribute) for attribute in name}


def _key(attribute: NameAttribute[str | bytes]) -> tuple[str, str | bytes]:
    return attribute.oid.dotted_string, attribute.value


def subject_allowed(subject: Name | None, allowed: Iterable[Name]) -> bool:
    """Whether a certificate with ``subject`` (None: no certificate) passes ``allowed``
    (from :func:`parse_subjects`): some allowed name's attributes all appear among the
    subject's (a full name equal to the subject passes, being one such name)."""
    if subject is None:
        return False
    held = _attributes(subject)
    return any(_attributes(name) <= held for name in allowed)
