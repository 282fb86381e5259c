"""TLS and user identity options shared by the subcommands (PS3.15 Annex B, PS3.7
D.3.3.7).

Clients: ``--tls`` (verify the server against the system's CAs, or ``--tls-ca``),
``--tls-cert``/``--tls-key`` for a client certificate, ``--tls-no-verify`` to diagnose
(loudly warned); ``--user``/``--passcode``/``--jwt``/``--saml``/``--kerberos`` for user
identity. Any ``--tls-*`` option implies ``--tls``. ``dicomnet serve``: ``--tls-cert``
and ``--tls-key`` (required for TLS), ``--tls-ca`` to demand client certificates signed
by that CA.
"""

from __future__ import annotations

import argparse
import logging
import os
import ssl
from pathlib import Path

from dicomnet.pdu import UserIdentityRQSubItem

log = logging.getLogger("dicomnet.cli")

#: Where a passcode can come from without showing in the process list.
PASSCODE_VARIABLE = "DICOMNET_PASSCODE"


class OptionError(Exception):
    """A bad combination of options; the message is for the user."""


def add_client_tls_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "TLS (PS3.15 BCP 195 profile: TLS 1.2/1.3; any --tls-* option implies --tls)")
    group.add_argument("--tls", action="store_true",
                       help="connect with TLS, verifying the server's certificate and "
                            "host name (against the system's CAs unless --tls-ca)")
    group.add_argument("--tls-ca", metavar="PEM", help="trust the CAs in this file")
    group.add_argument("--tls-cert", metavar="PEM",
                       help="present this client certificate (for servers that ask)")
    group.add_argument("--tls-key", metavar="PEM",
                       help="the client certificate's private key (default: in --tls-cert)")
    group.add_argument("--tls-no-verify", action="store_true",
                       help="do NOT verify the server (encrypted, but anyone can pose as "
                            "the server): for diagnosis only")


def add_identity_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("user identity (PS3.7 D.3.3.7)")
    kinds = group.add_mutually_exclusive_group()
    kinds.add_argument("--user", metavar="NAME",
                       help="send this username (with --passcode or $"
                            f"{PASSCODE_VARIABLE}: username and passcode)")
    kinds.add_argument("--jwt", metavar="TOKEN", help="send a JSON Web Token")
    kinds.add_argument("--saml", metavar="FILE", help="send the SAML assertion in FILE")
    kinds.add_argument("--kerberos", metavar="FILE",
                       help="send the Kerberos service ticket in FILE")
    group.add_argument("--passcode", metavar="TEXT",
                       help=f"the passcode for --user (visible to other users of this "
                            f"machine: prefer ${PASSCODE_VARIABLE})")
    group.add_argument("--identity-response", action="store_true",
                       help="ask the server for a positive response; fail if it sends "
                            "none")


def client_ssl_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The client's TLS context for these options, None for plain TCP."""
    wanted = args.tls or args.tls_ca or args.tls_cert or args.tls_key or args.tls_no_verify
    if not wanted:
        return None  # without importing dicomnet.tls (and datetime): start-up time
    from dicomnet.tls import client_context

    if args.tls_key and not args.tls_cert:
        raise OptionError("--tls-key needs --tls-cert")
    if args.tls_no_verify:
        log.warning("TLS WITHOUT VERIFYING THE SERVER (--tls-no-verify): the connection "
                    "is encrypted but the peer may be anyone")
    try:
        return client_context(cafile=args.tls_ca, certfile=args.tls_cert,
                              keyfile=args.tls_key, verify=not args.tls_no_verify)
    except (OSError, ssl.SSLError) as exc:
        raise OptionError(f"cannot set up TLS: {exc}") from exc


def client_identity(args: argparse.Namespace) -> UserIdentityRQSubItem | None:
    """The user identity sub-item for these options, None when none was asked for."""
    positive = bool(args.identity_response)
    passcode = args.passcode or os.environ.get(PASSCODE_VARIABLE)
    if args.passcode and not args.user:
        raise OptionError("--passcode needs --user")
    if not (args.user or args.jwt or args.saml or args.kerberos):
        if positive:
            raise OptionError("--identity-response needs an identity (--user, --jwt, ...)")
        return None  # without importing user_identity (hashlib, secrets): start-up time
    from dicomnet import user_identity

    try:
        if args.user:
            return user_identity.username(args.user, passcode, positive_response=positive)
        if args.jwt:
            return user_identity.jwt(args.jwt, positive_response=positive)
        if args.saml:
            return user_identity.saml(Path(args.saml).read_bytes(),
                                      positive_response=positive)
        return user_identity.kerberos(Path(args.kerberos).read_bytes(),
                                      positive_response=positive)
    except OSError as exc:
        raise OptionError(f"cannot read the identity: {exc}") from exc


def add_server_security_options(parser: argparse.ArgumentParser) -> None:
    tls = parser.add_argument_group("TLS (PS3.15 BCP 195 profile: TLS 1.2/1.3)")
    tls.add_argument("--tls", action="store_true",
                     help="accept TLS connections only (needs --tls-cert and --tls-key)")
    tls.add_argument("--tls-cert", metavar="PEM", help="our certificate (chain)")
    tls.add_argument("--tls-key", metavar="PEM",
                     help="our private key (default: in --tls-cert)")
    tls.add_argument("--tls-ca", metavar="PEM",
                     help="demand client certificates signed by a CA in this file "
                          "(mutual TLS)")
    access = parser.add_argument_group("who may associate")
    access.add_argument("--allow-aet", action="append", metavar="AET",
                        help="accept only these calling AE titles (repeatable)")
    access.add_argument("--allow-address", action="append", metavar="NETWORK",
                        help="accept only peers in these networks, e.g. 10.1.0.0/16 or "
                             "127.0.0.1 (repeatable)")
    access.add_argument("--allow-subject", action="append", metavar="SUBJECT",
                        help="with --tls-ca: accept only client certificates whose "
                             "subject holds every attribute of SUBJECT (RFC 4514, exact "
                             "values), e.g. CN=modality1 or CN=modality1,O=Hospital "
                             "(repeatable)")
    access.add_argument("--users", metavar="FILE",
                        help="require a username and passcode listed in FILE (written by "
                             "'dicomnet user add FILE NAME'; passcodes stored hashed)")


def server_ssl_context(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The server's TLS context for these options, None for plain TCP."""
    from dicomnet.tls import server_context

    if not (args.tls or args.tls_cert or args.tls_key or args.tls_ca):
        if args.allow_subject:
            raise OptionError("--allow-subject needs TLS with client certificates "
                              "(--tls-cert, --tls-key, --tls-ca)")
        return None
    if not args.tls_cert:
        raise OptionError("TLS needs our certificate: --tls-cert PEM (and --tls-key PEM)")
    if args.allow_subject and not args.tls_ca:
        raise OptionError("--allow-subject needs --tls-ca (client certificates)")
    try:
        return server_context(args.tls_cert, args.tls_key, cafile=args.tls_ca)
    except (OSError, ssl.SSLError) as exc:
        raise OptionError(f"cannot set up TLS: {exc}") from exc
