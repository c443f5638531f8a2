"""LocalClassifier on LoRA adapters (``model-adapter/``), as the platform ships them.

Each adapter is random (``init_lora_weights=False``, small r) and made here with
``peft.get_peft_model`` + ``save_pretrained``; the reference is the same model merged with
``merge_and_unload`` and saved as a plain folder. Loading the adapter must give the merged
model's probabilities.
"""

from __future__ import annotations

import json
import shutil
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from distil_sdk._errors import ModelLoadError  # noqa: E402
from distil_sdk.inference import LocalClassifier  # noqa: E402
from distil_sdk.local._jobs.packaging import ADAPTER_PREFIX, package_model, package_slm  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from tiny_models import (  # noqa: E402
    SMOL_JD,
    SMOL_TEXTS,
    build_tiny_bert,
    generative_folder,
    write_job_description,
)

LABELS = ["billing", "cards", "shopping"]
TEXTS = [
    "my card payment was charged a fee",
    "hello",
    "a kettle for the kitchen with steel finish",
    "?",  # the shortest text (an empty one is refused)
]
TOLERANCE = 1e-4
# Everything of a model folder but its weights and config: tokenizer, chat template, labels.
_WEIGHT_FILES = ("config.json", "model.safetensors", "generation_config.json")


def _lora(model: Any, task: str, targets: list[str], seed: int = 1) -> Any:
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    # A large scale (alpha / r = 16): the tiny random adapter changes the scores visibly.
    config = LoraConfig(
        task_type=task, r=4, lora_alpha=64, target_modules=targets, init_lora_weights=False
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # peft on transformers 5
        return get_peft_model(model, config)


def _save_merged(peft_model: Any, base: Path, dest: Path) -> Path:
    """The merged model as a plain folder, with the base's tokenizer files."""
    peft_model.merge_and_unload().save_pretrained(dest, safe_serialization=True)
    for path in base.iterdir():
        if path.is_file() and path.name not in _WEIGHT_FILES:
            shutil.copy(path, dest / path.name)
    return dest


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max())


@pytest.fixture(scope="module")
def llama_lora(tiny_llama: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny Llama base, a LoRA adapter on it in a tarball folder, and the merged model."""
    from transformers import AutoModelForCausalLM

    root = tmp_path_factory.mktemp("llama-lora")
    base = generative_folder(tiny_llama, root / "base", LABELS)
    tarball = root / "tarball"
    peft_model = _lora(
        AutoModelForCausalLM.from_pretrained(base),
        "CAUSAL_LM",
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    )
    peft_model.save_pretrained(tarball / ADAPTER_PREFIX)
    write_job_description(tarball / "job_description.json", LABELS)
    merged = _save_merged(peft_model, base, root / "merged")
    return {"base": base, "tarball": tarball, "adapter": tarball / ADAPTER_PREFIX, "merged": merged}


@pytest.fixture(scope="module")
def bert_lora(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny BERT encoder (no head), a sequence-classification LoRA adapter trained on it
    (the head saved with it), and the merged classifier."""
    from transformers import AutoModelForSequenceClassification

    root = tmp_path_factory.mktemp("bert-lora")
    base = build_tiny_bert(root / "base")  # an encoder: no head, no labels
    model = AutoModelForSequenceClassification.from_pretrained(
        base,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
    )
    peft_model = _lora(model, "SEQ_CLS", ["query", "value"])
    tarball = root / "tarball"
    peft_model.save_pretrained(tarball / ADAPTER_PREFIX)
    write_job_description(tarball / "job_description.json", LABELS)
    merged = _save_merged(peft_model, base, root / "merged")
    return {"base": base, "tarball": tarball, "adapter": tarball / ADAPTER_PREFIX, "merged": merged}


def _rebased(adapter: Path, dest: Path, base_name: str | None) -> Path:
    """A copy of ``adapter`` whose config names ``base_name`` as its base (None: no base)."""
    copy = Path(shutil.copytree(adapter, dest))
    config = json.loads((copy / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = base_name
    (copy / "adapter_config.json").write_text(json.dumps(config))
    return copy


# -- sequence classification -------------------------------------------------------------


def test_sequence_adapter_gives_the_merged_probabilities(bert_lora: dict[str, Path]) -> None:
    merged = LocalClassifier.from_pretrained(bert_lora["merged"], device="cpu")
    for source in (bert_lora["adapter"], bert_lora["tarball"]):
        clf = LocalClassifier.from_pretrained(source, device="cpu")
        assert clf.kind == "sequence-classification"
        assert clf.labels == LABELS  # from the tarball's job_description.json, in head order
        assert clf.model_path == bert_lora["adapter"]
        assert clf.base_model == str(bert_lora["base"])
        assert "base_model=" in repr(clf)
        assert _max_diff(clf.predict_proba(TEXTS), merged.predict_proba(TEXTS)) <= TOLERANCE


def test_sequence_adapter_labels_must_fit_its_head(
    bert_lora: dict[str, Path], tmp_path: Path
) -> None:
    adapter = Path(shutil.copytree(bert_lora["adapter"], tmp_path / "alone" / ADAPTER_PREFIX))
    with pytest.raises(ModelLoadError, match=r"3 classes.*job_description="):
        LocalClassifier.from_pretrained(adapter, device="cpu")
    two = {"task_description": "t", "classes_description": {"a": "A", "b": "B"}}
    with pytest.raises(ModelLoadError, match="3 classes"):
        LocalClassifier.from_pretrained(adapter, device="cpu", job_description=two)
    jd = write_job_description(tmp_path / "jd.json", ["x", "y", "z"])
    clf = LocalClassifier.from_pretrained(adapter, device="cpu", job_description=jd)
    assert clf.labels == ["x", "y", "z"]


def test_int8_needs_merged_weights(bert_lora: dict[str, Path]) -> None:
    with pytest.raises(ModelLoadError, match="int8"):
        LocalClassifier.from_pretrained(bert_lora["adapter"], device="cpu", precision="int8")


# -- generative --------------------------------------------------------------------------


def test_generative_adapter_gives_the_merged_probabilities(llama_lora: dict[str, Path]) -> None:
    merged = LocalClassifier.from_pretrained(llama_lora["merged"], device="cpu")
    want = merged.predict_proba(TEXTS)
    clf = LocalClassifier.from_pretrained(llama_lora["tarball"], device="cpu", batch_size=2)
    assert clf.kind == "generative" and clf.labels == LABELS
    assert clf.base_model == str(llama_lora["base"])
    got = clf.predict_proba(TEXTS)
    assert _max_diff(got, want) <= TOLERANCE
    # The adapter changed the model: the base alone scores differently.
    base = LocalClassifier.from_pretrained(llama_lora["base"], device="cpu")
    assert _max_diff(base.predict_proba(TEXTS), got) > 1e-3


def test_tarball_folder_prefers_merged_model(llama_lora: dict[str, Path], tmp_path: Path) -> None:
    tarball = Path(shutil.copytree(llama_lora["tarball"], tmp_path / "tarball"))
    shutil.copytree(llama_lora["merged"], tarball / "model")
    clf = LocalClassifier.from_pretrained(tarball, device="cpu")
    assert clf.model_path == tarball / "model" and clf.base_model is None


def test_adapter_tarball_archive(llama_lora: dict[str, Path], tmp_path: Path) -> None:
    """The platform's tarball layout (model-adapter/, model_client.py, README.md) as a .tar."""
    inner = package_model(llama_lora["adapter"], tmp_path / "adapter.tar", prefix=ADAPTER_PREFIX)
    extras = {"README.md": b"# model\n", "model_client.py": b"SYSTEM_PROMPT = 'Sort it.'\n"}
    tar = package_slm(inner, tmp_path / "model.tar", extras)
    jd = llama_lora["tarball"] / "job_description.json"
    clf = LocalClassifier.from_pretrained(
        tar, device="cpu", cache_dir=tmp_path / "cache", job_description=jd
    )
    assert clf.model_path.name == ADAPTER_PREFIX
    assert clf.prompt is not None and clf.prompt.system == "Sort it."
    assert clf.prompt.source == str(clf.model_path.parent / "model_client.py")
    merged = LocalClassifier.from_pretrained(
        llama_lora["merged"], device="cpu", model_client=clf.prompt.source
    )
    assert _max_diff(clf.predict_proba(TEXTS), merged.predict_proba(TEXTS)) <= TOLERANCE


def test_local_tarball_checks_accept_an_adapter(
    llama_lora: dict[str, Path], tmp_path: Path
) -> None:
    from distil_sdk.local._storage.dataset_files import BundleRejected, validate_model_tar

    inner = package_model(llama_lora["adapter"], tmp_path / "adapter.tar", prefix=ADAPTER_PREFIX)
    tar = package_slm(inner, tmp_path / "model.tar", {"model_client.py": b"x = 1\n"})
    assert validate_model_tar(tar) == {"model_client.py": b"x = 1\n"}
    with pytest.raises(ValueError, match="top-level"):
        package_slm(inner, tmp_path / "bad.tar", {"model/config.json": b"{}"})
    with pytest.raises(ValueError, match="prefix"):
        package_model(llama_lora["adapter"], tmp_path / "x.tar", prefix="weights")
    other = tmp_path / "other"
    other.mkdir()
    (other / "weights.bin").write_bytes(b"0")
    with pytest.raises(BundleRejected, match=r"model-adapter/adapter_config\.json"):
        validate_model_tar(package_model(other, tmp_path / "other.tar"))


# -- the base model ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_name", "needs"),
    [
        ("/nonexistent/smollm-base", "'/nonexistent/smollm-base'"),
        ("someorg/some-base-model", r"hf download someorg/some-base-model"),
    ],
)
def test_missing_base_names_it_and_base_model(
    llama_lora: dict[str, Path], tmp_path: Path, base_name: str, needs: str
) -> None:
    adapter = _rebased(llama_lora["adapter"], tmp_path / ADAPTER_PREFIX, base_name)
    with pytest.raises(ModelLoadError, match=needs) as error:
        LocalClassifier.from_pretrained(adapter, device="cpu")
    assert "base_model=" in str(error.value)


def test_base_model_argument_overrides_the_config(
    llama_lora: dict[str, Path], tmp_path: Path
) -> None:
    adapter = _rebased(llama_lora["adapter"], tmp_path / ADAPTER_PREFIX, "/nonexistent/base")
    write_job_description(tmp_path / "job_description.json", LABELS)
    clf = LocalClassifier.from_pretrained(adapter, device="cpu", base_model=llama_lora["base"])
    assert clf.base_model == str(llama_lora["base"])
    merged = LocalClassifier.from_pretrained(llama_lora["merged"], device="cpu")
    assert _max_diff(clf.predict_proba(TEXTS), merged.predict_proba(TEXTS)) <= TOLERANCE
    with pytest.raises(ModelLoadError, match="base_model="):
        LocalClassifier.from_pretrained(adapter, device="cpu", base_model=tmp_path / "nothing")


def test_adapter_without_a_base_name(llama_lora: dict[str, Path], tmp_path: Path) -> None:
    adapter = _rebased(llama_lora["adapter"], tmp_path / ADAPTER_PREFIX, None)
    with pytest.raises(ModelLoadError, match=r"names no base model.*base_model="):
        LocalClassifier.from_pretrained(adapter, device="cpu")


def test_pickled_adapter_weights_are_refused(llama_lora: dict[str, Path], tmp_path: Path) -> None:
    adapter = Path(shutil.copytree(llama_lora["adapter"], tmp_path / ADAPTER_PREFIX))
    (adapter / "adapter_model.safetensors").rename(adapter / "adapter_model.bin")
    with pytest.raises(ModelLoadError, match="pickle"):
        LocalClassifier.from_pretrained(adapter, device="cpu")


def test_corrupt_adapter_config(llama_lora: dict[str, Path], tmp_path: Path) -> None:
    adapter = Path(shutil.copytree(llama_lora["adapter"], tmp_path / ADAPTER_PREFIX))
    (adapter / "adapter_config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match=r"adapter_config\.json"):
        LocalClassifier.from_pretrained(adapter, device="cpu")


def test_missing_peft_says_which_extra(
    llama_lora: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "peft", None)  # import peft now raises ImportError
    with pytest.raises(ModelLoadError, match=r"distil-sdk\[peft\]"):
        LocalClassifier.from_pretrained(llama_lora["tarball"], device="cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_adapter_on_cuda_matches_cpu(
    llama_lora: dict[str, Path], bert_lora: dict[str, Path]
) -> None:
    for lora in (llama_lora, bert_lora):
        want = LocalClassifier.from_pretrained(lora["merged"], device="cpu").predict_proba(TEXTS)
        clf = LocalClassifier.from_pretrained(lora["tarball"], device="cuda", dtype="float32")
        assert clf.device.type == "cuda"
        assert _max_diff(clf.predict_proba(TEXTS), want) <= TOLERANCE
        half = LocalClassifier.from_pretrained(lora["tarball"], device="cuda")  # bf16 / fp16
        assert half.predict(TEXTS).tolist() == [LABELS[i] for i in want.argmax(axis=1)]


# -- SmolLM2-135M with a LoRA adapter ----------------------------------------------------


@pytest.fixture(scope="module")
def smollm2_lora(
    tmp_path_factory: pytest.TempPathFactory, smollm2_gguf: tuple[Path, LocalClassifier]
) -> dict[str, Path]:
    """SmolLM2-135M from its GGUF file saved as a plain folder, a random LoRA adapter on it,
    and the merged model."""
    from transformers import AutoModelForCausalLM

    gguf, loaded = smollm2_gguf
    root = tmp_path_factory.mktemp("smollm2-lora")
    # The session's model, dequantized to float32 at load: saved as a plain folder, the base
    # the adapter names (without the GGUF quantizer's marks, put back for the other tests).
    model, tokenizer = loaded._predictor.model, loaded._predictor.tokenizer  # type: ignore[attr-defined]
    quantizer, had_config = model.hf_quantizer, hasattr(model.config, "quantization_config")
    saved_config = getattr(model.config, "quantization_config", None)
    model.hf_quantizer = None
    if had_config:
        del model.config.quantization_config
    base = root / "base"
    try:
        model.save_pretrained(base, safe_serialization=True)
    finally:
        model.hf_quantizer = quantizer
        if had_config:
            model.config.quantization_config = saved_config
    tokenizer.save_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)  # names this base
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    lora = LoraConfig(
        task_type="CAUSAL_LM", r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"],
        init_lora_weights=False,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        peft_model = get_peft_model(model, lora)
    peft_model.save_pretrained(root / ADAPTER_PREFIX)
    merged = _save_merged(peft_model, base, root / "merged")
    return {"gguf": gguf, "base": base, "adapter": root / ADAPTER_PREFIX, "merged": merged}


@pytest.mark.integration
@pytest.mark.slow
def test_smollm2_adapter_gives_the_merged_probabilities(smollm2_lora: dict[str, Path]) -> None:
    merged = LocalClassifier.from_pretrained(smollm2_lora["merged"], job_description=SMOL_JD)
    want = merged.predict_proba(SMOL_TEXTS)
    clf = LocalClassifier.from_pretrained(smollm2_lora["adapter"], job_description=SMOL_JD)
    assert clf.base_model == str(smollm2_lora["base"])
    assert _max_diff(clf.predict_proba(SMOL_TEXTS), want) <= TOLERANCE


@pytest.mark.integration
@pytest.mark.slow
def test_smollm2_adapter_on_its_gguf_file(smollm2_lora: dict[str, Path]) -> None:
    """base_model= a .gguf file: dequantized at load, the same weights as the plain folder."""
    want = LocalClassifier.from_pretrained(smollm2_lora["merged"], job_description=SMOL_JD)
    clf = LocalClassifier.from_pretrained(
        smollm2_lora["adapter"], job_description=SMOL_JD, base_model=smollm2_lora["gguf"]
    )
    assert clf.base_model == str(smollm2_lora["gguf"])
    assert _max_diff(clf.predict_proba(SMOL_TEXTS), want.predict_proba(SMOL_TEXTS)) <= TOLERANCE
