"""No import cycles inside distil_sdk, read from the source with `ast` (nothing is imported).

Two graphs:

- the runtime graph of the whole package: module-level imports only (an import inside a
  function, or under ``if TYPE_CHECKING:``, runs later or never). A cycle here makes the import
  order matter and breaks as soon as a module uses a name of the other at import time.
- the graph of the core modules directly under ``distil_sdk`` (credentials, configuration,
  the request pipeline...), with the ``TYPE_CHECKING`` imports too: they are dependencies a
  reader has to follow, and the core is meant to be a stack a newcomer reads bottom-up.

A dependency on a package counts as one on its ``__init__``, and loading ``p.sub.c`` loads
``p.sub`` too; but a module's own ancestors do not count when they are only implied (they are
already being imported when it runs, and every submodule would otherwise be in a cycle with
the package that re-exports it).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = "distil_sdk"


def _modules(src: Path, package: str) -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, is a package ``__init__``)."""
    found: dict[str, tuple[Path, bool]] = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        found[".".join(parts)] = (path, is_package)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level(body: Iterable[ast.stmt], type_checking: bool) -> Iterator[ast.stmt]:
    """The statements run at import (those under ``if``/``try`` too), minus function and class
    bodies; ``if TYPE_CHECKING:`` bodies only when ``type_checking``."""
    for stmt in body:
        if isinstance(stmt, ast.If):
            if type_checking or not _is_type_checking(stmt.test):
                yield from _module_level(stmt.body, type_checking)
            yield from _module_level(stmt.orelse, type_checking)
        elif isinstance(stmt, ast.Try):
            for block in (stmt.body, stmt.orelse, stmt.finalbody, *(h.body for h in stmt.handlers)):
                yield from _module_level(block, type_checking)
        else:
            yield stmt


def _targets(stmt: ast.stmt, package: str, modules: dict[str, tuple[Path, bool]]) -> Iterator[str]:
    """The modules of the package that one import statement of a module in ``package`` loads."""
    if isinstance(stmt, ast.Import):
        yield from (alias.name for alias in stmt.names if alias.name in modules)
    elif isinstance(stmt, ast.ImportFrom):
        if stmt.level:
            parts = package.split(".")
            base = ".".join(
                parts[: len(parts) - stmt.level + 1] + ([stmt.module] if stmt.module else [])
            )
        else:
            base = stmt.module or ""
        for alias in stmt.names:
            if f"{base}.{alias.name}" in modules:
                # `from . import slms` loads that module; the package itself is only looked up
                # (it is already in sys.modules: an ancestor, or loaded as the module's parent)
                yield f"{base}.{alias.name}"
            elif base in modules:  # a name defined in `base` itself: its code must have run
                yield base


def import_graph(src: Path, package: str, *, type_checking: bool) -> dict[str, set[str]]:
    modules = _modules(src, package)
    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in modules.items():
        parent = name if is_package else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        direct = {
            target
            for stmt in _module_level(tree.body, type_checking)
            for target in _targets(stmt, parent, modules)
        }
        # Loading `p.sub.c` runs `p/sub/__init__.py` first, unless it is our own ancestor
        # (already under way when this module runs).
        graph[name] = {
            module
            for target in direct
            for module in _with_parents(target)
            if module in modules and module != name and not name.startswith(module + ".")
        } | (direct - {name})
    return graph


def _with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _core(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The modules directly under the package (``distil_sdk._http``...), among themselves."""
    core = {name for name in graph if name.count(".") == 1}
    return {name: graph[name] & core for name in core}


def test_the_package_has_no_runtime_import_cycle() -> None:
    graph = import_graph(SRC, PACKAGE, type_checking=False)
    assert graph.get(f"{PACKAGE}._http")  # the walk saw imports
    assert cycles(graph) == []


def test_the_core_modules_form_a_stack_even_counting_type_checking_imports() -> None:
    # _auth once took RequestSpec through _http, which (for its types) reads _config, which
    # builds the credentials of _auth: _auth -> _http -> _config -> _auth.
    graph = _core(import_graph(SRC, PACKAGE, type_checking=True))
    assert f"{PACKAGE}._config" in graph[f"{PACKAGE}._http"]  # TYPE_CHECKING imports were read
    assert cycles(graph) == []


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@pytest.mark.parametrize(
    ("files", "type_checking", "expected"),
    [
        # a relative import through a sibling closes the loop
        ({"a.py": "from .b import x\n", "b.py": "from . import a\n"}, False, [["p.a", "p.b"]]),
        # under TYPE_CHECKING: a cycle of the typed graph only
        (
            {"a.py": "from .b import x\n", "b.py": "if TYPE_CHECKING:\n    from .a import y\n"},
            False,
            [],
        ),
        (
            {"a.py": "from .b import x\n", "b.py": "if TYPE_CHECKING:\n    from .a import y\n"},
            True,
            [["p.a", "p.b"]],
        ),
        # an import inside a function runs later: no cycle
        ({"a.py": "from .b import x\n", "b.py": "def f():\n    from .a import y\n"}, True, []),
        # `from . import sibling` in a module its package's __init__ imports: no cycle
        ({"__init__.py": "from . import a\n", "a.py": "from . import b\n", "b.py": ""}, False, []),
        # but a name the __init__ defines is a dependency on it
        (
            {"__init__.py": "from . import a\nX = 1\n", "a.py": "from . import X\n"},
            False,
            [["p", "p.a"]],
        ),
        # absolute imports, a subpackage, and a longer loop through its __init__
        (
            {
                "a.py": "import p.sub.c\n",
                "sub/__init__.py": "from ..b import z\n",
                "sub/c.py": "",
                "b.py": "from p import a\n",
            },
            False,
            [["p.a", "p.b", "p.sub"]],
        ),
    ],
)
def test_the_cycle_finder_finds_cycles(
    tmp_path: Path, files: dict[str, str], type_checking: bool, expected: list[list[str]]
) -> None:
    _write(tmp_path / "p", {"__init__.py": "", **files})  # files may replace the __init__
    assert cycles(import_graph(tmp_path, "p", type_checking=type_checking)) == expected
