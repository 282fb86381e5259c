"""Orthanc (Debian's ``orthanc`` package, 1.10) as a peer of the interoperability suite.

Each test gets its own Orthanc: a JSON configuration written into a temporary folder
(storage and index there, DICOM and HTTP ports free on 127.0.0.1, remote HTTP access
off, no plugins, no Lua, no saved jobs), ``Orthanc CONFIG`` started as a subprocess,
ready once its DICOM port answers a C-ECHO, stopped with SIGTERM at the end. The
package's own service (ports 4242 and 8042, /var/lib/orthanc) is neither used nor
touched. Its REST API (urllib, on 127.0.0.1 only) inspects Orthanc and drives it as
an SCU: C-STORE, C-FIND, C-MOVE, storage commitment requests to dicomnet.

A missing Orthanc FAILS the test, it never skips (``.ci/run`` installs it).
"""

from __future__ import annotations

import json
import shutil
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest

import dicomnet
from dicomnet.testing import Process, free_port, start_process
from dicomnet.tls import TestPKI, client_context

#: Where Debian's package puts the program (/usr/sbin is not on every user's PATH).
DEBIAN_PATH = "/usr/sbin/Orthanc"
AET = "ORTHANC"


def orthanc_binary() -> str:
    path = shutil.which("Orthanc") or (DEBIAN_PATH if Path(DEBIAN_PATH).exists() else None)
    if path is None:
        pytest.fail("Orthanc is not installed; run 'apt-get install -y orthanc'. "
                    "The conformance suite never skips.")
    return path


@dataclass(frozen=True)
class Modality:
    """An entry of Orthanc's DicomModalities: a dicomnet AE it may talk to."""

    aet: str
    port: int
    tls: bool = False


@dataclass
class Orthanc:
    """A running Orthanc: its ports, folder and REST API."""

    process: Process
    dicom_port: int
    http_port: int
    folder: Path
    pki: TestPKI | None = None
    stopped: bool = field(default=False)

    def rest(self, method: str, path: str, body: Any = None, *,
             raw: bytes | None = None, timeout: float = 120.0) -> Any:
        """Call the REST API; the answer parsed from JSON (None when empty)."""
        data = raw if raw is not None else (None if body is None
                                            else json.dumps(body).encode())
        request = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}",
                                         data=data, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                text = answer.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise AssertionError(f"Orthanc {method} {path}: {exc.code} {detail}\n"
                                 f"{self.process.output_so_far()[-3000:]}") from None
        return json.loads(text) if text.strip() else None

    def upload(self, files: list[Path]) -> list[str]:
        """Store files through the REST API (no DICOM involved); their Orthanc IDs."""
        return [self.rest("POST", "/instances", raw=path.read_bytes())["ID"]
                for path in files]

    def instance_uids(self) -> set[str]:
        """The SOP Instance UIDs Orthanc holds."""
        found = self.rest("POST", "/tools/find",
                          {"Level": "Instance", "Query": {}, "Expand": True})
        return {item["MainDicomTags"]["SOPInstanceUID"] for item in found}

    def instance_file(self, sop_instance_uid: str) -> bytes:
        found = self.rest("POST", "/tools/find", {
            "Level": "Instance", "Query": {"SOPInstanceUID": sop_instance_uid}})
        assert len(found) == 1, found
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}/instances/{found[0]}/file")
        with urllib.request.urlopen(request, timeout=60) as answer:
            return bytes(answer.read())

    def stop(self) -> int:
        if self.stopped:
            return self.process.process.returncode
        self.stopped = True
        return self.process.stop(timeout=30)


def _configuration(folder: Path, dicom_port: int, http_port: int,
                   modalities: dict[str, Modality], pki: TestPKI | None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "Name": "dicomnet-interop",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "index"),
        "TemporaryDirectory": str(folder / "tmp"),
        "Plugins": [],
        "LuaScripts": [],
        "SaveJobs": False,
        "ConcurrentJobs": 2,
        "HttpServerEnabled": True,
        "HttpPort": http_port,
        "HttpDescribeErrors": True,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomServerEnabled": True,
        "DicomAet": AET,
        "DicomPort": dicom_port,
        "DicomCheckCalledAet": True,
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True,
        "DicomCheckModalityHost": True,
        # Orthanc keeps its SCU associations open a few seconds for reuse by default;
        # closed at once, a test's peer sees the release right after the operation.
        "DicomAssociationCloseDelay": 0,
        "DicomScuTimeout": 30,
        "DicomScpTimeout": 30,
        "StorageCompression": False,
        "OverwriteInstances": True,
        "DicomModalities": {
            name: {"AET": modality.aet, "Host": "127.0.0.1", "Port": modality.port,
                   "UseDicomTls": modality.tls, "AllowStorageCommitment": True,
                   "AllowTranscoding": True}
            for name, modality in modalities.items()},
    }
    if pki is not None:
        # Orthanc presents one certificate on both sides (SCP and SCU): made with
        # serverAuth and clientAuth (create_test_pki(dual_use=True)).
        config.update({
            "DicomTlsEnabled": True,
            "DicomTlsCertificate": str(pki.server_cert),
            "DicomTlsPrivateKey": str(pki.server_key),
            "DicomTlsTrustedCertificates": str(pki.ca_cert),
            "DicomTlsRemoteCertificateRequired": True,
        })
    return config


def echo_context(pki: TestPKI) -> ssl.SSLContext:
    """A TLS client context trusted by an Orthanc started with ``pki``."""
    return client_context(cafile=pki.ca_cert, certfile=pki.client_cert,
                          keyfile=pki.client_key)


def _answers_echo(port: int, pki: TestPKI | None) -> bool:
    async def echo() -> int:
        with anyio.fail_after(10):
            async with dicomnet.connect(
                    "127.0.0.1", port, called_ae=AET, calling_ae="DICOMNET",
                    ssl=None if pki is None else echo_context(pki)) as association:
                return await association.echo()

    try:
        return anyio.run(echo) == 0
    except Exception:  # not up yet, whatever the reason
        return False


def start_orthanc(folder: Path, modalities: dict[str, Modality] | None = None, *,
                  pki: TestPKI | None = None, dicom_port: int | None = None,
                  ready_within: float = 60.0) -> Orthanc:
    """Start Orthanc with its own configuration in ``folder``; returns once its DICOM
    port answers a C-ECHO (at most ``ready_within`` seconds, generous for a loaded CI
    machine: Orthanc creates its SQLite index on the first start). ``dicom_port`` is
    for a peer that must know it before Orthanc starts (``serve --peer``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for attempt in range(3):
        port, http_port = dicom_port or free_port(), free_port()
        while http_port == port:
            http_port = free_port()
        config = folder / "orthanc.json"
        config.write_text(json.dumps(_configuration(folder, port, http_port,
                                                    modalities or {}, pki), indent=1))
        try:
            process = start_process([orthanc_binary(), str(config)], http_port, cwd=folder)
            break
        except RuntimeError as error:
            # A port taken between free_port() and Orthanc's bind: choose again.
            if "already in use" not in str(error) or attempt == 2:
                raise
    orthanc = Orthanc(process, port, http_port, folder, pki)
    deadline = time.monotonic() + ready_within
    while not _answers_echo(port, pki):
        if process.process.poll() is not None or time.monotonic() > deadline:
            orthanc.stop()
            raise RuntimeError(f"Orthanc did not answer C-ECHO on {port}:\n"
                               f"{process.output[-3000:]}")
        time.sleep(0.2)
    return orthanc
