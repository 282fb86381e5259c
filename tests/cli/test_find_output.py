"""What ``dicomnet find`` prints: the same DICOM JSON as pydicom's for every match, a
text listing without a file meta block, and a start-up that does not import pydicom
when the keys do not need it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import anyio
import anyio.from_thread
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from dicomnet.association import IncomingRequest
from dicomnet.cli.main import main
from dicomnet.cli.query import build_query
from dicomnet.cli.query_keys import encode_keys, parse_keys
from dicomnet.dimse.dataset import decode_dataset, encode_dataset
from dicomnet.server import Server
from dicomnet.testing import serving_in_a_thread

EXPLICIT = "1.2.840.10008.1.2.1"
IMPLICIT = "1.2.840.10008.1.2"


def _matches() -> list[Dataset]:
    plain = Dataset()
    plain.QueryRetrieveLevel = "STUDY"
    plain.PatientName = "Doe^John"
    plain.PatientID = "P1"
    plain.StudyInstanceUID = "1.2.3.4"
    plain.NumberOfStudyRelatedInstances = "12"
    plain.ModalitiesInStudy = ["CT", "MR"]
    plain.StudyDescription = ""
    rich = Dataset()
    rich.QueryRetrieveLevel = "STUDY"
    rich.SpecificCharacterSet = "ISO_IR 192"
    rich.PatientName = "Yamada^Tarou=山田^太郎=やまだ^たろう"
    rich.PatientWeight = "72.5"
    code = Dataset()
    code.CodeValue = "X1"
    code.CodeMeaning = "Über"
    rich.ProcedureCodeSequence = Sequence([code, Dataset()])
    rich.Rows = 512
    latin = Dataset()
    latin.QueryRetrieveLevel = "STUDY"
    latin.SpecificCharacterSet = "ISO_IR 100"
    latin.PatientName = "Müller^Jürgen"
    return [plain, rich, latin]


@pytest.fixture
def find_port() -> Iterator[int]:
    server = Server("ARCHIVE")

    @server.on_find()
    async def answer(request: IncomingRequest) -> AsyncIterator[Dataset]:
        for match in _matches():
            yield match

    with serving_in_a_thread(server) as port:
        yield port


def test_json_lines_are_pydicoms(find_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["find", "127.0.0.1", str(find_port), "-aec", "ARCHIVE", "--json",
                 "-k", "PatientName="])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    expected = [decode_dataset(encode_dataset(match, EXPLICIT), EXPLICIT).to_json()
                for match in _matches()]
    assert lines == expected
    assert json.loads(lines[1])["00100010"]["Value"][0]["Ideographic"] == "山田^太郎"


def test_text_has_no_file_meta_block(find_port: int,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["find", "127.0.0.1", str(find_port), "-aec", "ARCHIVE",
                 "-k", "PatientName="])
    assert code == 0
    out = capsys.readouterr().out
    assert "file_meta" not in out and "Transfer Syntax UID" not in out
    assert "# match 1\n" in out and "# match 3\n" in out
    assert "(0010,0010) Patient's Name                      PN: 'Doe^John'" in out
    assert "(0008,0061) Modalities in Study                 CS: ['CT', 'MR']" in out
    assert "(0020,000D) Study Instance UID                  UI: 1.2.3.4" in out
    assert "(0028,0010) Rows                                US: 512" in out
    assert "(0008,1032)  Procedure Code Sequence  2 item(s) ---- " in out
    assert "   (0008,0104) Code Meaning                        LO: 'Über'" in out
    assert "(0010,0010) Patient's Name                      PN: 'Müller^Jürgen'" in out


def test_find_starts_without_pydicom(find_port: int) -> None:
    script = ("import sys\nfrom dicomnet.cli.main import main\n"
              f"code = main(['find', '127.0.0.1', '{find_port}', '-aec', 'ARCHIVE', "
              "'--json', '-k', 'PatientName=', '-k', 'NumberOfStudyRelatedInstances='])\n"
              "print(code, 'pydicom' in sys.modules, file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.stderr.splitlines()[-1] == "0 False", done.stderr
    assert len(done.stdout.splitlines()) == 3


@pytest.mark.parametrize("keys", [
    ["PatientName=Doe*", "StudyInstanceUID=", "StudyDate=20200101-"],
    ["InstanceNumber=", "SOPInstanceUID=", "SeriesInstanceUID=1.2.3"],
    ["InstanceNumber=05", "SliceThickness=1.50", "PatientWeight=-.5e3"],
    ["(0010,0020)=X", "00100030=", "ModalitiesInStudy=CT\\MR"],
    ["PatientID=A", "PatientID=B"],
    ["TextValue=" + "x" * 70000],
])
@pytest.mark.parametrize("syntax", [EXPLICIT, IMPLICIT])
def test_keys_encode_as_pydicom_encodes_them(keys: list[str], syntax: str) -> None:
    parsed = parse_keys(keys, "IMAGE", "study")
    assert parsed is not None
    assert encode_keys(parsed, syntax) == encode_dataset(build_query(keys, "IMAGE", "study"),
                                                         syntax)


@pytest.mark.parametrize("keys", [
    ["InstanceNumber=1.0"], ["PatientName=Müller"], ["ScheduledProcedureStepSequence"],
    ["Rows=512"], ["(0010,00ZZ)=1"],
])
def test_keys_pydicom_must_build_are_left_to_it(keys: list[str]) -> None:
    assert parse_keys(keys, "STUDY", "study") is None


def test_unknown_keyword_is_refused_as_before() -> None:
    with pytest.raises(ValueError, match="unknown attribute keyword 'PatientNam'"):
        parse_keys(["PatientNam=1"], "STUDY", "study")
    with pytest.raises(ValueError, match="unknown attribute keyword 'PatientNam'"):
        build_query(["PatientNam=1"], "STUDY", "study")


def test_response_elements_without_pydicom(find_port: int) -> None:
    from dicomnet.client import connect
    from dicomnet.services.query_retrieve import STUDY_ROOT_FIND, find

    async def run() -> list[object]:
        found: list[object] = []
        async with connect("127.0.0.1", find_port, called_ae="ARCHIVE",
                           contexts=[STUDY_ROOT_FIND]) as association:
            async for response in find(association, build_query([], "STUDY", "study")):
                found.append(response.elements())
        return found

    first, _rich, _latin, final = anyio.run(run)
    assert final is None  # the final response has no identifier
    assert isinstance(first, list)
    by_tag = {element.tag: element for element in first}
    assert by_tag[0x00100010].vr == "PN" and by_tag[0x00100010].value == b"Doe^John"
    assert by_tag[0x00080061].value == b"CT\\MR "


def test_text_of_what_only_pydicom_reads_has_no_file_meta_block() -> None:
    from dicomnet.cli.match_output import dataset_text

    identifier = Dataset()
    identifier.PatientID = "P1"
    identifier.PixelPaddingValue = 0  # US or SS: implicit VR needs pydicom
    identifier.add_new(0x00090010, "LO", "ACME")  # private: pydicom's in implicit VR
    identifier.add_new(0x00091001, "OB", b"\x00\x01")  # binary: listed by pydicom
    for syntax in (EXPLICIT, IMPLICIT, "1.2.840.10008.1.2.2"):
        text = dataset_text(encode_dataset(identifier, syntax), syntax)
        assert "(0010,0020) Patient ID" in text and "'P1'" in text
        assert "file_meta" not in text and "Transfer Syntax UID" not in text
