"""find_files: which files ``dicomnet store`` sends, and in which order."""

from __future__ import annotations

import os
from pathlib import Path

from dicomnet.services.storage import find_files


def _touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


def test_a_folder_gives_its_visible_files_in_name_order(tmp_path: Path) -> None:
    _touch(tmp_path, "b.dcm", "a.dcm", ".hidden.dcm", "sub/c.dcm", ".git/d.dcm")
    assert find_files([tmp_path]) == [tmp_path / "a.dcm", tmp_path / "b.dcm"]


def test_recursive_goes_into_visible_folders_in_path_order(tmp_path: Path) -> None:
    _touch(tmp_path, "z.dcm", "a/b/c.dcm", "a/y.dcm", "a-b.dcm", ".git/d.dcm",
           "a/.cache/e.dcm")
    # Ordered by path parts, as Path sorting does: "a/..." before "a-b.dcm".
    assert find_files([tmp_path], recursive=True) == [
        tmp_path / "a" / "b" / "c.dcm", tmp_path / "a" / "y.dcm", tmp_path / "a-b.dcm",
        tmp_path / "z.dcm"]


def test_only_regular_files_are_taken_and_links_to_folders_not_followed(
        tmp_path: Path) -> None:
    _touch(tmp_path, "real.dcm", "elsewhere/inner.dcm")
    os.mkfifo(tmp_path / "pipe")  # opening it would block
    (tmp_path / "link.dcm").symlink_to(tmp_path / "real.dcm")
    (tmp_path / "loop").symlink_to(tmp_path)  # a cycle, were links followed
    assert find_files([tmp_path], recursive=True) == [
        tmp_path / "elsewhere" / "inner.dcm", tmp_path / "link.dcm", tmp_path / "real.dcm"]


def test_paths_that_are_not_folders_are_kept_as_given(tmp_path: Path) -> None:
    _touch(tmp_path, "folder/a.dcm")
    given: list[str | os.PathLike[str]] = [
        tmp_path / "missing.dcm", tmp_path / "folder", str(tmp_path / "folder/a.dcm")]
    assert find_files(given) == [tmp_path / "missing.dcm", tmp_path / "folder" / "a.dcm",
                                 tmp_path / "folder" / "a.dcm"]
