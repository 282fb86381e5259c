"""TLS failures said in words a user can act on.

OpenSSL's reasons (``WRONG_VERSION_NUMBER``, ``tlsv13 alert certificate required``) name
the symptom, not the cause. And with TLS 1.3 a server that demands a client certificate
refuses it only after the client's handshake has finished: the client just sees the
connection close before the A-ASSOCIATE-AC, which reads like any other dropped
connection. So after such a failure one short probe connection is made (blocking, after
the event loop has ended: nothing else runs then) to read the server's alert.
"""

from __future__ import annotations

import argparse
import socket
import ssl

from dicomnet.errors import AssociationAbortedError

__all__ = ["explain_tls_failure"]

#: The wait for a probe's connect, handshake and alert: the peer just answered us.
_PROBE_TIMEOUT = 3.0
#: OpenSSL reasons for bytes that are not TLS where a server's handshake was expected.
_NOT_TLS = ("WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE",
            "HTTP_REQUEST", "UNKNOWN_PROTOCOL")
#: The alerts a server sends when it wants a client certificate it did not get, or
#: does not trust the one it got (RFC 8446 §6.2).
_CERTIFICATE_ALERTS = ("CERTIFICATE_REQUIRED", "HANDSHAKE_FAILURE", "BAD_CERTIFICATE",
                       "UNKNOWN_CA", "CERTIFICATE_UNKNOWN", "ACCESS_DENIED")


def _reason(exc: BaseException) -> str:
    text = f"{getattr(exc, 'reason', '') or ''} {exc}".upper().replace(" ", "_")
    return text


def _words(exc: BaseException, args: argparse.Namespace, where: str) -> str | None:
    reason = _reason(exc)
    if any(mark in reason for mark in _NOT_TLS):
        return f"not TLS on that port: {where} answered in plain TCP (drop the --tls options)"
    if "CERTIFICATE_VERIFY_FAILED" in reason:
        detail = getattr(exc, "verify_message", None) or "not trusted"
        return (f"the server's certificate at {where} is not trusted ({detail}); give its "
                "CA with --tls-ca")
    if any(mark in reason for mark in _CERTIFICATE_ALERTS):
        if not args.tls_cert:
            return ("the server asked for a client certificate: give one with --tls-cert "
                    "(and --tls-key)")
        return f"the server refused our client certificate {args.tls_cert}"
    return None


def _probe(host: str, port: int, context: ssl.SSLContext) -> tuple[str | None, bool]:
    """How a fresh TLS connection ends in its handshake or first read (an OpenSSL
    reason, "closed", or None when the server waits for our A-ASSOCIATE-RQ), and
    whether the server sent a CertificateRequest in the handshake.

    The CertificateRequest is seen through the context's message callback (the hook
    Python's own TLS tests use; private, so its absence only loses the diagnosis)."""
    asked = False

    def watch(_conn: object, direction: str, _version: object, _content: object,
              message: object, _data: object) -> None:
        nonlocal asked
        if direction == "read" and getattr(message, "name", "") == "CERTIFICATE_REQUEST":
            asked = True

    previous = getattr(context, "_msg_callback", None)
    try:
        context._msg_callback = watch  # type: ignore[attr-defined]
        with socket.create_connection((host, port), timeout=_PROBE_TIMEOUT) as raw, \
                context.wrap_socket(raw, server_hostname=host) as tls:
            ended = None if tls.recv(1) else "closed"
    except TimeoutError:
        ended = None
    except (OSError, ssl.SSLError) as exc:
        ended = _reason(exc)
    finally:
        context._msg_callback = previous  # type: ignore[attr-defined]
    return ended, asked


def explain_tls_failure(exc: BaseException, args: argparse.Namespace,
                        context: ssl.SSLContext | None) -> str | None:
    """What went wrong in TLS terms, or None when it was not TLS (or is not known)."""
    if context is None:
        return None
    where = f"{args.host}:{args.port}"
    words = _words(exc, args, where)
    if words is not None or not isinstance(exc, AssociationAbortedError):
        return words  # a rejection, a status, a timeout: the peer spoke DICOM
    ended, asked = _probe(args.host, args.port, context)
    if ended is None:
        return None
    if asked and not args.tls_cert:
        return ("the server asked for a client certificate: give one with --tls-cert "
                "(and --tls-key)")
    if asked:
        return f"the server refused our client certificate {args.tls_cert}"
    return _words(OSError(ended), args, where)
