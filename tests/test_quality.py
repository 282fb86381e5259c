"""Project rules that CI enforces through the test suite itself.

- The sans-IO core (pdu, ul, acse, dimse) never imports anything that does I/O or tells
  time, directly or through another dicomnet module (DESIGN.md, "Layers").
- ruff and mypy --strict are clean.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "dicomnet"
CORE = ("pdu", "ul", "acse", "dimse")
FORBIDDEN = {"anyio", "asyncio", "socket", "ssl", "time", "trio", "threading", "selectors",
             "sniffio", "subprocess"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    package = _module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" \
        else _module_name(path)
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                found.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                found.add(node.module)
    return found


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """All nodes except those under ``if TYPE_CHECKING:`` (never run)."""
    nodes: list[ast.AST] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            stack.extend(node.orelse)
            continue
        nodes.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return nodes


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in PACKAGE.rglob("*.py")}


def test_sans_io_core_imports_no_io() -> None:
    graph = _graph()
    core = [m for m in graph if m.split(".")[1:2] and m.split(".")[1] in CORE]
    assert len(core) >= 8, f"expected the core modules, found {core}"
    problems = []
    for start in core:
        seen: set[str] = set()
        stack = [(start, [start])]
        while stack:
            module, path = stack.pop()
            if module in seen:
                continue
            seen.add(module)
            for imported in graph.get(module, set()):
                top = imported.split(".")[0]
                if top in FORBIDDEN:
                    problems.append(" -> ".join([*path, imported]))
                candidates = [imported, imported.rsplit(".", 1)[0]]
                for candidate in candidates:
                    if candidate in graph and candidate != module:
                        stack.append((candidate, [*path, candidate]))
    assert not problems, "the sans-IO core reaches I/O:\n" + "\n".join(sorted(set(problems)))


def test_core_does_not_import_upper_layers() -> None:
    """Arrows point downwards only (DESIGN.md): the core never imports association,
    client, server, services or cli."""
    upper = ("dicomnet.association", "dicomnet.client", "dicomnet.server",
             "dicomnet.services", "dicomnet.cli", "dicomnet.archive", "dicomnet.tls")
    graph = _graph()
    bad = [(m, i) for m, imports in graph.items() if m.split(".")[1:2]
           and m.split(".")[1] in CORE for i in imports if i.startswith(upper)]
    assert not bad, bad


@pytest.mark.parametrize("tool", [
    [sys.executable, "-m", "ruff", "check", "dicomnet", "tests", "conformance", "benchmarks",
     "examples"],
    [sys.executable, "-m", "mypy", "dicomnet"],
], ids=["ruff", "mypy"])
def test_linters_clean(tool: list[str]) -> None:
    targets = [t for t in tool[4:] if (ROOT / t).exists()] if tool[2] == "ruff" else []
    args = tool[:4] + targets if tool[2] == "ruff" else tool
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
