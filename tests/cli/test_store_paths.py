"""`dicomnet store` checks the paths it was given before it connects."""

from __future__ import annotations

from pathlib import Path

import pytest

from dicomnet.cli.main import main


def test_a_missing_path_is_named_and_nothing_is_sent(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.dcm").write_bytes(b"not even DICOM")
    missing = tmp_path / "gone.dcm"
    # Port 1 on 127.0.0.1: nobody listens; the error must come before any connecting.
    assert main(["store", "127.0.0.1", "1", str(folder), str(missing)]) == 2
    assert f"no such file: {missing}" in capsys.readouterr().err


def test_a_folder_with_nothing_in_it_says_so(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["store", "127.0.0.1", "1", str(tmp_path)]) == 2
    assert "no files to send" in capsys.readouterr().err
