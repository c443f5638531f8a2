"""The Python snippets of docs/inference.md's pandas and evaluation sections run as written.

Each snippet runs with ``clf`` (a tiny real classifier), ``df`` (texts in a ``text`` column) and,
in the working folder, a labelled ``test.csv`` - the names the page uses.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import TINY_LABELS
from distil_sdk.inference import EvaluationReport, LocalClassifier

pd = pytest.importorskip("pandas")
pytest.importorskip("matplotlib")

DOC = Path(__file__).resolve().parent.parent / "docs" / "inference.md"
SECTIONS = ("### Output types, pandas", "## Evaluating")
TEXTS = ["my card payment was charged a fee", "a cotton shirt", "where is my new card"]


def _snippet(heading: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(heading + "\n")
    body = text[start : text.find("\n#", start + len(heading))]
    blocks = re.findall(r"```python\n(.*?)```", body, flags=re.DOTALL)
    assert len(blocks) == 1, heading
    return blocks[0]


@pytest.mark.parametrize("heading", SECTIONS)
def test_snippet_runs(
    heading: str,
    tiny_bert_classifier: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "test.csv").write_text(
        "question,answer\n"
        + "".join(f'"{t}",{g}\n' for t, g in zip(TEXTS, TINY_LABELS, strict=True))
    )
    clf = LocalClassifier.from_pretrained(tiny_bert_classifier, device="cpu")
    df = pd.DataFrame({"text": TEXTS}, index=[10, 20, 30])
    namespace = {"clf": clf, "df": df}
    exec(compile(_snippet(heading), str(DOC), "exec"), namespace)
    if heading.endswith("pandas"):
        out = namespace["df"]
        assert list(out.index) == [10, 20, 30]
        assert out["label"].tolist() == clf.predict(TEXTS).tolist()
        assert [f"p_{label}" for label in TINY_LABELS] == list(out.columns[-3:])
    else:
        assert isinstance(namespace["report"], EvaluationReport)
        assert (tmp_path / "cm.png").is_file()
