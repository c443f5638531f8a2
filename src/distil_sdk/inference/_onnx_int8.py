"""``precision="int8"``: a sequence classifier exported to ONNX, fused and int8-quantized.

Why ONNX Runtime and not torch's own dynamic quantization: ``torch.ao.quantization`` is
deprecated, ran barely faster than fp32 on the development CPU (AVX2, no VNNI), and its quantized
activations break the exactness check of the [CLS] fast path. ONNX Runtime fuses each layer's
attention, GELU and LayerNorm into single kernels and runs the weight matrices as int8.

The export (a few seconds) happens once per model and is cached next to extracted archives,
keyed by the weights, the config and the library versions, so a changed model or a new release
of any of them builds a new file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import ModelLoadError
from .._fs import publish_folder
from ._precision import PrecisionCheck, checked_fast_copy

if TYPE_CHECKING:
    import torch

    from ._sequence import SequencePredictor

__all__ = ["int8_predictor", "require_onnxruntime"]

logger = logging.getLogger("distil_sdk")

# Bump when the export recipe changes, so cached files from an older recipe are not reused.
RECIPE = "int8-v1"
MODEL_FILE = "model.int8.onnx"


def require_onnxruntime() -> None:
    """Fail early, before any weight loads, when the optional dependencies are missing."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise ModelLoadError(
            "precision='int8' needs ONNX Runtime: pip install 'distil-sdk[onnx]' "
            f"(missing module: {exc.name})"
        ) from exc


def _cache_key(folder: Path, input_names: Sequence[str]) -> str:
    import onnxruntime
    import torch
    import transformers

    digest = hashlib.sha256()
    for part in (RECIPE, torch.__version__, transformers.__version__, onnxruntime.__version__):
        digest.update(part.encode() + b"\0")
    digest.update(",".join(input_names).encode() + b"\0")
    weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("pytorch_model*.bin"))
    for path in [folder / "config.json", *weights]:
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:32]


def _export(folder: Path, target: Path, input_names: Sequence[str], allow_pickle: bool) -> None:
    """fp32 ONNX graph of ``folder``'s classifier, with dynamic batch and sequence axes."""
    import torch
    from transformers import AutoModelForSequenceClassification

    # Eager attention: the classic BERT attention graph is what ONNX Runtime's fusion
    # recognises (an SDPA export is left as separate ops, about 1.3x slower).
    model = AutoModelForSequenceClassification.from_pretrained(
        folder,
        attn_implementation="eager",
        dtype=torch.float32,
        local_files_only=True,
        use_safetensors=None if allow_pickle else True,
    ).eval()

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(input_names, inputs, strict=True))).logits  # type: ignore[no-any-return]

    example = torch.ones(2, 8, dtype=torch.long)
    mask = example.clone()
    mask[1, 5:] = 0  # a padded row, so the mask path is traced
    args = tuple(
        mask
        if n == "attention_mask"
        else torch.zeros_like(example)
        if n == "token_type_ids"
        else example
        for n in input_names
    )
    axes = {name: {0: "batch", 1: "sequence"} for name in input_names}
    axes["logits"] = {0: "batch"}
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's tracer warnings
        torch.onnx.export(
            Logits(),
            args,
            str(target),
            input_names=list(input_names),
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )


def _fuse_and_quantize(source: Path, fused: Path, target: Path, config: Any) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer

    # ONNX Runtime's tools log fusion statistics and one line per tensor, through loggers named
    # after their modules and through the root logger itself; none of it is the caller's
    # business, so both are silenced below ERROR while they run.
    quiet = [
        logging.getLogger(name)
        for name, module in list(sys.modules.items())
        if f"{os.sep}onnxruntime{os.sep}" in str(getattr(module, "__file__", None) or "")
    ]
    levels = [q.level for q in quiet]
    for q in quiet:
        q.setLevel(logging.ERROR)
    root = logging.getLogger()
    root.addFilter(_drop_onnxruntime_records)
    try:
        graph = optimizer.optimize_model(
            str(source),
            model_type="bert",
            num_heads=int(config.num_attention_heads),
            hidden_size=int(config.hidden_size),
        )
        logger.debug("ONNX fusion: %s", graph.get_fused_operator_statistics())
        graph.save_model_to_file(str(fused))
        # Per-channel weights: one scale per output row keeps small rows precise.
        quantize_dynamic(
            str(fused),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        for q, level in zip(quiet, levels, strict=True):
            q.setLevel(level)
        root.removeFilter(_drop_onnxruntime_records)


def _drop_onnxruntime_records(record: logging.LogRecord) -> bool:
    return f"{os.sep}onnxruntime{os.sep}" not in record.pathname or record.levelno >= logging.ERROR


def int8_model_file(
    folder: Path, cache_root: Path, input_names: Sequence[str], config: Any, allow_pickle: bool
) -> Path:
    """The cached int8 ONNX file for ``folder``, building it on the first call."""
    key = _cache_key(folder, input_names)
    final_dir = cache_root / f"onnx-{key}"
    if (final_dir / MODEL_FILE).is_file():
        logger.debug("using cached int8 model %s", final_dir / MODEL_FILE)
        return final_dir / MODEL_FILE
    logger.info("exporting %s to int8 ONNX (once; cached in %s)", folder, final_dir)
    work = cache_root / f".tmp-onnx-{key}-{uuid.uuid4().hex[:8]}"
    try:
        work.mkdir(parents=True)
        _export(folder, work / "model.onnx", input_names, allow_pickle)
        _fuse_and_quantize(work / "model.onnx", work / "fused.onnx", work / MODEL_FILE, config)
        for name in ("model.onnx", "fused.onnx"):
            (work / name).unlink()
        try:
            # Complete or absent: a killed export leaves only .tmp-*. One another process
            # published meanwhile is kept (it may be loading it); only a broken one is replaced.
            publish_folder(work, final_dir, replace=False)
        except FileExistsError:
            if not (final_dir / MODEL_FILE).is_file():
                publish_folder(work, final_dir)
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(
            f"{folder}: could not export the model to int8 ONNX ({type(exc).__name__}: {exc}); "
            "load it with precision='exact'"
        ) from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final_dir / MODEL_FILE


class OnnxLogits:
    """``inputs -> logits`` through an ONNX Runtime session; plugs into ``SequencePredictor``."""

    def __init__(self, path: Path, threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:
            raise ModelLoadError(
                f"{path}: ONNX Runtime could not load it ({exc}); delete {path.parent} to "
                "rebuild it"
            ) from exc
        self.input_names = [i.name for i in self.session.get_inputs()]

    def __call__(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        import torch

        feed = {name: inputs[name].numpy() for name in self.input_names}
        return torch.from_numpy(self.session.run(None, feed)[0])


def int8_predictor(
    exact: SequencePredictor,
    folder: Path,
    cache_root: Path,
    *,
    check_texts: Sequence[str] | None,
    min_agreement: float,
    allow_pickle: bool,
) -> tuple[SequencePredictor, PrecisionCheck]:
    """An int8 copy of ``exact`` (same tokenizer, labels and batching), checked against it."""
    import torch

    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if exact.uses_token_types else [])
    path = int8_model_file(folder, cache_root, names, exact.model.config, allow_pickle)
    return checked_fast_copy(
        exact,
        OnnxLogits(path, torch.get_num_threads()),
        folder,
        precision="int8",
        check_texts=check_texts,
        min_agreement=min_agreement,
    )


def cache_root(cache_dir: str | os.PathLike[str] | None) -> Path:
    """Where int8 exports are cached: the same folder as extracted archives."""
    from ._loading import default_cache_dir

    return Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
