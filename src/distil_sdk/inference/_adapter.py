"""LoRA adapters: the ``model-adapter/`` folder the platform ships, applied on its base model.

An adapter folder holds ``adapter_config.json`` and the adapter weights only; the base model comes
from ``adapter_config.json`` (``base_model_name_or_path``) or ``base_model=`` (a local folder, a
``.gguf`` file or a Hugging Face id already in the local cache: nothing is downloaded). The
adapter is merged into the base weights once at load (``merge_and_unload``), so the model then
runs exactly as fast as the merged model would. ``peft`` is needed, and imported only here
(``pip install 'distil-sdk[peft]'``).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import ModelLoadError
from ._loading import (
    ADAPTER_CONFIG,
    ModelFiles,
    check_tokenizer,
    check_weights,
    is_causal_config,
    quiet_loading,
    read_config,
    resolve_source,
)

if TYPE_CHECKING:
    import torch

__all__ = ["Adapter", "adapter_labels", "import_peft", "load_adapter_model", "read_adapter"]

logger = logging.getLogger("distil_sdk")

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_PICKLE = "adapter_model.bin"
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.txt", "vocab.json")
_TASKS = {"SEQ_CLS": False, "CAUSAL_LM": True}


@dataclass(frozen=True)
class Adapter:
    """A LoRA adapter folder, its parsed config and its resolved base model."""

    folder: Path
    config: dict[str, Any]
    base_name: str
    base: ModelFiles
    causal: bool

    @property
    def weights(self) -> Path:
        safe = self.folder / ADAPTER_WEIGHTS
        return safe if safe.is_file() else self.folder / ADAPTER_PICKLE

    def head_modules(self) -> list[str]:
        """Modules trained and saved whole with the adapter (the classification head)."""
        return [str(m) for m in self.config.get("modules_to_save") or []]


def import_peft() -> Any:
    """The ``peft`` module, or a `ModelLoadError` saying how to install it."""
    try:
        return importlib.import_module("peft")
    except ImportError as exc:
        raise ModelLoadError(
            "loading a LoRA adapter (model-adapter/) needs peft: pip install 'distil-sdk[peft]' "
            f"(missing module: {exc.name})"
        ) from exc


def read_adapter(
    folder: Path,
    base_model: str | os.PathLike[str] | None,
    *,
    allow_pickle: bool,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Adapter:
    """Parse ``folder/adapter_config.json``, check the adapter weights and find the base model.

    Raises:
        ModelLoadError: the config or weights are missing or corrupt, or the base model cannot
            be found (the message names the base and how to pass ``base_model=``).
    """
    path = folder / ADAPTER_CONFIG
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(config, dict):
        raise ModelLoadError(f"{path}: expected a JSON object")
    _check_adapter_weights(folder, allow_pickle)
    named = config.get("base_model_name_or_path")
    if base_model is not None:
        name = os.fspath(base_model)
    elif isinstance(named, str) and named.strip():
        name = named
    else:
        raise ModelLoadError(
            f"{path}: a LoRA adapter that names no base model (base_model_name_or_path); pass "
            "its base with LocalClassifier.from_pretrained(..., base_model='path/to/base') (a "
            "local folder, or a Hugging Face id already downloaded)"
        )
    base = _resolve_base(name, folder, cache_dir, explicit=base_model is not None)
    task = config.get("task_type")
    if task in _TASKS:
        causal = _TASKS[task]
    elif base.gguf_file is not None:
        causal = True
    else:
        causal = is_causal_config(read_config(base.folder))
    return Adapter(folder, config, name, base, causal)


def _check_adapter_weights(folder: Path, allow_pickle: bool) -> None:
    safe = folder / ADAPTER_WEIGHTS
    if safe.is_file():
        from safetensors import safe_open

        try:
            with safe_open(str(safe), framework="pt") as handle:
                handle.keys()
        except Exception as exc:
            raise ModelLoadError(f"{safe}: corrupt or truncated safetensors file ({exc})") from exc
        return
    if (folder / ADAPTER_PICKLE).is_file():
        if not allow_pickle:
            raise ModelLoadError(
                f"{folder / ADAPTER_PICKLE}: adapter weights stored with pickle, which can run "
                "arbitrary code when loaded; convert them to safetensors, or pass "
                "allow_pickle=True if you trust the source"
            )
        return
    raise ModelLoadError(f"{safe}: missing (no adapter weights in {folder})")


def _resolve_base(
    name: str, adapter: Path, cache_dir: str | os.PathLike[str] | None, *, explicit: bool
) -> ModelFiles:
    """The base model's files: a path (also relative to the adapter folder), a ``.gguf`` file or
    a hub id in the local Hugging Face cache. Never downloads."""
    path = Path(name).expanduser()
    if not path.is_absolute() and not path.exists() and (adapter / path).exists():
        path = adapter / path
    try:
        base = resolve_source(path if path.exists() else name, cache_dir)
    except ModelLoadError as exc:
        given = (
            "base_model=" if explicit else f"{adapter / ADAPTER_CONFIG} (base_model_name_or_path)"
        )
        raise ModelLoadError(
            f"{adapter}: a LoRA adapter on the base model {name!r} (from {given}), which cannot "
            f"be loaded: {exc}. The adapter holds only what training changed; pass its base "
            "model with LocalClassifier.from_pretrained(..., base_model=...): a local folder "
            f"of {name!r} (or its .gguf file), or its Hugging Face id once it is in the local "
            f"cache (`hf download {name}` where there is network)"
        ) from exc
    if base.adapter:
        raise ModelLoadError(
            f"{adapter}: the base model {name!r} is itself a LoRA adapter ({base.folder}); "
            "pass the full base model with base_model=..."
        )
    return base


def adapter_head_size(adapter: Adapter) -> int | None:
    """Rows of the classification head saved with a sequence-classification adapter."""
    heads = adapter.head_modules()
    if not heads or not adapter.weights.name.endswith(".safetensors"):
        return None
    from safetensors import safe_open

    with safe_open(str(adapter.weights), framework="pt") as handle:
        for key in handle.keys():  # noqa: SIM118 - a safetensors handle, not a dict
            parts = key.split(".")
            if parts[-1] == "weight" and len(parts) > 1 and parts[-2] in heads:
                return int(handle.get_slice(key).get_shape()[0])
    return None


def _has_tokenizer(folder: Path) -> bool:
    return any((folder / name).is_file() for name in _TOKENIZER_FILES)


@contextmanager
def _quiet_base_load() -> Iterator[None]:
    """transformers reports a sequence-classification head as newly initialised when the base
    has none; the adapter brings it, so that report would only mislead."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def load_adapter_model(
    auto_class: Any,
    adapter: Adapter,
    *,
    device: torch.device,
    dtype: torch.dtype,
    allow_pickle: bool,
    compile: bool,
    labels: list[str] | None = None,
) -> tuple[Any, Any]:
    """The tokenizer and the base model with ``adapter`` merged in, on ``device``, in eval mode.

    The tokenizer is the adapter folder's when it has one, else the base's. ``labels`` (sequence
    classification) sizes the head, whose trained weights come with the adapter.
    """
    from transformers import AutoTokenizer

    peft = import_peft()
    base = adapter.base
    if base.gguf_file is None:
        check_weights(base.folder, allow_pickle)
    own_tokenizer = _has_tokenizer(adapter.folder)
    tok_folder = adapter.folder if own_tokenizer else base.folder
    tok_extra: dict[str, Any] = {}
    if own_tokenizer or base.gguf_file is None:
        check_tokenizer(tok_folder)
    else:
        tok_extra["gguf_file"] = base.gguf_file
    extra: dict[str, Any] = (
        {"gguf_file": base.gguf_file}
        if base.gguf_file
        else {"use_safetensors": None if allow_pickle else True}
    )
    if labels is not None:
        extra.update(
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
        )
    where = base.folder / base.gguf_file if base.gguf_file else base.folder
    with quiet_loading():
        try:
            tokenizer = AutoTokenizer.from_pretrained(
                tok_folder, local_files_only=True, **tok_extra
            )
        except Exception as exc:
            raise ModelLoadError(f"{tok_folder}: could not load the tokenizer ({exc})") from exc
        try:
            with _quiet_base_load():
                model = auto_class.from_pretrained(
                    base.folder, dtype=dtype, local_files_only=True, **extra
                )
        except Exception as exc:
            raise ModelLoadError(
                f"{where}: could not load the base model of the adapter {adapter.folder} ({exc})"
            ) from exc
    embeddings = model.get_input_embeddings()
    if embeddings is not None and len(tokenizer) > embeddings.num_embeddings:
        model.resize_token_embeddings(len(tokenizer))  # tokens added in training (e.g. padding)
    model.to(device)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # peft on newer transformers
            wrapped = peft.PeftModel.from_pretrained(
                model, str(adapter.folder), is_trainable=False, torch_device=str(device)
            )
            merged = wrapped.merge_and_unload()
    except Exception as exc:
        raise ModelLoadError(
            f"{adapter.folder}: could not apply the adapter to its base model {adapter.base_name!r} "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    merged.eval().requires_grad_(False)
    logger.info("merged the adapter %s into %s", adapter.folder, where)
    if compile:
        import torch

        merged = torch.compile(merged, dynamic=True)
    return tokenizer, merged


def _id2label(config: dict[str, Any]) -> list[str] | None:
    mapping = config.get("id2label")
    if not isinstance(mapping, dict) or not mapping:
        return None
    try:
        ordered = sorted((int(k), str(v)) for k, v in mapping.items())
    except (TypeError, ValueError):
        return None
    if [i for i, _ in ordered] != list(range(len(ordered))):
        return None
    labels = [v for _, v in ordered]
    if labels == [f"LABEL_{i}" for i in range(len(labels))]:
        return None  # transformers' placeholder names, not the task's labels
    return labels


def adapter_labels(adapter: Adapter, job_description: Any) -> list[str]:
    """The labels of a sequence-classification adapter, in head order: the adapter folder's
    ``config.json`` (``id2label``), else the job description's classes (``job_description=`` or
    ``job_description.json`` next to the adapter), else the base model's ``id2label``; the first
    whose size matches the head saved with the adapter.

    Raises:
        ModelLoadError: the adapter has no trained head, or no labels of its size are found.
    """
    from ._loading import load_job_description
    from ._prompt import job_description_parts

    size = adapter_head_size(adapter)
    if size is None and adapter.weights.name == ADAPTER_WEIGHTS:
        raise ModelLoadError(
            f"{adapter.weights}: a sequence-classification adapter without its classification "
            "head (modules_to_save); it cannot classify"
        )
    found: list[tuple[str, list[str]]] = []
    if (adapter.folder / "config.json").is_file():
        own = _id2label(read_config(adapter.folder))
        if own:
            found.append((str(adapter.folder / "config.json"), own))
    try:
        jd = load_job_description(job_description, adapter.folder)
        found.append(("the job description", list(job_description_parts(jd)[1])))
    except (ModelLoadError, ValueError):
        if job_description is not None:
            raise
    if adapter.base.gguf_file is None:
        base_labels = _id2label(read_config(adapter.base.folder))
        if base_labels:
            found.append((str(adapter.base.folder / "config.json"), base_labels))
    for _, labels in found:
        if size is None or len(labels) == size:
            return labels
    seen = "; ".join(f"{len(labels)} in {where}" for where, labels in found) or "none found"
    raise ModelLoadError(
        f"{adapter.folder}: a sequence-classification adapter with {size} classes, and no labels "
        f"of that size ({seen}); pass job_description=... (its classes, in the head's order)"
    )
