"""LocalClassifier on a tiny generative (Llama-style) student: label scoring and the prompt."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from distil_sdk._errors import ModelLoadError  # noqa: E402
from distil_sdk.inference import LocalClassifier, build_classification_messages  # noqa: E402
from distil_sdk.inference._generative import render_prompt  # noqa: E402
from distil_sdk.inference._prompt import output_continuation  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from tiny_models import SMOL_TEXTS, generative_folder, write_job_description  # noqa: E402

LABELS = ["billing", "cards", "shopping"]
TEXTS = [
    "my card payment was charged a fee",
    "hello",
    "(starts with a bracket",
    "a kettle " * 15,
    "?",  # the shortest text (an empty one is refused)
]


@pytest.fixture(scope="module")
def llama_folder(tiny_llama: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generative_folder(tiny_llama, tmp_path_factory.mktemp("gen") / "model", LABELS)


@pytest.fixture(scope="module")
def gen(llama_folder: Path) -> LocalClassifier:
    return LocalClassifier.from_pretrained(llama_folder, device="cpu", batch_size=2)


def reference_proba(clf: LocalClassifier, texts: list[str]) -> np.ndarray:
    """Each (text, label) pair scored alone over the full prompt + ``<output>LABEL</output>``."""
    pred = clf._predictor
    rows = []
    for text in texts:
        ids = pred._encode([render_prompt(pred.tokenizer, pred.job_description, text)])[0]
        scores = []
        for label in clf.labels:
            cont = pred._encode([output_continuation(label)])[0]
            with torch.no_grad():
                logits = pred.model(input_ids=torch.tensor([ids + cont])).logits[0]
            logp = torch.log_softmax(logits.float(), -1)
            scores.append(sum(float(logp[len(ids) - 1 + k, tok]) for k, tok in enumerate(cont)))
        rows.append(torch.softmax(torch.tensor(scores), 0).numpy())
    return np.stack(rows)


def test_prompt_has_platform_structure() -> None:
    jd = {
        "task_description": "Route it.",
        "classes_description": {"a": "About A.", "b": "About B."},
    }
    system, user = build_classification_messages(jd, "some text")
    assert system["role"] == "system" and user["role"] == "user"
    assert "<task_description>Route it.</task_description>" in system["content"]
    assert (
        "<class_name>a</class_name>\n<class_description>About A.</class_description>"
        in system["content"]
    )
    assert "<output>" in system["content"]
    assert "Now for the real task, classify the following example" in user["content"]
    assert "<question>some text</question>" in user["content"]
    with pytest.raises(ValueError, match="classes_description"):
        build_classification_messages({"task_description": "x"}, "t")


def test_generative_labels_and_repr(gen: LocalClassifier) -> None:
    assert gen.kind == "generative"
    assert gen.labels == LABELS
    assert "generative" in repr(gen)


def test_scores_equal_unbatched_reference(gen: LocalClassifier) -> None:
    got = gen.predict_proba(TEXTS)
    assert got.shape == (len(TEXTS), 3)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(got, reference_proba(gen, TEXTS), atol=1e-5)
    np.testing.assert_allclose(gen.predict_proba(TEXTS[::-1]), got[::-1], atol=1e-5)
    assert gen.predict(t for t in TEXTS).tolist() == [LABELS[i] for i in got.argmax(axis=1)]


def test_batch_without_shared_prefix_gives_same_scores(
    gen: LocalClassifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    want = gen.predict_proba(TEXTS)
    pred = gen._predictor
    # A prefix no prompt starts with forces the full-prompt path for every batch.
    monkeypatch.setattr(pred, "prefix", [*pred.prefix[:-1], pred.prefix[-1] + 1])
    np.testing.assert_allclose(gen.predict_proba(TEXTS), want, atol=1e-5)


def test_job_description_passed_explicitly(llama_folder: Path, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(llama_folder, tmp_path / "model"))
    (folder / "job_description.json").unlink()
    with pytest.raises(ModelLoadError, match="job_description"):
        LocalClassifier.from_pretrained(folder)
    jd = {
        "task_description": "Sort it.",
        "classes_description": {"x": "X things.", "y": "Y things."},
    }
    clf = LocalClassifier.from_pretrained(folder, job_description=jd)
    assert clf.labels == ["x", "y"]
    path = write_job_description(tmp_path / "jd.json", ["cards", "billing"])
    assert LocalClassifier.from_pretrained(folder, job_description=path).labels == [
        "cards",
        "billing",
    ]


def test_too_long_text_is_truncated_with_warning(gen: LocalClassifier) -> None:
    with pytest.warns(UserWarning, match="truncated"):
        probs = gen.predict_proba(["the novel tells the story of a family " * 300])
    assert probs.shape == (1, 3)


@pytest.mark.integration
@pytest.mark.slow
def test_smollm2_gguf_scores_every_label(
    smollm2_gguf: tuple[Path, LocalClassifier],
) -> None:
    _, clf = smollm2_gguf  # LocalClassifier.from_pretrained(the .gguf file, job_description=)
    texts = SMOL_TEXTS
    probs = clf.predict_proba(texts)
    assert probs.shape == (2, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # The real 135M model gets these two easy products right.
    assert clf.predict(texts).tolist() == ["books", "electronics"]
