"""``LocalClassifier``: load a trained model (folder, tarball or GGUF) and classify texts fast."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, overload

import numpy as np

from .._metrics import classification_report, confusion_matrix
from ._inputs import iter_chunks
from ._loading import (
    ModelFiles,
    check_tokenizer,
    check_weights,
    load_job_description,
    read_config,
    read_training_logs,
    resolve_device,
    resolve_dtype,
    resolve_source,
)
from ._runtime import limit_cpu_threads

if TYPE_CHECKING:
    import torch

__all__ = ["LocalClassifier", "Prediction"]

logger = logging.getLogger("distil_sdk")

# Texts pulled from the caller's iterable at a time: large enough to sort by length and fill
# batches, small enough that a generator over a huge file never sits in memory.
CHUNK_SIZE = 4096


class _Predictor(Protocol):
    kind: str
    labels: list[str]
    max_length: int
    batch_size: int

    def predict_proba(self, texts: list[str]) -> tuple[np.ndarray, int]: ...


@dataclass(frozen=True)
class Prediction:
    """One text's result: the top ``label``, its ``score``, and ``scores`` by label (best first).

    ``scores`` holds every label, or the ``top_k`` best when ``classify(..., top_k=k)`` asked.
    """

    label: str
    score: float
    scores: dict[str, float] = field(default_factory=dict)


def _is_causal(config: dict[str, Any]) -> bool:
    archs = config.get("architectures") or []
    if any(str(a).endswith("ForSequenceClassification") for a in archs):
        return False
    return any(str(a).endswith(("ForCausalLM", "ForConditionalGeneration")) for a in archs)


class LocalClassifier:
    """A trained classifier running locally, with scikit-learn style ``predict``/``predict_proba``.

    Load it with :meth:`from_pretrained` from what the platform ships: a ``*-model.tar``, the
    ``model/`` folder inside it (or its parent), or a GGUF file. Sequence-classification students
    take labels from ``config.json``; generative students score every label of their job
    description as the answer ``<output>LABEL</output>``.

    Example:
        >>> clf = LocalClassifier.from_pretrained("my-model.tar")       # doctest: +SKIP
        >>> clf.predict(["where is my card?", "refund please"])          # doctest: +SKIP
        ['card_arrival', 'refund']
        >>> clf.predict_proba(texts).shape == (len(texts), len(clf.labels))  # doctest: +SKIP
        True
        >>> clf("where is my card?").label                               # doctest: +SKIP
        'card_arrival'
    """

    def __init__(
        self, predictor: _Predictor, files: ModelFiles, device: torch.device, dtype: torch.dtype
    ) -> None:
        self._predictor = predictor
        self._files = files
        self._device = device
        self._dtype = dtype
        self._training_logs: dict[str, Any] | None = None

    @classmethod
    def from_pretrained(
        cls,
        source: str | os.PathLike[str],
        *,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype = "auto",
        batch_size: int | None = None,
        max_length: int | None = None,
        job_description: Any = None,
        cache_dir: str | os.PathLike[str] | None = None,
        allow_pickle: bool = False,
        compile: bool = False,
    ) -> LocalClassifier:
        """Load a model folder, a folder holding ``model/``, a ``.tar``/``.tar.gz`` or a ``.gguf``.

        Args:
            source: where the model is. Archives are extracted safely, once, into
                ``cache_dir/<sha256 of the archive>``.
            device: ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda:1"``, ...
            dtype: ``"auto"`` (fp32 on CPU; bf16, or fp16 where unsupported, on GPU),
                ``"float32"``, ``"bfloat16"``, ``"float16"`` or a ``torch.dtype``.
            batch_size: most texts per forward pass. Default: 32 on CPU and 128 on a GPU for
                sequence classifiers; 8 on CPU and 32 on a GPU for generative models.
            max_length: token limit per text (default: the model's); longer texts are truncated.
            job_description: for generative models, a ``JobDescription``, a dict or a path;
                default ``job_description.json`` next to the model.
            cache_dir: where archives are extracted (default ``$DISTIL_CACHE_DIR/models`` or
                ``~/.cache/distil_sdk/models``).
            allow_pickle: load ``pytorch_model.bin`` weights (unsafe: pickle runs code) when no
                safetensors file exists. Off by default.
            compile: run the model through ``torch.compile``.

        Raises:
            ModelLoadError: a file is missing or corrupt (the file is named).
            UnsafeArchiveError: the archive holds a member that would escape its folder.
        """
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        files = resolve_source(source, cache_dir)
        torch_device = resolve_device(device)
        torch_dtype = resolve_dtype(dtype, torch_device)
        # Measured on an H200 (benchmarks/bench_local_classifier.py --device cuda): batches of
        # 32 leave a GPU waiting on the host; 128 rows (32 generative) ran 1.3-5x faster.
        on_cpu = torch_device.type == "cpu"
        if on_cpu:
            limit_cpu_threads()
        predictor: _Predictor
        if files.gguf_file is None and not _is_causal(read_config(files.folder)):
            check_weights(files.folder, allow_pickle)
            check_tokenizer(files.folder)
            from ._sequence import SequencePredictor

            predictor = SequencePredictor.load(
                files.folder,
                device=torch_device,
                dtype=torch_dtype,
                batch_size=batch_size or (32 if on_cpu else 128),
                max_length=max_length,
                allow_pickle=allow_pickle,
                compile=compile,
            )
        else:
            if files.gguf_file is None:
                check_weights(files.folder, allow_pickle)
                check_tokenizer(files.folder)
            jd = load_job_description(job_description, files.folder)
            from ._generative import GenerativePredictor

            predictor = GenerativePredictor.load(
                files.folder,
                files.gguf_file,
                jd,
                device=torch_device,
                dtype=torch_dtype,
                batch_size=batch_size or (8 if on_cpu else 32),
                max_length=max_length,
                allow_pickle=allow_pickle,
                compile=compile,
            )
        classifier = cls(predictor, files, torch_device, torch_dtype)
        logger.info("loaded %r", classifier)
        return classifier

    # -- introspection -------------------------------------------------------------------

    @property
    def labels(self) -> list[str]:
        """Class labels; the columns of :meth:`predict_proba` are in this order."""
        return list(self._predictor.labels)

    @property
    def device(self) -> torch.device:
        """The device the model runs on."""
        return self._device

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the model's weights."""
        return self._dtype

    @property
    def batch_size(self) -> int:
        """Most texts per forward pass (the default depends on the device; see ``from_pretrained``)."""
        return self._predictor.batch_size

    @property
    def kind(self) -> str:
        """``"sequence-classification"`` or ``"generative"``."""
        return self._predictor.kind

    @property
    def model_path(self) -> Path:
        """The folder the model was loaded from (inside the cache for archives)."""
        return self._files.folder

    @property
    def training_logs(self) -> dict[str, Any]:
        """Parsed ``training-logs.csv`` (list of row dicts) and ``training-logs.json``, by file name.

        Empty when the model folder holds neither file.
        """
        if self._training_logs is None:
            self._training_logs = read_training_logs(self._files.folder)
        return self._training_logs

    def __repr__(self) -> str:
        where = (
            self._files.folder / self._files.gguf_file
            if self._files.gguf_file
            else self._files.folder
        )
        labels = self.labels
        shown = ", ".join(labels[:5]) + (f", ... (+{len(labels) - 5})" if len(labels) > 5 else "")
        return (
            f"LocalClassifier(kind={self.kind!r}, path='{where}', labels=[{shown}], "
            f"device='{self._device}', dtype={str(self._dtype).replace('torch.', '')}, "
            f"max_length={self._predictor.max_length})"
        )

    # -- prediction ----------------------------------------------------------------------

    def predict_proba(self, texts: Iterable[Any] | str) -> np.ndarray:
        """Probabilities of shape ``(n_texts, n_labels)``, columns in :attr:`labels` order.

        ``texts`` may be a list, tuple, pandas Series, numpy array or any iterable/generator of
        strings (consumed in chunks); a single string counts as one text.

        Raises:
            TypeError: an item is ``None``, NaN or not a string (its index is named).
        """
        parts: list[np.ndarray] = []
        truncated = 0
        for chunk in iter_chunks(texts, CHUNK_SIZE):
            probs, cut = self._predictor.predict_proba(chunk)
            parts.append(probs)
            truncated += cut
        if truncated:
            warnings.warn(
                f"{truncated} text(s) exceeded the model's maximum length of "
                f"{self._predictor.max_length} tokens and were truncated",
                UserWarning,
                stacklevel=2,
            )
        if not parts:
            return np.empty((0, len(self.labels)), dtype=np.float32)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def predict(self, texts: Iterable[Any] | str) -> list[str]:
        """The most probable label of each text, in input order."""
        probs = self.predict_proba(texts)
        labels = self.labels
        return [labels[i] for i in probs.argmax(axis=1)] if len(probs) else []

    @overload
    def classify(self, texts: str, top_k: int | None = None) -> Prediction: ...
    @overload
    def classify(self, texts: Iterable[Any], top_k: int | None = None) -> list[Prediction]: ...

    def classify(
        self, texts: Iterable[Any] | str, top_k: int | None = None
    ) -> Prediction | list[Prediction]:
        """:class:`Prediction` objects: one for a string, a list for an iterable of strings.

        Example:
            >>> clf.classify("lost my card", top_k=2)  # doctest: +SKIP
            Prediction(label='cards', score=0.91, scores={'cards': 0.91, 'billing': 0.06})
        """
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        probs = self.predict_proba(texts)
        labels = self.labels
        results = []
        for row in probs:
            order = np.argsort(-row, kind="stable")[: top_k or len(labels)]
            scores = {labels[i]: float(row[i]) for i in order}
            results.append(Prediction(labels[order[0]], float(row[order[0]]), scores))
        return results[0] if isinstance(texts, str) else results

    __call__ = classify

    def evaluate(self, dataset: Any, labels: Sequence[str] | None = None) -> dict[str, Any]:
        """Score a labelled dataset; returns the platform's metrics shape plus a confusion matrix.

        ``dataset`` is a ``LabelledDataset``, a CSV/JSONL path (``question``/``answer`` columns),
        or a ``(texts, labels)`` pair. The result is scikit-learn's ``classification_report``
        dict (``accuracy``, one entry per label, ``macro avg``, ``weighted avg``) with
        ``"confusion_matrix": {"labels": [...], "matrix": [[...]]}`` (rows gold, columns
        predicted) added.

        Example:
            >>> metrics = clf.evaluate("test.csv")                   # doctest: +SKIP
            >>> metrics["accuracy"], metrics["macro avg"]["f1-score"]  # doctest: +SKIP
            (0.93, 0.91)
        """
        texts, gold = _labelled(dataset)
        predicted = self.predict(texts)
        names = list(labels) if labels is not None else self.labels
        unknown = sorted(set(gold) - set(names))
        if unknown:
            logger.warning("gold labels not known to the model (always counted wrong): %s", unknown)
        report = classification_report(gold, predicted, names)
        report["confusion_matrix"] = {
            "labels": names,
            "matrix": confusion_matrix(gold, predicted, names),
        }
        return report


def _labelled(dataset: Any) -> tuple[list[str], list[str]]:
    """``(texts, labels)`` from a ``LabelledDataset``, a file path or a pair of sequences."""
    if isinstance(dataset, (str, os.PathLike)):
        from ..types.data import LabelledDataset

        dataset = LabelledDataset.from_file(Path(dataset))
    if hasattr(dataset, "texts") and hasattr(dataset, "labels"):
        return list(dataset.texts), [str(x) for x in dataset.labels]
    if isinstance(dataset, tuple) and len(dataset) == 2:
        texts, gold = list(dataset[0]), [str(x) for x in dataset[1]]
        if len(texts) != len(gold):
            raise ValueError(f"{len(texts)} texts but {len(gold)} labels")
        return texts, gold
    raise TypeError(
        "evaluate() takes a LabelledDataset, a CSV/JSONL path or a (texts, labels) pair"
    )
