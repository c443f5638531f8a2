"""``LocalClassifier``: load a trained model (folder, tarball or GGUF) and classify texts fast."""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, overload

import numpy as np

from .._errors import ModelLoadError
from ._calibration import Calibration, ThresholdChoice
from ._frames import frame_texts, wrap_labels, wrap_proba
from ._inputs import iter_chunks
from ._loading import (
    ModelFiles,
    check_tokenizer,
    check_weights,
    is_causal_config,
    load_job_description,
    read_config,
    read_training_logs,
    resolve_device,
    resolve_dtype,
    resolve_source,
)
from ._model_client import find_model_client, read_model_client, resolve_prompt
from ._precision import DEFAULT_MIN_AGREEMENT, PrecisionCheck, validate_precision
from ._prompt import ModelPrompt
from ._runtime import limit_cpu_threads, require_local_extra

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from ._adapter import Adapter
    from ._report import EvaluationReport
    from ._sequence import SequencePredictor

__all__ = ["LocalClassifier", "Prediction", "threshold_for_precision"]

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
    With ``classify(..., min_confidence=p)``, a text whose top score is below ``p`` gets no
    answer: ``label`` is ``None`` and ``abstained`` is true (``score`` and ``scores`` still say
    what the model would have answered).
    """

    label: str | None
    score: float
    scores: dict[str, float] = field(default_factory=dict)
    abstained: bool = False


class LocalClassifier:
    """A trained classifier running locally, with scikit-learn style ``predict``/``predict_proba``.

    Load it with `from_pretrained` from what the platform ships: a ``*-model.tar``, the
    ``model/`` folder inside it (or its parent), the LoRA adapter ``model-adapter/`` (merged into
    its base model at load), or a GGUF file. Sequence-classification students take labels from
    ``config.json``; generative students score every label of their job description as the
    answer ``<output>LABEL</output>``, in the prompt of the model's own ``model_client.py``
    when it ships one (`prompt`).

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
        self._precision = "exact"
        self._precision_check: PrecisionCheck | None = None
        self._prompt: ModelPrompt | None = None
        self._base_model: str | None = None
        self._calibration: Calibration | None = None

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
        precision: str = "exact",
        check_texts: Sequence[str] | None = None,
        min_agreement: float = DEFAULT_MIN_AGREEMENT,
        base_model: str | os.PathLike[str] | None = None,
        model_client: str | os.PathLike[str] | bool | None = None,
        calibrate: bool = True,
    ) -> LocalClassifier:
        """Load a model folder (or one holding ``model/`` / ``model-adapter/``), a LoRA adapter
        folder, a ``.tar``/``.tar.gz`` or a ``.gguf``; docs/inference.md explains each option.

        Args:
            source: where the model is; archives are extracted once into ``cache_dir``, and an
                adapter is merged into its base model at load (``distil-sdk[peft]``).
            device: ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``, ``"cuda:1"``, ...
            dtype: ``"auto"`` (fp32 on CPU; bf16, or fp16 where unsupported, on GPU),
                ``"float32"``, ``"bfloat16"``, ``"float16"`` or a ``torch.dtype``.
            batch_size: most texts per forward pass (default: 32 CPU / 128 GPU for sequence
                classifiers, 8 / 32 for generative models).
            max_length: token limit per text (default: the model's); longer texts are truncated.
            job_description: a generative model's ``JobDescription``, dict or path (default
                ``job_description.json`` next to the model).
            cache_dir: where archives are extracted (default ``$DISTIL_CACHE_DIR/models``).
            allow_pickle: load ``pytorch_model.bin`` without safetensors (unsafe: runs code).
            compile: run the model through ``torch.compile``.
            precision: ``"exact"`` (default), or a CPU mode for sequence classifiers:
                ``"bf16"`` or ``"int8"`` (ONNX Runtime, ``distil-sdk[onnx]``).
            check_texts: texts for a fast mode's self-check against the exact model.
            min_agreement: share of check texts whose label a fast mode must keep (default
                1.0); see `precision_check`.
            base_model: a LoRA adapter's base model: a folder, ``.gguf`` or cached hub id
                (default: the adapter config's ``base_model_name_or_path``).
            model_client: a generative model's prompt: ``None`` reads ``model_client.py``
                beside the model, a path reads that file, ``False`` uses the SDK's prompt.
            calibrate: apply the folder's ``calibration.json`` (`calibration`); ``False``: raw.

        Raises:
            ModelLoadError: a file is missing or corrupt (named), or an adapter's base
                model or ``peft`` is missing.
            PrecisionCheckError: a fast ``precision`` changed too many self-check labels.
            UnsafeArchiveError: an archive member would escape its folder.
        """
        # Every keyword as given (not resolved), so a pickled copy reloads the same way on another
        # machine (device="auto" picks its GPU); taken first, so a new keyword is carried too.
        load_options = {k: v for k, v in locals().items() if k not in ("cls", "source")}
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        require_local_extra()  # torch and transformers load here: name the extra if absent
        files = resolve_source(source, cache_dir)
        calibration = _read_calibration(files.folder) if calibrate else None  # fail before load
        torch_device = resolve_device(device)
        torch_dtype = resolve_dtype(dtype, torch_device)
        validate_precision(precision, min_agreement, torch_device, torch_dtype, compile)
        if torch_device.type == "cpu":
            limit_cpu_threads()
        adapter = _read_adapter_if_any(files, base_model, allow_pickle, cache_dir)
        predictor, precision_check, prompt = _load_predictor(
            files, adapter, torch_device, torch_dtype, load_options
        )
        classifier = cls(predictor, files, torch_device, torch_dtype)
        classifier._precision, classifier._precision_check = precision, precision_check
        classifier._prompt = prompt
        classifier._base_model = adapter.base_name if adapter is not None else None
        classifier._calibration = calibration
        classifier._load_args = (os.path.abspath(Path(source).expanduser()), load_options)
        logger.info("loaded %r", classifier)
        return classifier

    # -- pickling ------------------------------------------------------------------------
    # Pickled as "where it was loaded from, and how", never as weights: Ray actors and worker
    # processes reload it from a path they can read (an archive is re-extracted into their cache).
    _load_args: tuple[str, dict[str, Any]] | None = None

    def __getstate__(self) -> dict[str, Any]:
        if self._load_args is None:
            raise TypeError(
                "only a LocalClassifier loaded with LocalClassifier.from_pretrained() can be "
                "pickled (it is reloaded from its path)"
            )
        source, options = self._load_args
        return {"source": source, "options": options}

    def __setstate__(self, state: dict[str, Any]) -> None:
        loaded = type(self).from_pretrained(state["source"], **state["options"])
        self.__dict__.update(loaded.__dict__)

    # -- introspection -------------------------------------------------------------------

    @property
    def labels(self) -> list[str]:
        """Class labels; the columns of `predict_proba` are in this order."""
        return list(self._predictor.labels)

    @property
    def classes_(self) -> np.ndarray:
        """`labels` as a numpy array, as in scikit-learn (``predict`` picks from it)."""
        return np.array(self._predictor.labels)

    @property
    def precision(self) -> str:
        """``"exact"``, or the fast mode asked for with ``from_pretrained(precision=...)``."""
        return self._precision

    @property
    def precision_check(self) -> PrecisionCheck | None:
        """The fast mode's self-check at load (agreement, largest probability difference).

        ``None`` in exact mode.

        Example:
            >>> clf = LocalClassifier.from_pretrained("model/", precision="int8")  # doctest: +SKIP
            >>> clf.precision_check.agreement, clf.precision_check.max_prob_diff   # doctest: +SKIP
            (1.0, 0.0123)
        """
        return self._precision_check

    @property
    def prompt(self) -> ModelPrompt | None:
        """The prompt a generative model is scored with: read from its ``model_client.py``
        (``prompt.source`` is that file's path) or the SDK's own (``"sdk default"``).

        For a sequence classifier, the prompt of a ``model_client.py`` shipped with it, for
        information only (the classifier reads no prompt), else ``None``.

        Example:
            >>> clf.prompt.source                                     # doctest: +SKIP
            '/models/my-slm/model_client.py'
            >>> clf.prompt.messages("where is my card?")              # doctest: +SKIP
            [{'role': 'system', 'content': '...'}, {'role': 'user', 'content': '...'}]
        """
        return self._prompt

    @property
    def calibration(self) -> Calibration | None:
        """The calibration applied to every probability (``calibration.json`` in the model
        folder, fitted by training), or ``None``: no such file, or ``calibrate=False``.

        Example:
            >>> clf.calibration.method, clf.calibration.temperature  # doctest: +SKIP
            ('temperature', 1.62)
            >>> LocalClassifier.from_pretrained("model/", calibrate=False).calibration  # doctest: +SKIP
        """
        return self._calibration

    @property
    def temperature(self) -> float:
        """The temperature every probability is calibrated with (1.0: raw probabilities)."""
        calibration = self._calibration
        return 1.0 if calibration is None or calibration.is_identity else calibration.temperature

    @property
    def _calibrated(self) -> bool:
        return self.temperature != 1.0

    @property
    def base_model(self) -> str | None:
        """For a LoRA adapter, the base model it was merged into (as named); else ``None``."""
        return self._base_model

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
            f"max_length={self._predictor.max_length}"
            + (f", base_model={self._base_model!r}" if self._base_model else "")
            + (f", temperature={self.temperature:g}" if self.temperature != 1.0 else "")
            + (f", precision={self._precision!r})" if self._precision != "exact" else ")")
        )

    # -- prediction ----------------------------------------------------------------------

    @overload
    def predict_proba(
        self, texts: pd.Series | pd.DataFrame, *, text_column: str | None = None
    ) -> pd.DataFrame: ...
    @overload
    def predict_proba(  # type: ignore[overload-cannot-match]  # pandas is untyped here
        self, texts: Iterable[Any] | str, *, text_column: str | None = None
    ) -> np.ndarray: ...

    def predict_proba(self, texts: Any, *, text_column: str | None = None) -> Any:
        """Probabilities of shape ``(n_texts, n_labels)``, columns in `labels` order.

        ``texts`` may be a list, tuple, numpy array or any iterable/generator of strings
        (consumed in chunks); a single string counts as one text. The result is a numpy
        array, except for pandas input: a ``Series`` or a ``DataFrame`` gives a ``DataFrame``
        with one column per label and the input's index.

        Args:
            texts: the texts, or a pandas ``Series`` or ``DataFrame`` of them.
            text_column: a ``DataFrame``'s column holding the texts. Default: ``text``, else
                ``question`` or ``context``, else its only column.

        Raises:
            TypeError: an item is ``None``, NaN or not a string (its index is named), or a
                ``DataFrame`` has no such text column (its columns are listed).
            ValueError: texts are empty or whitespace only (the first positions are named);
                nothing is predicted.

        Example:
            >>> clf.predict_proba(["refund please"]).round(2)        # doctest: +SKIP
            array([[0.03, 0.95, 0.02]], dtype=float32)
            >>> clf.predict_proba(df["text"])                        # doctest: +SKIP
                  billing  cards  shopping
            17      0.03   0.95      0.02
        """
        texts, index = frame_texts(texts, text_column)
        return wrap_proba(self._proba(texts, index), index, self.labels)

    def _proba(self, texts: Iterable[Any] | str, index: Any = None) -> np.ndarray:
        probs, truncated = self._proba_counting(texts, index)
        if truncated:
            warnings.warn(
                f"{truncated} text(s) exceeded the model's maximum length of "
                f"{self._predictor.max_length} tokens and were truncated",
                UserWarning,
                stacklevel=3,
            )
        return probs

    def _proba_counting(
        self, texts: Iterable[Any] | str, index: Any = None
    ) -> tuple[np.ndarray, int]:
        """Probabilities and the number of texts truncated, without warning about them (the
        batch engine sums them over a whole file and warns once)."""
        parts: list[np.ndarray] = []
        truncated = 0
        empty: list[int] = []
        start = 0
        for chunk in iter_chunks(texts, CHUNK_SIZE):
            empty += [start + i for i, text in enumerate(chunk) if not text or text.isspace()]
            start += len(chunk)
            if empty:  # the call fails: read on only to count the empty texts
                continue
            probs, cut = self._predictor.predict_proba(chunk)
            if self._calibration is not None:  # every output (the model server's too) is this
                probs = self._calibration.apply(probs)
            parts.append(probs)
            truncated += cut
        if empty:
            raise ValueError(_empty_texts_message(empty, start, index))
        if not parts:
            return np.empty((0, len(self.labels)), dtype=np.float32), 0
        return (parts[0] if len(parts) == 1 else np.concatenate(parts)), truncated

    @overload
    def predict(
        self,
        texts: pd.Series | pd.DataFrame,
        *,
        text_column: str | None = None,
        min_confidence: float | None = None,
        no_answer: str | None = None,
    ) -> pd.Series: ...
    @overload
    def predict(  # type: ignore[overload-cannot-match]  # pandas is untyped here
        self,
        texts: Iterable[Any] | str,
        *,
        text_column: str | None = None,
        min_confidence: float | None = None,
        no_answer: str | None = None,
    ) -> np.ndarray: ...

    def predict(
        self,
        texts: Any,
        *,
        text_column: str | None = None,
        min_confidence: float | None = None,
        no_answer: str | None = None,
    ) -> Any:
        """The most probable label of each text, in input order, as a numpy array of strings
        (items of `classes_`), like scikit-learn; ``.tolist()`` gives plain strings.

        pandas input (a ``Series``, or a ``DataFrame`` whose text column ``text_column``
        names, as in `predict_proba`) gives a ``Series`` named ``label`` with the input's
        index. Empty or whitespace-only texts raise ``ValueError``, as in `predict_proba`.

        Args:
            texts: the texts, or a pandas ``Series`` or ``DataFrame`` of them.
            text_column: a ``DataFrame``'s column holding the texts (see `predict_proba`).
            min_confidence: answer only the texts whose top probability is at least this
                (in ``[0, 1]``, e.g. a `threshold_for_precision` threshold); the others get
                ``no_answer``.
            no_answer: what a text below ``min_confidence`` gets: ``None`` (default; the
                array is then of ``object`` dtype, and ``pandas.isna`` finds them) or a
                string of your choosing that is not a label, e.g. ``"unsure"``.

        Example:
            >>> clf.predict(["where is my card?", "refund please"])  # doctest: +SKIP
            array(['cards', 'billing'], dtype='<U8')
            >>> clf.predict(["where is my card?", "hmm"], min_confidence=0.8)  # doctest: +SKIP
            array(['cards', None], dtype=object)
            >>> df["pred"] = clf.predict(df, text_column="body")      # doctest: +SKIP
        """
        threshold = _min_confidence(min_confidence, no_answer, self.labels)
        texts, index = frame_texts(texts, text_column)
        probs = self._proba(texts, index)
        classes = self.classes_
        predicted = classes[probs.argmax(axis=1)] if len(probs) else classes[:0]
        if threshold is not None:
            unsure = probs.max(axis=1).astype(np.float64) < threshold
            if no_answer is None:
                predicted = predicted.astype(object)
                predicted[unsure] = None
            else:
                predicted = np.where(unsure, no_answer, predicted)
        return wrap_labels(predicted, index)

    @overload
    def classify(
        self,
        texts: str,
        top_k: int | None = None,
        *,
        text_column: str | None = None,
        min_confidence: float | None = None,
    ) -> Prediction: ...
    @overload
    def classify(
        self,
        texts: Iterable[Any],
        top_k: int | None = None,
        *,
        text_column: str | None = None,
        min_confidence: float | None = None,
    ) -> list[Prediction]: ...

    def classify(
        self,
        texts: Iterable[Any] | str,
        top_k: int | None = None,
        *,
        text_column: str | None = None,
        min_confidence: float | None = None,
    ) -> Prediction | list[Prediction]:
        """`Prediction` objects: one for a string, a list for an iterable of strings (or a
        ``DataFrame``, whose text column ``text_column`` names, as in `predict_proba`).

        With ``min_confidence``, a text whose top probability is below it gets no answer:
        its `Prediction` has ``label=None`` and ``abstained=True``, with the scores kept.

        Example:
            >>> clf.classify("lost my card", top_k=2)  # doctest: +SKIP
            Prediction(label='cards', score=0.91, scores={'cards': 0.91, 'billing': 0.06}, abstained=False)
            >>> clf.classify("hmm", min_confidence=0.8)  # doctest: +SKIP
            Prediction(label=None, score=0.41, scores={...}, abstained=True)
        """
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        threshold = _min_confidence(min_confidence, None, self.labels)
        probs = self._proba(*frame_texts(texts, text_column))
        labels = self.labels
        results = []
        for row in probs:
            order = np.argsort(-row, kind="stable")[: top_k or len(labels)]
            scores = {labels[i]: float(row[i]) for i in order}
            top = float(row[order[0]])
            if threshold is not None and top < threshold:
                results.append(Prediction(None, top, scores, abstained=True))
            else:
                results.append(Prediction(labels[order[0]], top, scores))
        return results[0] if isinstance(texts, str) else results

    __call__ = classify

    def evaluate(
        self,
        data: Any,
        labels: Iterable[Any] | None = None,
        *,
        classes: Sequence[str] | None = None,
        text_column: str | None = None,
        target_precision: float | None = None,
    ) -> EvaluationReport:
        """Score labelled texts; returns an `EvaluationReport`, with the calibration figures
        of the probabilities (ECE over 10 bins, reliability bins, accuracy against coverage).

        Args:
            data: a pandas DataFrame with a text column (``text`` or ``question``) and a label
                column (``label`` or ``answer``); a labelled CSV/JSONL file (the platform's
                ``question``/``answer`` columns, or ``text``/``label``) or Parquet file; a
                ``LabelledDataset``; a ``(texts, labels)`` pair; or texts, with ``labels``.
            labels: the gold labels, when ``data`` holds texts only.
            classes: the labels to report on, in order (default `labels`). Gold labels
                outside them always count as wrong and are listed in ``unknown_labels``.
            text_column: a ``DataFrame``'s text column, when it is not ``text`` or ``question``.
            target_precision: also find the lowest ``min_confidence`` whose answered texts
                reach this precision (``report.threshold``; see `threshold_for_precision`).

        Example:
            >>> report = clf.evaluate("test.csv")                    # doctest: +SKIP
            >>> report.accuracy, report.macro_avg.f1, report.ece    # doctest: +SKIP
            (0.93, 0.91, 0.031)
            >>> report.to_pandas()                                   # doctest: +SKIP
            >>> report.plot()                                        # doctest: +SKIP
        """
        from ._report import EvaluationReport, labelled_inputs

        texts, gold = labelled_inputs(data, labels, text_column=text_column)
        probs = self._proba(texts) if texts else np.zeros((0, len(self.labels)))
        names = list(classes) if classes is not None else self.labels
        model_labels = self.labels
        report = EvaluationReport.from_predictions(
            gold,
            [model_labels[i] for i in probs.argmax(axis=1)],
            names,
            confidences=probs.max(axis=1).tolist() if len(probs) else [],
            calibrated=self._calibrated,
            target_precision=target_precision,
        )
        if report.unknown_labels:
            logger.warning(
                "gold labels not known to the model (always counted wrong): %s",
                report.unknown_labels,
            )
        return report


def threshold_for_precision(
    classifier: LocalClassifier,
    data: Any,
    labels: Iterable[Any] | None = None,
    *,
    target: float = 0.95,
    text_column: str | None = None,
) -> ThresholdChoice:
    """The lowest ``min_confidence`` at which ``classifier``'s answers on labelled rows reach
    ``target`` precision, with the share of rows it answers.

    Choose it on labelled rows the model did not train on, then pass it to ``predict``,
    ``classify`` or ``distil-sdk predict --min-confidence``. The result unpacks as
    ``threshold, coverage, precision``; when no threshold reaches ``target``, ``threshold``
    is ``math.inf`` (every text would get no answer) and ``reached`` is false.

    Args:
        classifier: the model, loaded as it will answer (calibrated or not).
        data: labelled texts, in any form `LocalClassifier.evaluate` takes.
        labels: the gold labels, when ``data`` holds texts only.
        target: the precision wanted, in ``(0, 1]`` (default 0.95).
        text_column: a ``DataFrame``'s text column, when it is not ``text`` or ``question``.

    Example:
        >>> threshold, coverage, precision = threshold_for_precision(clf, "dev.csv")  # doctest: +SKIP
        >>> clf.predict(texts, min_confidence=threshold)                           # doctest: +SKIP
    """
    if isinstance(target, bool) or not 0.0 < target <= 1.0:
        raise ValueError(f"the target precision must lie in (0, 1], got {target!r}")
    report = classifier.evaluate(data, labels, text_column=text_column, target_precision=target)
    if report.threshold is None:
        raise ValueError("no labelled rows to choose a threshold on")
    return report.threshold


def _empty_texts_message(positions: list[int], total: int, index: Any) -> str:
    """Which texts are empty (the first few positions, and index labels for pandas input)."""
    shown = ", ".join(map(str, positions[:10])) + (", ..." if len(positions) > 10 else "")
    where = f"at position{'s' if len(positions) > 1 else ''} {shown}"
    if index is not None:
        # numpy scalars print as np.int64(18) under numpy 2: show the plain value
        labels = ", ".join(repr(_plain(index[i])) for i in positions[:10])
        where += f" (index {labels}{', ...' if len(positions) > 10 else ''})"
    return (
        f"{len(positions)} of {total} texts are empty or only whitespace, {where}; a model "
        "cannot classify an empty text. Drop them or fill them in first, e.g. "
        "[t for t in texts if t.strip()]"
    )


def _min_confidence(value: Any, no_answer: Any, labels: list[str]) -> float | None:
    """``min_confidence`` checked (``None`` when not given), with the ``no_answer`` value."""
    if value is None:
        if no_answer is not None:
            raise ValueError("no_answer= is what texts below min_confidence= get; give both")
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.floating, np.integer))
        or math.isnan(value)
        or value < 0
        or (1 < value < math.inf)
    ):
        raise ValueError(
            f"min_confidence must be a probability in [0, 1] (e.g. 0.8, not 80), got {value!r}"
        )
    if no_answer is not None and (not isinstance(no_answer, str) or no_answer in labels):
        raise ValueError(
            f"no_answer must be a string that is not one of the model's labels, got "
            f"{no_answer!r}; a label would hide which texts got no answer"
        )
    return float(value)


def _read_calibration(folder: Path) -> Calibration | None:
    """``folder``'s ``calibration.json``; a broken one is a ``ModelLoadError`` naming it."""
    try:
        return Calibration.load(folder)
    except ValueError as exc:
        raise ModelLoadError(
            f"{exc}; delete the file to use the raw probabilities, or pass calibrate=False"
        ) from exc


def _read_adapter_if_any(
    files: ModelFiles, base_model: Any, allow_pickle: bool, cache_dir: Any
) -> Adapter | None:
    """The LoRA adapter ``files`` point at, with its base model found; ``None`` for a model."""
    if not files.adapter:
        return None
    from ._adapter import read_adapter

    return read_adapter(files.folder, base_model, allow_pickle=allow_pickle, cache_dir=cache_dir)


def _load_predictor(
    files: ModelFiles,
    adapter: Adapter | None,
    torch_device: torch.device,
    torch_dtype: torch.dtype,
    options: dict[str, Any],
) -> tuple[_Predictor, PrecisionCheck | None, ModelPrompt | None]:
    """The predictor for a sequence classifier or a generative student, whichever ``files``
    hold, with the fast mode's self-check (sequence only) and the model's prompt.

    ``options`` are ``from_pretrained``'s keywords as given."""
    if adapter is not None:
        causal = adapter.causal
    else:
        causal = files.gguf_file is not None or is_causal_config(read_config(files.folder))
    shared: dict[str, Any] = {
        "files": files,
        "adapter": adapter,
        "torch_device": torch_device,
        "torch_dtype": torch_dtype,
        "on_cpu": torch_device.type == "cpu",
        **{
            name: options[name]
            for name in (
                "job_description", "model_client", "batch_size", "max_length",
                "allow_pickle", "compile", "precision",
            )
        },
    }  # fmt: skip
    if causal:
        predictor, prompt = _load_generative(**shared)
        return predictor, None, prompt
    return _load_sequence(
        **shared,
        check_texts=options["check_texts"],
        min_agreement=options["min_agreement"],
        cache_dir=options["cache_dir"],
    )


def _adapter_sequence_predictor(
    adapter: Adapter,
    job_description: Any,
    *,
    device: torch.device,
    dtype: torch.dtype,
    batch_size: int,
    max_length: int | None,
    allow_pickle: bool,
    compile: bool,
) -> SequencePredictor:
    """A sequence classifier from a LoRA adapter merged into its base model."""
    from transformers import AutoModelForSequenceClassification

    from ._adapter import adapter_labels, load_adapter_model
    from ._sequence import SequencePredictor

    labels = adapter_labels(adapter, job_description)
    tokenizer, model = load_adapter_model(
        AutoModelForSequenceClassification,
        adapter,
        device=device,
        dtype=dtype,
        allow_pickle=allow_pickle,
        compile=compile,
        labels=labels,
    )
    return SequencePredictor(
        model, tokenizer, device=device, dtype=dtype, batch_size=batch_size, max_length=max_length
    )


def _informative_prompt(
    folder: Path, model_client: str | os.PathLike[str] | bool | None
) -> ModelPrompt | None:
    """A sequence classifier's ``model_client.py`` prompt, when readable (never used to score)."""
    if model_client is False:
        return None
    explicit = model_client is not None and model_client is not True
    path = Path(model_client).expanduser() if explicit else find_model_client(folder)  # type: ignore[arg-type]
    if path is None:
        return None
    try:
        return read_model_client(path)
    except ValueError as exc:
        logger.debug("%s: no prompt read (%s)", path, exc)
        return None


def _load_sequence(
    *,
    files: ModelFiles,
    adapter: Adapter | None,
    job_description: Any,
    model_client: Any,
    torch_device: torch.device,
    torch_dtype: torch.dtype,
    on_cpu: bool,
    batch_size: int | None,
    max_length: int | None,
    allow_pickle: bool,
    compile: bool,
    precision: str,
    check_texts: Any,
    min_agreement: float,
    cache_dir: Any,
) -> tuple[_Predictor, PrecisionCheck | None, ModelPrompt | None]:
    """The predictor of a sequence classifier (merged, or an adapter on its base), at the
    asked precision, with its self-check and the informative prompt of its client."""
    from ._sequence import SequencePredictor

    # Measured on an H200 (benchmarks/bench_local_classifier.py --device cuda): batches of
    # 32 leave a GPU waiting on the host; 128 rows (32 generative) ran 1.3-5x faster.
    batch_size = batch_size or (32 if on_cpu else 128)
    sequence: SequencePredictor
    if adapter is not None:
        if precision == "int8":
            raise ModelLoadError(
                f"{files.folder}: precision='int8' exports a merged model folder; "
                "this is a LoRA adapter (load the tarball's merged model/, or save the "
                "merged model first)"
            )
        sequence = _adapter_sequence_predictor(
            adapter,
            job_description,
            device=torch_device,
            dtype=torch_dtype,
            batch_size=batch_size,
            max_length=max_length,
            allow_pickle=allow_pickle,
            compile=compile,
        )
    else:
        check_weights(files.folder, allow_pickle)
        check_tokenizer(files.folder)
        sequence = SequencePredictor.load(
            files.folder,
            device=torch_device,
            dtype=torch_dtype,
            batch_size=batch_size,
            max_length=max_length,
            allow_pickle=allow_pickle,
            compile=compile,
        )
    predictor, precision_check = _fast_mode(
        sequence,
        files.folder,
        precision,
        check_texts=check_texts,
        min_agreement=min_agreement,
        allow_pickle=allow_pickle,
        cache_dir=cache_dir,
    )
    return predictor, precision_check, _informative_prompt(files.folder, model_client)


def _fast_mode(
    sequence: SequencePredictor,
    folder: Path,
    precision: str,
    *,
    check_texts: Any,
    min_agreement: float,
    allow_pickle: bool,
    cache_dir: Any,
) -> tuple[_Predictor, PrecisionCheck | None]:
    """``sequence`` in the asked CPU serving mode, with its self-check (``None`` when exact)."""
    if precision == "bf16":
        from ._bf16 import bf16_predictor

        return bf16_predictor(
            sequence, folder, check_texts=check_texts, min_agreement=min_agreement
        )
    if precision == "int8":
        from ._onnx_int8 import cache_root, int8_predictor

        return int8_predictor(
            sequence,
            folder,
            cache_root(cache_dir),
            check_texts=check_texts,
            min_agreement=min_agreement,
            allow_pickle=allow_pickle,
        )
    return sequence, None


def _load_generative(
    *,
    files: ModelFiles,
    adapter: Adapter | None,
    job_description: Any,
    model_client: Any,
    torch_device: torch.device,
    torch_dtype: torch.dtype,
    on_cpu: bool,
    batch_size: int | None,
    max_length: int | None,
    allow_pickle: bool,
    compile: bool,
    precision: str,
) -> tuple[_Predictor, ModelPrompt | None]:
    """The predictor of a generative student (a folder, a GGUF file or an adapter on its
    base) with the prompt of its own ``model_client.py``."""
    predictor: _Predictor
    if precision != "exact":
        raise ModelLoadError(
            f"{files.folder}: precision={precision!r} supports sequence classifiers "
            "only; this is a generative model (for a smaller one, use a quantized GGUF "
            "file)"
        )
    if files.gguf_file is None and adapter is None:
        check_weights(files.folder, allow_pickle)
        check_tokenizer(files.folder)
    jd = load_job_description(job_description, files.folder)
    prompt = resolve_prompt(files.folder, jd, model_client)
    from ._generative import GenerativePredictor

    gen_batch = batch_size or (8 if on_cpu else 32)
    if adapter is not None:
        from transformers import AutoModelForCausalLM

        from ._adapter import load_adapter_model

        tokenizer, model = load_adapter_model(
            AutoModelForCausalLM,
            adapter,
            device=torch_device,
            dtype=torch_dtype,
            allow_pickle=allow_pickle,
            compile=compile,
        )
        predictor = GenerativePredictor(
            model,
            tokenizer,
            jd,
            device=torch_device,
            dtype=torch_dtype,
            batch_size=gen_batch,
            max_length=max_length,
            prompt=prompt,
        )
    else:
        predictor = GenerativePredictor.load(
            files.folder,
            files.gguf_file,
            jd,
            device=torch_device,
            dtype=torch_dtype,
            batch_size=gen_batch,
            max_length=max_length,
            allow_pickle=allow_pickle,
            compile=compile,
            prompt=prompt,
        )
    return predictor, prompt


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds; anything else unchanged."""
    item = getattr(value, "item", None)
    return item() if callable(item) and getattr(value, "shape", None) == () else value
