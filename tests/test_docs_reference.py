"""The API reference renders Markdown: no docstring in ``src/`` holds a raw Sphinx role.

mkdocstrings renders the Google-style docstrings as Markdown, where a role such as
``:class:`Foo``` shows up verbatim on the page. Names are written in backticks instead.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
ROLE = re.compile(r":(?:meth|class|func|attr|mod|exc|data|obj|ref|py:\w+):`")


def _docstrings(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                found.append((getattr(node, "lineno", 1), doc))
    return found


def test_no_docstring_holds_a_raw_sphinx_role() -> None:
    offenders = [
        f"{path.relative_to(SRC)}:{line}: {ROLE.search(doc).group(0)}"  # type: ignore[union-attr]
        for path in sorted(SRC.rglob("*.py"))
        for line, doc in _docstrings(ast.parse(path.read_text(encoding="utf-8")))
        if ROLE.search(doc)
    ]
    assert offenders == [], "\n".join(offenders)


def test_the_role_pattern_catches_a_role() -> None:
    tree = ast.parse('def f():\n    """Call :meth:`Client.get` first."""\n')
    assert [doc for _, doc in _docstrings(tree) if ROLE.search(doc)]
