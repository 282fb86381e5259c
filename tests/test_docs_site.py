"""The documentation site builds, and what the guide says is checked against the code.

- Sphinx builds docs/ (MyST Markdown pages and the autodoc API reference) with warnings
  as errors: a broken link, a missing page, a docstring autodoc cannot parse, an
  example file a page includes that moved, all fail here.
- Every ``dicomnet ...`` command line in a shell block of the guide parses with the
  real argument parser, and every option the DCMTK migration table names exists.
- Every Python block compiles, and every ``dicomnet.x.y`` name the guide mentions
  exists (or is one of the library's logger names).
"""

from __future__ import annotations

import ast
import importlib
import re
import shlex
import subprocess
import sys
import time
from html import unescape
from pathlib import Path

import pytest

from dicomnet.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
KEY_PAGES = ["index", "quickstart", "client", "server", "logging", "events", "examples",
             "migrating-pynetdicom", "migrating-dcmtk", "cli", "api", "conformance",
             "performance"]

_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _blocks(language: str) -> list[tuple[str, str]]:
    """(page name, text) of every fenced block in the given language."""
    found = []
    for page in PAGES:
        for lang, body in _FENCE.findall(page.read_text()):
            if lang == language:
                found.append((page.name, body))
    return found


def test_site_builds_without_warnings(tmp_path: Path) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / "html")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    assert elapsed < 120, f"the documentation took {elapsed:.0f} s to build"
    html = tmp_path / "html"
    for page in KEY_PAGES:
        assert (html / f"{page}.html").is_file(), f"{page}.html was not built"
    api = (html / "api.html").read_text()
    for name in _API_IDS:
        assert f'id="{name}"' in api, f"{name} is missing from the API reference"
    _check_signatures(api)
    _check_code_blocks_scroll(html)
    # The guide's code comes from the tested examples.
    assert "store_concurrently" in (html / "client.html").read_text()
    assert "identifier_matches" in (html / "server.html").read_text()
    assert "dicomnet serve" in (html / "cli.html").read_text()


# One or more names of every public module the API reference must cover.
_API_IDS = (
    "dicomnet.client.connect", "dicomnet.server.Server", "dicomnet.pool.AssociationPool",
    "dicomnet.service_methods.Association", "dicomnet.association.AssociationDriver",
    "dicomnet.incoming_request.IncomingRequest", "dicomnet.errors.DicomNetError",
    "dicomnet.connection.DicomConnection",
    "dicomnet.connection_events.Response", "dicomnet.connection_events.Response.message",
    "dicomnet.connection_events.Response.context",
    "dicomnet.connection_events.Response.raw_dataset",
    "dicomnet.connection_events.Response.status", "dicomnet.connection_events.Response.dataset",
    "dicomnet.services.normalized.n_get", "dicomnet.services.normalized.NormalizedHandlers",
    "dicomnet.services.commitment.request_commitment",
    "dicomnet.services.commitment.CommitmentSCP", "dicomnet.services.mpps.MPPSSCP",
    "dicomnet.services.failure.ServiceFailure",
    "dicomnet.tls.client_context", "dicomnet.tls.create_test_pki",
    "dicomnet.user_identity.username", "dicomnet.user_identity.PasscodeFile",
    "dicomnet.access_rules.parse_networks",
    "dicomnet.dimse.messages.DIMSEMessage", "dicomnet.dimse.messages.CEchoRQ",
    "dicomnet.dimse.messages.CStoreRQ", "dicomnet.dimse.messages.NDeleteRSP",
    "dicomnet.acse.negotiated.AcceptedContext", "dicomnet.acse.negotiated.Negotiated",
    "dicomnet.events.Event", "dicomnet.events.EventHub", "dicomnet.event_log.log_event",
    "dicomnet.archive.Archive", "dicomnet.archive.install",
    "dicomnet.archive.matching.identifier_matches",
)

_SIGNATURE = re.compile(r'<dt class="sig sig-object py" id="([^"]+)">(.*?)</dt>', re.DOTALL)


def _check_signatures(api: str) -> None:
    """Long unions are shown by their alias's name, not spelled out in every signature
    (a method taking a DIMSE message read as 23 class names)."""
    checked = 0
    for name, body in _SIGNATURE.findall(api):
        text = unescape(re.sub(r"<[^>]+>", "", body))
        members = max((len(part.split("|")) for part in re.split(r"[\[\](),]", text)),
                      default=1)
        assert members <= 6, f"{name} spells out a union of {members}: {text[:200]}"
        assert "TypeAliasForwardRef" not in text, f"{name}: {text[:200]}"
        checked += 1
    assert checked > 300
    request = re.search(r'id="dicomnet.association.AssociationDriver.request">(.*?)</dt>',
                        api, re.DOTALL)
    assert request is not None
    assert "DIMSEMessage" in re.sub(r"<[^>]+>", "", request[1])


def _check_code_blocks_scroll(html_dir: Path) -> None:
    """Code blocks wider than the page scroll sideways (and wrap in print) instead of
    being cut: our stylesheet says so, and every page loads it after the theme's."""
    css = (html_dir / "_static" / "dicomnet.css").read_text()
    screen, _, paper = css.partition("@media print")
    assert re.search(r"div\.highlight pre[^{]*\{[^}]*overflow-x:\s*auto", screen), screen
    assert re.search(r"pre[^{]*\{[^}]*white-space:\s*pre-wrap", paper), paper
    for page in KEY_PAGES:
        text = (html_dir / f"{page}.html").read_text()
        theme = text.find("_static/alabaster.css")
        ours = text.find("_static/dicomnet.css")
        assert 0 <= theme < ours, f"{page}.html does not load dicomnet.css after the theme"


def _command_lines() -> list[tuple[str, str]]:
    lines = []
    for page, body in _blocks("sh"):
        for line in body.splitlines():
            for part in line.split("&&"):
                words = part.strip().removesuffix("&").strip()
                if words.startswith((".venv/bin/dicomnet ", "dicomnet ")):
                    lines.append((page, words))
    return lines


@pytest.mark.parametrize(("page", "line"), _command_lines())
def test_command_lines_in_the_guide_parse(page: str, line: str) -> None:
    parser = build_parser()
    try:
        parser.parse_args(shlex.split(line)[1:])
    except SystemExit as exc:  # argparse reports errors by exiting
        pytest.fail(f"{page}: {line!r} does not parse (exit {exc.code})")


def test_there_are_command_lines_to_check() -> None:
    pages = {page for page, _line in _command_lines()}
    assert {"quickstart.md", "migrating-dcmtk.md"} <= pages


def _all_options() -> set[str]:
    import argparse

    parser = build_parser()
    options: set[str] = set()
    for action in parser._actions:  # argparse keeps subparsers here; no public accessor
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                for sub_action in sub._actions:
                    options.update(sub_action.option_strings)
    return options


def test_options_in_the_dcmtk_table_exist() -> None:
    options = _all_options()
    text = (DOCS / "migrating-dcmtk.md").read_text()
    checked = 0
    for row in text.splitlines():
        cells = [cell.strip() for cell in row.strip().strip("|").split(" | ")]
        if not row.startswith("|") or len(cells) < 2:
            continue
        for span in re.findall(r"`([^`]*)`", cells[1]):
            for word in shlex.split(span):
                if word.startswith("-"):
                    assert word in options, f"dicomnet has no option {word} ({row})"
                    checked += 1
    assert checked > 20


@pytest.mark.parametrize(("page", "source"), _blocks("python"))
def test_python_blocks_compile(page: str, source: str) -> None:
    try:
        compile(source, page, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    except SyntaxError as exc:
        pytest.fail(f"{page}: a Python block does not compile: {exc}")


def _logger_names() -> set[str]:
    names = set()
    for path in (ROOT / "dicomnet").rglob("*.py"):
        names.update(re.findall(r'getLogger\("([\w.]+)"\)', path.read_text()))
    return names


def _resolves(name: str) -> bool:
    parts = name.split(".")
    for split in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        try:
            for attribute in parts[split:]:
                target = getattr(target, attribute)
        except AttributeError:
            return False
        return True
    return False


def test_dicomnet_names_in_the_guide_exist() -> None:
    loggers = _logger_names()
    missing = []
    for page in PAGES:
        for name in sorted(set(re.findall(r"\bdicomnet(?:\.[A-Za-z_]\w*)+", page.read_text()))):
            if name not in loggers and not _resolves(name):
                missing.append(f"{page.name}: {name}")
    assert not missing, "the guide names what does not exist:\n" + "\n".join(missing)


def test_logging_page_names_real_loggers() -> None:
    loggers = _logger_names()
    table = re.findall(r"^\| `(dicomnet[\w.]*)` \|", (DOCS / "logging.md").read_text(),
                       re.MULTILINE)
    assert len(table) >= 8
    assert set(table) <= loggers, set(table) - loggers


@pytest.mark.parametrize("marker", ["main-command", "test-command"])
def test_quickstart_has_the_readme_commands(marker: str) -> None:
    readme = (ROOT / "README.md").read_text()
    command = readme.split(f"<!-- {marker} -->", 1)[1].split("```sh\n", 1)[1] \
        .split("\n```", 1)[0].strip()
    assert command in (DOCS / "quickstart.md").read_text()


_DCMTK_TOOLS = ("echoscu", "storescu", "findscu", "getscu", "movescu", "storescp",
                "dcmqrscp")


def _dcmtk_options(tool: str) -> set[str]:
    from dicomnet.testing import dcmtk_binary

    done = subprocess.run([dcmtk_binary(tool), "--help"], capture_output=True, text=True,
                          timeout=30, check=False)
    return set(re.findall(r"(?<![\w-])([-+][A-Za-z][\w-]*)", done.stdout + done.stderr))


@pytest.mark.interop
def test_dcmtk_command_lines_in_the_guide_use_real_options() -> None:
    """The DCMTK side of the migration page is true of DCMTK 3.6's tools too."""
    options = {tool: _dcmtk_options(tool) for tool in _DCMTK_TOOLS}
    every = set().union(*options.values())
    checked = 0
    for page, body in _blocks("sh"):
        for line in body.splitlines():
            words = shlex.split(line.strip().removesuffix("&"))
            if not words or words[0] not in options:
                continue
            for word in words[1:]:
                if word[:1] in "-+" and word[1:2].isalpha():
                    assert word in options[words[0]], f"{page}: {words[0]} has no {word}"
                    checked += 1
    text = (DOCS / "migrating-dcmtk.md").read_text()
    for row in text.splitlines():
        cells = [cell.strip() for cell in row.strip().strip("|").split(" | ")]
        if not row.startswith("|") or len(cells) < 2:
            continue
        for span in re.findall(r"`([^`]*)`", cells[0]):
            for word in shlex.split(span):
                if word[:1] in "-+" and word[1:2].isalpha():
                    assert word in every, f"no DCMTK tool has {word} ({row})"
                    checked += 1
    assert checked > 20
