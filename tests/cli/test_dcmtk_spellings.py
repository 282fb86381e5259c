"""DCMTK's spellings of the same options are taken as aliases; DCMTK's options that
dicomnet has not are refused naming ours, never misread (``-od DIR`` as ``-o d DIR``,
``-dhl`` as ``-d -h -l``); and query keys reach into sequences as findscu's do."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest

from dicomnet.cli.main import build_parser
from dicomnet.cli.query import build_query, query_for


def _parse(*argv: str) -> argparse.Namespace:
    return build_parser(argv[0]).parse_args(list(argv))


def _refused(*argv: str) -> str:
    """stderr of a command line argparse refuses (exit status 2)."""
    done = subprocess.run([sys.executable, "-m", "dicomnet", *argv], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return done.stderr


def test_od_is_the_output_folder_not_o_with_d() -> None:
    args = _parse("get", "127.0.0.1", "104", "-od", "/tmp/out", "-k", "StudyInstanceUID=1")
    assert args.output == "/tmp/out"


def test_aem_is_the_move_destination() -> None:
    args = _parse("move", "127.0.0.1", "104", "-aem", "STORESCP", "-k", "PatientID=1")
    assert args.dest == "STORESCP"


@pytest.mark.parametrize(("command", "flag", "model"), [
    ("find", "-P", "patient"), ("find", "-S", "study"), ("find", "-W", "worklist"),
    ("get", "-P", "patient"), ("move", "-S", "study")])
def test_model_flags_of_findscu(command: str, flag: str, model: str) -> None:
    extra = ["--dest", "X"] if command == "move" else []
    args = _parse(command, flag, "127.0.0.1", "104", *extra)
    assert args.model == model


def test_storescu_scan_and_recurse_flags() -> None:
    args = _parse("store", "+sd", "+r", "-pdu", "16384", "127.0.0.1", "104", "dir")
    assert args.recursive and args.scan_directories
    assert args.max_pdu == 16384
    assert _parse("store", "--recurse", "h", "1", "d").recursive


def test_dcmtk_long_forms_of_the_ae_titles() -> None:
    args = _parse("echo", "--aetitle", "ME", "--call", "PEER", "127.0.0.1", "104")
    assert (args.aet, args.aec) == ("ME", "PEER")


@pytest.mark.parametrize(("argv", "ours"), [
    (["move", "127.0.0.1", "104", "--dest", "X", "-od", "out"], "-o/--output"),
    (["get", "127.0.0.1", "104", "-aem", "X"], "--dest"),
    (["find", "127.0.0.1", "104", "-ll", "debug"], "-v (info)"),
    (["serve", "-pdu", "16384"], "--max-pdu"),
])
def test_dcmtk_options_we_lack_are_refused_naming_ours(argv: list[str], ours: str) -> None:
    stderr = _refused(*argv)
    assert f"{argv[-2]} is not an option of dicomnet {argv[0]}" in stderr
    assert f"use {ours}" in stderr


def test_a_dcmtk_flag_cluster_is_not_read_as_help() -> None:
    """-dhl (DCMTK's --disable-host-lookup) read as -d -h -l would print the help and
    exit 0 without doing anything."""
    stderr = _refused("echo", "-dhl", "127.0.0.1", "104")
    assert "-dhl is not an option of dicomnet echo" in stderr


def test_no_abbreviations() -> None:
    """--out meaning --output today would mean something else once an option starting
    with --out is added: a prefix is refused."""
    assert "unrecognized arguments: --out" in _refused("get", "127.0.0.1", "104",
                                                      "--out", "x")


def test_sequence_keys_in_both_spellings_build_the_same_identifier() -> None:
    keyword = build_query(["ScheduledProcedureStepSequence[0].Modality=CT",
                           "ScheduledProcedureStepSequence[0].ScheduledProcedureStep"
                           "StartDate=20250310-20250311", "PatientName="],
                          None, "worklist")
    tags = build_query(["(0040,0100)[0].(0008,0060)=CT",
                        "00400100[0].00400002=20250310-20250311", "(0010,0010)="],
                       None, "worklist")
    assert keyword == tags
    (step,) = keyword.ScheduledProcedureStepSequence
    assert step.Modality == "CT"
    assert step.ScheduledProcedureStepStartDate == "20250310-20250311"
    assert "QueryRetrieveLevel" not in keyword


def test_a_second_item_and_an_empty_sequence() -> None:
    query = build_query(["ReferencedStudySequence",
                         "ScheduledProcedureStepSequence[1].Modality=MR"], None, "worklist")
    assert len(query.ReferencedStudySequence) == 0
    items = query.ScheduledProcedureStepSequence
    assert len(items) == 2 and items[1].Modality == "MR" and len(items[0]) == 0


@pytest.mark.parametrize(("key", "says"), [
    ("PatientID[0].Modality=CT", "PatientID is not a sequence"),
    ("ScheduledProcedureStepSequence.Modality=CT", "say which item"),
    ("ScheduledProcedureStepSequence[0].Modalty=CT", "unknown attribute keyword 'Modalty'"),
    ("ScheduledProcedureStepSequence=CT", "a sequence takes no value"),
    ("ScheduledProcedureStepSequence[0]..Modality=CT", "cannot read ''"),
])
def test_a_wrong_sequence_key_says_what_is_wrong(key: str, says: str) -> None:
    with pytest.raises(ValueError) as caught:
        build_query([key], None, "worklist")
    assert says in str(caught.value) and key in str(caught.value)


def test_a_query_file_with_keys_on_top(tmp_path: Path) -> None:
    """-f FILE (findscu's query file): its data set without the file meta, -k keys
    added or replacing its values, its level kept unless -L is given."""
    dataset = pydicom.Dataset()
    dataset.QueryRetrieveLevel = "SERIES"
    dataset.PatientID = "123"
    dataset.Modality = ""
    dataset.file_meta = pydicom.dataset.FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    dataset.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.2.2.1"
    dataset.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    path = tmp_path / "query.dcm"
    dataset.save_as(path, enforce_file_format=True)
    query = query_for(_parse("find", "127.0.0.1", "104", "-f", str(path),
                             "-k", "PatientID=456", "-k", "SeriesInstanceUID="))
    assert query.QueryRetrieveLevel == "SERIES"
    assert query.PatientID == "456" and query.Modality == ""
    assert "SeriesInstanceUID" in query
    assert all(element.tag.group != 2 for element in query)
    relevelled = query_for(_parse("find", "127.0.0.1", "104", "-f", str(path),
                                  "-L", "STUDY"))
    assert relevelled.QueryRetrieveLevel == "STUDY"


def test_an_unreadable_query_file_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "dicomnet", "find", "127.0.0.1", "104",
                           "-f", str(tmp_path / "missing.dcm")], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.startswith("E: cannot read the query file")
    assert done.stderr.count("\n") == 1
