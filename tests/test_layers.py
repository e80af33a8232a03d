"""The layers of DESIGN.md hold: the import contracts, no package cycle, state without LMDB.

Imports inside functions and under ``TYPE_CHECKING`` count everywhere here: a lazy
import is still a dependency.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("recorder", "state", "replay", "query", "tools")
# A module belongs to the longest of these that contains it ("recorder": the rest of it).
# recorder.errors is the error tree the venues, the daemon and the CLI share: its own layer.
# recorder.listing (the listing watcher) is run by the daemon and imports none of it.
GROUPS = ("recorder.journal", "recorder.errors", "recorder.venues", "recorder.listing",
          "recorder.daemon", "recorder", "state", "replay", "query", "tools")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, exclude_type_checking_imports=False, cache_dir=None)


@pytest.fixture(scope="module")
def linter_config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]


def group_of(module: str) -> str:
    return max((g for g in GROUPS if module == g or module.startswith(g + ".")), key=len)


def test_import_contracts_hold():
    p = subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--no-cache", "--no-logo"],
                       capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stdout + p.stderr


def test_contracts_have_no_exceptions(linter_config):
    """A broken rule is fixed in the code, never waived in the contract."""
    assert linter_config.get("exclude_type_checking_imports", False) is False
    contracts = linter_config["contracts"]
    assert {c["type"] for c in contracts} >= {"layers", "protected", "forbidden"}
    for c in contracts:
        assert not c.get("ignore_imports"), c["name"]
        assert not c.get("allow_indirect_imports"), c["name"]
        assert c.get("as_packages", True), c["name"]


def test_every_module_of_recorder_is_placed(graph, linter_config):
    """A new recorder.X (recorder.listing, say) is named by a contract before it lands."""
    named = {m for c in linter_config["contracts"] for key, value in c.items()
             if key in ("layers", "protected_modules", "allowed_importers", "source_modules",
                        "forbidden_modules")
             for item in value for m in item.replace("|", ":").split(":")}
    named = {m.strip().strip("()") for m in named}
    children = graph.find_children("recorder")
    assert {"recorder.journal", "recorder.venues", "recorder.daemon"} <= children
    assert not children - named, f"not in any contract: {sorted(children - named)}"


def test_no_import_cycle_between_packages(graph):
    edges: dict[tuple[str, str], list[str]] = {}
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            a, b = group_of(importer), group_of(imported)
            if a != b:
                for d in graph.get_import_details(importer=importer, imported=imported):
                    edges.setdefault((a, b), []).append(f"{importer}:{d['line_number']} -> {imported}")
    assert edges, "the graph holds imports between packages"

    def reaches(src: str, dst: str) -> bool:
        seen, todo = {src}, [src]
        while todo:
            n = todo.pop()
            for (a, b) in edges:
                if a == n and b not in seen:
                    if b == dst:
                        return True
                    seen.add(b)
                    todo.append(b)
        return False

    cycles = {f"{a} -> {b}: {', '.join(sorted(edges[a, b])[:3])}"
              for (a, b) in edges if reaches(b, a)}
    assert not cycles, "package cycles:\n" + "\n".join(sorted(cycles))


def test_state_loads_no_lmdb():
    """state/ folds records; opening a journal (LMDB) is the caller's business."""
    code = "import state.projector, sys; assert 'lmdb' not in sys.modules, 'lmdb loaded'"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr


def _dynamic_imports(path: Path) -> list[str]:
    """``import_module``/``__import__`` calls not naming a module of the same package (".x")."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
        if name not in ("import_module", "__import__"):
            continue
        arg = node.args[0] if node.args else None
        if isinstance(arg, ast.JoinedStr) and arg.values:
            arg = arg.values[0]
        if not (isinstance(arg, ast.Constant) and str(arg.value).startswith(".")):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_dynamic_import_hides_a_dependency():
    """The contracts see only static imports: a module of ours is imported by name, never by string."""
    found = [hit for pkg in ("recorder", "state", "replay", "query")
             for path in sorted((ROOT / pkg).rglob("*.py")) for hit in _dynamic_imports(path)]
    assert not found, "\n".join(found)
