"""Finding, checking and unpacking model files; choosing the device and dtype.

Everything here runs before torch touches a weight, so a missing or corrupt file is reported by
name instead of surfacing as a transformers traceback.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import logging
import os
import re
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._archive import safe_extract
from .._errors import DistilError, ModelLoadError, UnsafeArchiveError

if TYPE_CHECKING:
    import torch

__all__ = [
    "ADAPTER_CONFIG",
    "ADAPTER_DIR",
    "ModelFiles",
    "default_cache_dir",
    "is_adapter_folder",
    "is_causal_config",
    "load_job_description",
    "read_training_logs",
    "resolve_device",
    "resolve_dtype",
    "resolve_source",
]

logger = logging.getLogger("distil_sdk")

_ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
_SAFE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
_PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")
JOB_DESCRIPTION_FILE = "job_description.json"
#: A LoRA (PEFT) adapter's configuration; the folder holding it is an adapter, not a full model.
ADAPTER_CONFIG = "adapter_config.json"
#: Where the platform's tarball keeps the LoRA adapter (``model/`` holds merged weights).
ADAPTER_DIR = "model-adapter"


@dataclass(frozen=True)
class ModelFiles:
    """Where a model lives: ``folder``, plus ``gguf_file`` (a name inside it) for GGUF models.

    ``adapter`` is true when ``folder`` holds a LoRA adapter (``adapter_config.json`` and adapter
    weights, no full weights) to apply on its base model.
    """

    folder: Path
    gguf_file: str | None = None
    archive: Path | None = None
    adapter: bool = False


def is_adapter_folder(folder: Path) -> bool:
    """``folder`` holds a PEFT adapter (``adapter_config.json``) and no full model weights."""
    if not (folder / ADAPTER_CONFIG).is_file():
        return False
    return not any((folder / name).is_file() for name in _SAFE_WEIGHTS + _PICKLE_WEIGHTS)


def is_causal_config(config: dict[str, Any]) -> bool:
    """``config.json`` describes a causal LM (generative student), not a sequence classifier."""
    archs = config.get("architectures") or []
    if any(str(a).endswith("ForSequenceClassification") for a in archs):
        return False
    return any(str(a).endswith(("ForCausalLM", "ForConditionalGeneration")) for a in archs)


def default_cache_dir() -> Path:
    """``$DISTIL_CACHE_DIR/models`` or ``~/.cache/distil_sdk/models``."""
    root = os.environ.get("DISTIL_CACHE_DIR")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "distil_sdk"
    return base / "models"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_archive(path: Path) -> bool:
    name = path.name.lower()
    try:
        return name.endswith(_ARCHIVE_SUFFIXES) or (path.is_file() and tarfile.is_tarfile(path))
    except OSError as exc:
        raise ModelLoadError(f"{path}: cannot be read ({exc})") from exc


def _extract_cached(archive: Path, cache_dir: Path | None) -> Path:
    """Extract ``archive`` once into a folder named by its sha256; later calls reuse it.

    Limits, link checks and errors are `safe_extract`'s: a hostile
    archive is an ``UnsafeArchiveError``, a truncated or corrupt one a ``ModelLoadError``, and
    temporary folders left by a killed extraction are removed by the next one.
    """
    try:
        target = (cache_dir or default_cache_dir()) / _sha256(archive)
    except OSError as exc:
        raise ModelLoadError(f"{archive}: cannot be read ({exc})") from exc
    # safe_extract renames a complete extraction into place, so an existing folder is complete.
    if target.is_dir():
        logger.debug("using cached extraction of %s at %s", archive, target)
        return target
    logger.info("extracting %s into %s", archive, target)
    try:
        safe_extract(archive, target)
    except UnsafeArchiveError:
        raise
    except OSError as exc:  # ModelLoadError included
        if target.is_dir():  # another process finished first; its copy is as good as ours
            return target
        if isinstance(exc, DistilError):
            raise
        raise ModelLoadError(f"{archive}: could not extract into {target} ({exc})") from exc
    return target


def _find_model_folder(root: Path, origin: Path) -> ModelFiles:
    """The model in ``root``: merged weights first (``root`` itself, then ``model/``, then any
    subfolder), then a LoRA adapter (``root``, then ``model-adapter/``, then any subfolder),
    then a single GGUF file. A tarball folder holding both ``model/`` and ``model-adapter/``
    therefore loads the merged ``model/``."""
    subfolders = [p for p in sorted(root.iterdir()) if p.is_dir()]
    candidates = [root, root / "model"]
    candidates += [p for p in subfolders if p not in candidates]
    for folder in candidates:
        if (folder / "config.json").is_file() and not is_adapter_folder(folder):
            return ModelFiles(folder)
    adapters = [root, root / ADAPTER_DIR]
    adapters += [p for p in subfolders if p not in adapters]
    for folder in adapters:
        if is_adapter_folder(folder):
            return ModelFiles(folder, adapter=True)
    for folder in candidates:
        ggufs = sorted(folder.glob("*.gguf")) if folder.is_dir() else []
        if len(ggufs) == 1:
            return ModelFiles(folder, ggufs[0].name)
        if len(ggufs) > 1:
            raise ModelLoadError(
                f"{folder} holds several GGUF files ({', '.join(p.name for p in ggufs)}); "
                "pass the path of the one to load"
            )
    raise ModelLoadError(
        f"{origin}: no model found - expected config.json (a transformers model folder), a model/ "
        f"subfolder holding one, a LoRA adapter ({ADAPTER_CONFIG}, e.g. in {ADAPTER_DIR}/) or a "
        ".gguf file"
    )


def resolve_source(
    source: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None
) -> ModelFiles:
    """Turn a folder, a parent of ``model/``, a tar archive, a ``.gguf`` file or a Hugging Face
    hub id already in the local Hugging Face cache into ``ModelFiles``."""
    path = Path(source).expanduser()
    if not path.exists():
        if isinstance(source, str) and _HUB_ID.fullmatch(source):
            path = _from_hub_cache(source)
        else:
            raise ModelLoadError(f"{path}: no such file or folder")
    if path.is_file() and path.suffix.lower() == ".gguf":
        return ModelFiles(path.parent, path.name)
    if path.is_file():
        if not _is_archive(path):
            raise ModelLoadError(f"{path}: not a model folder, a .tar archive or a .gguf file")
        root = _extract_cached(path, Path(cache_dir).expanduser() if cache_dir else None)
        files = _find_model_folder(root, path)
        if files.folder.is_symlink():  # safe_extract refuses a top-level model link already
            raise UnsafeArchiveError(f"{path}: the model folder {files.folder.name} is a link")
        return ModelFiles(files.folder, files.gguf_file, archive=path, adapter=files.adapter)
    return _find_model_folder(path, path)


# ``org/name``: what the hub calls a repo id (a path like ``models/x`` that does not exist
# reads the same; it is then looked up in the cache and reported as neither).
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def _from_hub_cache(repo_id: str) -> Path:
    """The snapshot folder of ``repo_id`` in the local Hugging Face cache; never downloads."""
    try:
        from huggingface_hub import constants, snapshot_download
    except ImportError as exc:  # pragma: no cover - a dependency of transformers
        raise ModelLoadError(f"{repo_id}: no such file or folder") from exc
    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception as exc:  # LocalEntryNotFoundError and friends
        raise ModelLoadError(
            f"{repo_id}: no such file or folder, and no Hugging Face model {repo_id!r} in the "
            f"local cache ({constants.HF_HUB_CACHE}); download it first where there is network "
            f"(`hf download {repo_id}`, or huggingface_hub.snapshot_download({repo_id!r})) "
            "or pass the model folder's path"
        ) from exc


def read_config(folder: Path) -> dict[str, Any]:
    """Parse ``config.json``; a missing or broken file raises ``ModelLoadError`` naming it."""
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelLoadError(f"{path}: missing") from exc
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(config, dict):
        raise ModelLoadError(f"{path}: expected a JSON object")
    return config


def check_weights(folder: Path, allow_pickle: bool) -> None:
    """Refuse pickle-only weights unless allowed; check a safetensors header is readable."""
    safe = [folder / name for name in _SAFE_WEIGHTS if (folder / name).is_file()]
    if not safe:
        pickled = [name for name in _PICKLE_WEIGHTS if (folder / name).is_file()]
        if pickled and not allow_pickle:
            raise ModelLoadError(
                f"{folder / pickled[0]}: weights stored with pickle, which can run arbitrary code "
                "when loaded; convert them to safetensors, or pass allow_pickle=True if you trust "
                "the source"
            )
        if not pickled:
            raise ModelLoadError(
                f"{folder / 'model.safetensors'}: missing (no model weights in {folder})"
            )
        return
    if safe[0].name == "model.safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(safe[0]), framework="pt") as handle:
                handle.keys()
        except Exception as exc:
            raise ModelLoadError(
                f"{safe[0]}: corrupt or truncated safetensors file ({exc})"
            ) from exc


def check_tokenizer(folder: Path) -> None:
    """A fast tokenizer needs ``tokenizer.json`` (or at least a vocabulary to build it from)."""
    if (folder / "tokenizer.json").is_file():
        try:
            json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{folder / 'tokenizer.json'}: not valid JSON ({exc})") from exc
        return
    if not any((folder / n).is_file() for n in ("vocab.txt", "tokenizer.model", "vocab.json")):
        raise ModelLoadError(
            f"{folder / 'tokenizer.json'}: missing (no tokenizer files in {folder})"
        )


def load_job_description(source: Any, folder: Path | None) -> Any:
    """A ``JobDescription`` (or the parsed dict when that type is unavailable).

    ``source`` may be a ``JobDescription``, a mapping, a path, or ``None`` to read
    ``job_description.json`` next to the model (or in its parent folder).
    """
    if source is not None and not isinstance(source, (str, os.PathLike)):
        return source
    if source is not None:
        path = Path(source).expanduser()
    else:
        found = [f / JOB_DESCRIPTION_FILE for f in ([folder, folder.parent] if folder else [])]
        found = [p for p in found if p.is_file()]
        if not found:
            raise ModelLoadError(
                f"{(folder or Path('.')) / JOB_DESCRIPTION_FILE}: missing - a generative model needs "
                "its job description for the labels; pass job_description=... to from_pretrained"
            )
        path = found[0]
    try:
        from ..types.task import JobDescription  # written in parallel; the dict works meanwhile

        return JobDescription.from_file(path)
    except ImportError:
        pass
    except Exception as exc:
        raise ModelLoadError(f"{path}: not a valid job description ({exc})") from exc
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path}: not a valid job description ({exc})") from exc
    return data


def read_training_logs(folder: Path) -> dict[str, Any]:
    """``{"training-logs.csv": [row dicts], "training-logs.json": parsed}`` for the files present."""
    logs: dict[str, Any] = {}
    csv_path, json_path = folder / "training-logs.csv", folder / "training-logs.json"
    try:
        if csv_path.is_file():
            with csv_path.open(newline="", encoding="utf-8") as handle:
                logs[csv_path.name] = [dict(row) for row in csv.DictReader(handle)]
        if json_path.is_file():
            logs[json_path.name] = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, ValueError, csv.Error) as exc:
        raise ModelLoadError(f"{folder}: unreadable training logs ({exc})") from exc
    return logs


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` picks CUDA, then MPS, then CPU; anything else is passed to ``torch.device``."""
    import torch

    if isinstance(device, str) and device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(device)


_DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
}


def resolve_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    """``"auto"``: fp32 on CPU, bf16 on GPUs that support it, else fp16."""
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if device.type == "mps":
            return torch.float16
        return torch.float32
    if dtype not in _DTYPES:
        raise ValueError(
            f"dtype {dtype!r} not understood; use 'auto', 'float32', 'bfloat16' or 'float16'"
        )
    resolved: torch.dtype = getattr(torch, _DTYPES[dtype])
    return resolved


def load_tokenizer_and_model(
    auto_class: Any,
    folder: Path,
    where: Path,
    *,
    device: Any,
    dtype: Any,
    allow_pickle: bool,
    compile: bool,
    gguf_file: str | None = None,
) -> tuple[Any, Any]:
    """Load the tokenizer and the weights of ``folder`` with ``auto_class`` (an ``AutoModel...``).

    Every failure becomes a `ModelLoadError` naming ``where``. The model is moved to
    ``device``, put in eval mode without gradients and, with ``compile``, ``torch.compile``d.
    """
    from transformers import AutoTokenizer

    extra: dict[str, Any] = {"gguf_file": gguf_file} if gguf_file else {}
    with quiet_loading(), gguf_parsed_once() if gguf_file else nullcontext():
        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, **extra)
        except Exception as exc:
            raise ModelLoadError(f"{where}: could not load the tokenizer ({exc})") from exc
        if not gguf_file:  # a GGUF file is never pickle; elsewhere refuse pickle unless opted in
            extra["use_safetensors"] = None if allow_pickle else True
        try:
            model = auto_class.from_pretrained(folder, dtype=dtype, local_files_only=True, **extra)
        except Exception as exc:
            raise ModelLoadError(f"{where}: could not load the model weights ({exc})") from exc
    model.to(device).eval().requires_grad_(False)
    if compile:
        import torch

        model = torch.compile(model, dynamic=True)
    return tokenizer, model


_GGUF_PATCH = threading.Lock()


@contextmanager
def gguf_parsed_once() -> Iterator[None]:
    """Within one GGUF load, parse the file's header once and build gguf's tensor-name table once.

    transformers parses the whole header (SmolLM2's 49k-token vocabulary included) three times
    per load (config, tokenizer, weights) and builds a tensor-name table for every submodule
    (397 times for SmolLM2-135M): together 60% of a 32 s load (measured with cProfile). Both
    come from ``gguf`` at call time, so they are swapped on the module for the load's duration;
    the lock keeps concurrent loads from seeing each other's swap.
    """
    try:
        import gguf as gguf_module
    except ImportError:  # transformers reports the missing package itself
        yield
        return
    gguf: Any = gguf_module  # its attributes are swapped below
    with _GGUF_PATCH:
        reader_class, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
        readers: dict[tuple[str, str], Any] = {}

        def reader(path: Any, mode: str = "r") -> Any:
            key = (os.fspath(path), mode)
            if key not in readers:
                readers[key] = reader_class(path, mode)
            return readers[key]

        gguf.GGUFReader = reader
        gguf.get_tensor_name_map = functools.lru_cache(maxsize=None)(name_map)
        try:
            yield
        finally:
            gguf.GGUFReader, gguf.get_tensor_name_map = reader_class, name_map


@contextmanager
def quiet_loading() -> Iterator[None]:
    """Silence transformers' and the hub's progress bars (weights, GGUF dequantising) while
    loading: they would write ``\\r`` bars into the caller's logs. The previous state is
    restored afterwards, so the caller's own use of transformers is left as it was."""
    import importlib

    from transformers.utils import logging as hf_logging

    # The module, not the tqdm class that huggingface_hub.utils re-exports under the same name.
    hub_utils: Any = importlib.import_module("huggingface_hub.utils.tqdm")

    tf_enabled = hf_logging.is_progress_bar_enabled()
    hub_disabled = hub_utils.are_progress_bars_disabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    hub_utils.disable_progress_bars()
    try:
        yield
    finally:
        if tf_enabled:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
        if not hub_disabled:
            hub_utils.enable_progress_bars()
