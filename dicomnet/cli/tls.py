"""``dicomnet tls init DIR``: a CA plus server and client key pairs, for tests and first
deployments of TLS (PS3.15 Annex B)."""

from __future__ import annotations

import argparse

from dicomnet.cli.common import add_logging_options, fail


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "tls", help="TLS helpers: create a test CA and key pairs",
        description="TLS helpers built on 'cryptography'.")
    commands = parser.add_subparsers(title="tls commands", metavar="COMMAND")
    init = commands.add_parser(
        "init", help="write a CA, a server and a client key pair into DIR",
        description="Create DIR/ca.pem and ca.key (a CA that may only sign certificates), "
                    "DIR/server.pem and server.key (TLS server: serverAuth, with the "
                    "names and addresses given as subject alternative names) and "
                    "DIR/client.pem and client.key (TLS client: clientAuth), all RSA "
                    "2048 signed with SHA-256. Keys are unencrypted and readable by "
                    "their owner only. Refuses to overwrite existing files unless --force.",
        epilog="example: dicomnet tls init ./pki --name pacs.example.org --address "
               "10.0.0.5, then: dicomnet serve --tls-cert pki/server.pem --tls-key "
               "pki/server.key --tls-ca pki/ca.pem, and: dicomnet echo --tls-ca pki/ca.pem "
               "--tls-cert pki/client.pem --tls-key pki/client.key -aec DICOMNET "
               "localhost 11112")
    init.add_argument("folder", metavar="DIR", help="where to write the files")
    init.add_argument("--name", action="append", metavar="DNS",
                      help="a DNS name of the server (repeatable; default localhost)")
    init.add_argument("--address", action="append", metavar="IP",
                      help="an IP address of the server (repeatable; default 127.0.0.1 "
                           "and ::1)")
    init.add_argument("--client-name", default="dicomnet-client", metavar="CN",
                      help="the client certificate's common name (default dicomnet-client)")
    init.add_argument("--days", type=int, default=825,
                      help="validity in days (default 825)")
    init.add_argument("--dual-use", action="store_true",
                      help="make the server certificate valid for TLS clients too "
                           "(serverAuth and clientAuth), for a node that presents one "
                           "certificate on both sides: 'dicomnet serve --peer "
                           "AET=HOST:PORT:tls', Orthanc")
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    add_logging_options(init)
    init.set_defaults(run=run_init)


def run_init(args: argparse.Namespace) -> int:
    from dicomnet.tls import create_test_pki

    try:
        pki = create_test_pki(
            args.folder, server_names=tuple(args.name or ("localhost",)),
            server_addresses=tuple(args.address or ("127.0.0.1", "::1")),
            client_name=args.client_name, days=args.days, overwrite=args.force,
            dual_use=args.dual_use)
    except FileExistsError as exc:
        return fail(f"{exc} (use --force to replace)")
    except (OSError, ValueError) as exc:
        return fail(str(exc))
    for label, path in vars(pki).items():
        print(f"{label:12} {path}")
    return 0
