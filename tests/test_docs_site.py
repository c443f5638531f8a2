"""The built documentation site shows users what they may call, and nothing raw.

Builds the site once (``mkdocs build --strict``, the CI command, into a temporary folder) and
reads the rendered API pages as text: the docstrings are Markdown rendered by mkdocstrings, so
what a reader sees is only knowable after the build.
"""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mkdocs")
pytest.importorskip("mkdocstrings_handlers.python")

ROOT = Path(__file__).resolve().parent.parent
# A Sphinx role as rendered text (``:class:`` or ``:meth:`Foo```), or RST's double backticks.
RAW_MARKUP = re.compile(r":(?:meth|class|func|attr|mod|exc|data|obj|ref|py:\w+):|``")


def _page_text(path: Path) -> str:
    """The visible text of a built page: scripts and styles dropped, tags stripped."""
    page = path.read_text(encoding="utf-8")
    page = re.sub(r"<(script|style)\b[^>]*>.*?</\1>", "", page, flags=re.DOTALL)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return out


@pytest.mark.slow
def test_local_classifier_reference_shows_from_pretrained_not_the_constructor(site: Path) -> None:
    text = _page_text(site / "api" / "inference" / "index.html")
    # The constructor takes internal parts (a predictor, the model's files): users never call it.
    assert not re.search(r"LocalClassifier\(\s*predictor", text), "the constructor is shown"
    for internal in ("_Predictor", "ModelFiles"):
        assert internal not in text, f"{internal} (a constructor parameter type) is shown"
    assert re.search(r"from_pretrained\(\s*source:", text), "from_pretrained's signature is missing"


@pytest.mark.slow
def test_api_pages_show_no_raw_sphinx_markup(site: Path) -> None:
    pages = sorted((site / "api").rglob("*.html"))
    assert pages, "the build wrote no API pages"
    found = [
        f"{page.relative_to(site)}: ...{text[max(0, m.start() - 40) : m.end() + 40]!r}..."
        for page in pages
        for text in [_page_text(page)]
        for m in RAW_MARKUP.finditer(text)
    ]
    assert found == [], "\n".join(found)
