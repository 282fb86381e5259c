"""The codec is one-way: records are plain data, the writers are found by table, and
the modules of dicomnet.pdu import each other without a cycle."""

from __future__ import annotations

import ast
import importlib.util
import inspect
from pathlib import Path
from types import ModuleType

import pytest

import dicomnet.pdu
from dicomnet.pdu import (
    PDV,
    AAbort,
    PresentationContextRQ,
    encode_item,
    encode_pdu,
    items,
    pdus,
)
from dicomnet.pdu.encode import ITEM_ENCODERS, PDU_ENCODERS
from dicomnet.records import record

PDU_DIR = Path(dicomnet.pdu.__file__).parent


def _record_types(module: ModuleType) -> list[type]:
    """The record classes a module defines (not the ones it imports)."""
    return [cls for _, cls in inspect.getmembers(module, inspect.isclass)
            if cls.__module__ == module.__name__ and hasattr(cls, "__dataclass_fields__")]


def test_every_pdu_and_item_record_type_has_an_encoder() -> None:
    records = _record_types(pdus) + _record_types(items)
    assert len(records) >= 7 + 15  # the seven PDUs, four items, ten sub-items, PDV
    for cls in records:
        is_pdu = hasattr(cls, "pdu_type")
        assert (cls in PDU_ENCODERS) == is_pdu, cls.__name__
        assert (cls in ITEM_ENCODERS) == (not is_pdu), cls.__name__
        assert not hasattr(cls, "encode"), f"{cls.__name__} should be plain data"
    assert set(PDU_ENCODERS) | set(ITEM_ENCODERS) == set(records)


def test_a_pdu_type_without_an_encoder_fails_at_import(monkeypatch: pytest.MonkeyPatch,
                                                      ) -> None:
    @record()
    class AFuturePDU:
        pdu_type = 0x08

    # Load encode.py afresh, as if dicomnet.pdu.pdus had grown a PDU it does not know.
    monkeypatch.setattr(pdus, "PDU", pdus.PDU | AFuturePDU)
    spec = importlib.util.spec_from_file_location("encode_under_test", PDU_DIR / "encode.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with pytest.raises(TypeError, match="no PDU encoder for AFuturePDU"):
        spec.loader.exec_module(module)


@pytest.mark.parametrize(("encode", "value", "name"), [
    (encode_pdu, object(), "object is not a PDU record"),
    (encode_pdu, PresentationContextRQ(1, "1.2", ("1.2",)),
     "PresentationContextRQ is not a PDU record"),
    (encode_pdu, PDV(1, True, True, b""), "PDV is not a PDU record"),
    (encode_item, AAbort(), "AAbort is not an item record"),
    (encode_item, b"\x10\x00\x00\x00", "bytes is not an item record"),
], ids=["object", "item as PDU", "PDV as PDU", "PDU as item", "bytes as item"])
def test_what_is_no_record_is_a_clear_type_error(encode: object, value: object,
                                                 name: str) -> None:
    with pytest.raises(TypeError, match=name):
        encode(value)  # type: ignore[operator]


# -- no import cycle inside dicomnet.pdu --------------------------------------------------


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, package: str) -> set[str]:
    """Every module ``module`` imports, at module level or inside a function, leaving
    out ``if TYPE_CHECKING:`` blocks (they never run)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            # "from package import submodule" imports the submodule as well.
            found.update(f"{target}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    found.discard(module)
    return found


def _pdu_import_graph() -> dict[str, set[str]]:
    names = {path: ("dicomnet.pdu" if path.stem == "__init__" else f"dicomnet.pdu.{path.stem}")
             for path in sorted(PDU_DIR.glob("*.py"))}
    modules = set(names.values())
    return {name: _imports(ast.parse(path.read_text(encoding="utf-8")), name,
                           "dicomnet.pdu") & modules
            for path, name in names.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target):], target]
            if target not in state and (found := walk(target)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := walk(node)) is not None:
            return found
    return None


def test_the_pdu_modules_import_each_other_without_a_cycle() -> None:
    graph = _pdu_import_graph()
    assert "dicomnet.pdu.encode" in graph["dicomnet.pdu.codec"]  # the parse sees imports
    cycle = _cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def test_the_records_import_no_codec() -> None:
    graph = _pdu_import_graph()
    codec = {"dicomnet.pdu.codec", "dicomnet.pdu.encode", "dicomnet.pdu.decode",
             "dicomnet.pdu", "dicomnet.pdu.framer"}
    for records in ("dicomnet.pdu.items", "dicomnet.pdu.pdus"):
        assert not graph[records] & codec, records


def test_the_cycle_finder_finds_a_function_level_import_cycle() -> None:
    source = "import dicomnet.pdu.b\n"
    lazy = "def f():\n    from dicomnet.pdu.a import x\n"
    hidden = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import dicomnet.pdu.a\n"
    modules = {"dicomnet.pdu.a", "dicomnet.pdu.b"}
    graph = {"dicomnet.pdu.a": _imports(ast.parse(source), "dicomnet.pdu.a", "dicomnet.pdu"),
             "dicomnet.pdu.b": _imports(ast.parse(lazy), "dicomnet.pdu.b", "dicomnet.pdu")}
    assert _cycle({k: v & modules for k, v in graph.items()}) == [
        "dicomnet.pdu.a", "dicomnet.pdu.b", "dicomnet.pdu.a"]
    graph["dicomnet.pdu.b"] = _imports(ast.parse(hidden), "dicomnet.pdu.b", "dicomnet.pdu")
    assert _cycle({k: v & modules for k, v in graph.items()}) is None


@pytest.mark.parametrize("name", ["encode", "decode"])
def test_the_codec_packs_through_module_bound_structs(name: str) -> None:
    """CPython compiles ``name.method()`` on a name bound by an import without
    LOAD_METHOD; the codec's structs are rebound so that pack/unpack stay fast."""
    tree = ast.parse((PDU_DIR / f"{name}.py").read_text(encoding="utf-8"))
    imported = {alias.asname or alias.name for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) for alias in node.names}
    calls = [node.func.value.id for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
             and node.func.attr in ("pack", "unpack_from")
             and isinstance(node.func.value, ast.Name)]
    assert calls, "the parse finds the struct calls"
    assert not [n for n in calls if n in imported]
