"""Testing DICOM applications with dicomnet: what dicomnet's own suites use, published
for users who write SCPs and SCUs.

The pytest plugin (:mod:`dicomnet.testing.plugin`, registered when dicomnet is installed)
gives the fixtures; the helpers below work in any test runner:

* :func:`free_port`, :func:`start_process`, :func:`run`, :func:`dicomnet_command`,
  :class:`Process`: processes on 127.0.0.1, every port chosen at run time;
* :func:`find_dcmtk`, :func:`dcmtk_binary`: DCMTK's real tools (never pynetdicom's
  namesakes);
* :func:`serving`, :func:`serving_in_a_thread`: a :class:`~dicomnet.server.Server` for
  the length of a block;
* :class:`RawPeer`: a peer that sends whatever bytes or PDUs a test says, for
  hostile-peer tests;
* :func:`make_instance`, :func:`write_instances`: valid instances with new UIDs;
  :func:`data_sets_by_instance`: what a peer received, by SOP Instance UID.

docs/testing.md is the tutorial.
"""

from dicomnet.testing.dcmtk import dcmtk_binary, find_dcmtk
from dicomnet.testing.instances import data_sets_by_instance, make_instance, write_instances
from dicomnet.testing.processes import (
    PEER_ENV,
    Completed,
    Process,
    dicomnet_command,
    free_port,
    partial_files,
    port_refuses,
    run,
    start_process,
    wait_for_port,
)
from dicomnet.testing.rawpeer import RawPeer
from dicomnet.testing.servers import serving, serving_in_a_thread

__all__ = ["PEER_ENV", "Completed", "Process", "RawPeer", "data_sets_by_instance", "dcmtk_binary",
           "dicomnet_command", "find_dcmtk", "free_port", "make_instance", "partial_files",
           "port_refuses", "run", "serving", "serving_in_a_thread", "start_process",
           "wait_for_port", "write_instances"]
