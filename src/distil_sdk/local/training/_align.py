"""Start the student from its teacher: the teacher's view of the text and the teacher's head.

A BERT-style sequence classifier reads ``classifier(tanh(pooler.dense(h_cls)))``: the [CLS]
token's last hidden state. all-MiniLM-L6-v2 was trained for *mean* pooling, so a freshly built
student reads a view of the text the embedded teacher never used, and a few dozen labelled rows
do not teach it enough. Measured on a 77-class task (616 labelled rows): logistic regression on
the [CLS] states scores 0.563, on the mean-pooled embeddings 0.771, and student-base ended at
0.569.

Two ways to give the student the teacher's view, the first preferred:

* `append_mean_pool_layer` adds one encoder layer whose weights make it a pooling step:
  its [CLS] output is the layer-normalised mean of the tokens, which the pooler and classifier
  turn into the teacher's logits with no fit (`init_pooled_from_teacher`). The student
  starts *as* the teacher (seed 0: 0.774 against the teacher's 0.775 on the 77 intents, 0.865
  against 0.875 on a 4-shot mental-health task, whose long posts the student truncates earlier
  than the teacher).
* `init_from_teacher` keeps the architecture and fits ``pooler.dense`` by ridge
  regression (in ``atanh`` space) from the [CLS] state to the teacher's embedding, on the task's
  own texts: 0.686 on the 77 intents, 0.812 on that 4-shot task.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy as np

from .student import Student

__all__ = [
    "append_mean_pool_layer",
    "average_with_start",
    "cls_states",
    "init_from_teacher",
    "init_pooled_from_teacher",
    "snapshot_weights",
    "supports_teacher_init",
]


def _pooler_and_head(model: Any) -> tuple[Any, Any] | None:
    import torch

    pooler = getattr(getattr(model, "base_model", None), "pooler", None)
    dense = getattr(pooler, "dense", None)
    activation = getattr(pooler, "activation", None)
    head = getattr(model, "classifier", None)
    if not isinstance(dense, torch.nn.Linear) or not isinstance(head, torch.nn.Linear):
        return None
    if not isinstance(activation, torch.nn.Tanh) or dense.in_features != dense.out_features:
        return None
    if head.in_features != dense.out_features:
        return None
    return dense, head


def supports_teacher_init(student: Student) -> bool:
    """Whether ``student`` has the BERT-style ``tanh(pooler) -> classifier`` head this needs."""
    return _pooler_and_head(student.model) is not None


def _submodule(module: Any, kind: type, *path: str) -> Any:
    """``module.<path>`` when it exists and is a ``kind``, else ``None``."""
    for name in path:
        module = getattr(module, name, None)
    return module if isinstance(module, kind) else None


def _mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Mean row-wise cosine between two ``(n, d)`` arrays, rounded for logs."""
    cosine = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    return round(float(cosine.mean()), 4)


def append_mean_pool_layer(model: Any, *, scale: float = 1e4) -> bool:
    """Append one encoder layer whose [CLS] output is the layer-normalised mean of the tokens.

    The layer is an ordinary copy of the last one (so the model stays a plain
    ``*ForSequenceClassification`` checkpoint that any loader reads), with weights that make it
    a pooling step: zero queries and keys make the attention uniform over the unmasked tokens,
    the value map is the identity and the output map ``scale x`` identity, so the residual
    [CLS] state is negligible before the layer norm (all-MiniLM-L6-v2's pooled values reach
    1.3 and its token states 6: at 1e4 the residual is under 0.1% and fp16 still holds the
    sum); the feed-forward block adds zero. Its [CLS] state is then ``LayerNorm(mean of the
    previous layer)``, the mean-pooled view the sentence encoder (and so the embedded teacher)
    reads, instead of the raw [CLS] token.
    The layer is frozen. Returns ``False`` (model untouched) for encoders of another layout.
    """
    import copy

    import torch

    layers = getattr(getattr(getattr(model, "base_model", None), "encoder", None), "layer", None)
    if not isinstance(layers, torch.nn.ModuleList) or not len(layers):
        return False
    layer = copy.deepcopy(layers[-1])
    linear, norm = torch.nn.Linear, torch.nn.LayerNorm
    parts: dict[str, Any] = {
        "query": _submodule(layer, linear, "attention", "self", "query"),
        "key": _submodule(layer, linear, "attention", "self", "key"),
        "value": _submodule(layer, linear, "attention", "self", "value"),
        "out": _submodule(layer, linear, "attention", "output", "dense"),
        "up": _submodule(layer, linear, "intermediate", "dense"),
        "down": _submodule(layer, linear, "output", "dense"),
    }
    norms = [
        _submodule(layer, norm, "attention", "output", "LayerNorm"),
        _submodule(layer, norm, "output", "LayerNorm"),
    ]
    if any(p is None for p in [*parts.values(), *norms]):
        return False
    hidden = parts["value"].in_features
    if parts["value"].out_features != hidden or parts["out"].in_features != hidden:
        return False
    with torch.no_grad():
        for part in parts.values():
            part.weight.zero_()
            if part.bias is not None:
                part.bias.zero_()
        parts["value"].weight.copy_(torch.eye(hidden))
        parts["out"].weight.copy_(scale * torch.eye(hidden))
        for layer_norm in norms:
            layer_norm.weight.fill_(1.0)
            layer_norm.bias.zero_()
    layer.requires_grad_(False)
    for module in layer.modules():  # recent transformers number layers for their KV cache
        if hasattr(module, "layer_idx"):
            setattr(module, "layer_idx", len(layers))  # noqa: B010 - nn.Module's typed setattr
    layers.append(layer)
    model.config.num_hidden_layers = len(layers)
    return True


def cls_states(student: Student, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
    """The encoder's last-layer [CLS] state per text, ``(len(texts), hidden)``."""
    import torch

    ids = student.encode(texts)
    encoder = student.model.base_model
    hidden = int(student.model.config.hidden_size)
    out = np.zeros((len(ids), hidden), dtype=np.float64)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    encoder.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = student.collate([ids[i] for i in idx])
            out[idx] = encoder(**batch).last_hidden_state[:, 0].float().numpy()
    return out


def _ridge(x: np.ndarray, y: np.ndarray, strength: float) -> tuple[np.ndarray, np.ndarray]:
    """``(W (d_in, d_out), b)`` minimising ``|xW + b - y|^2 + a|W|^2``; ``a`` is ``strength``
    times the mean feature variance, so it does not depend on the encoder's scale."""
    mx, my = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - mx, y - my
    gram = xc.T @ xc
    alpha = strength * float(np.trace(gram)) / gram.shape[0]
    w = np.linalg.solve(gram + alpha * np.eye(gram.shape[0]), xc.T @ yc)
    return w, my - mx @ w


def init_from_teacher(
    student: Student,
    texts: Sequence[str],
    embeddings: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray,
    *,
    max_texts: int = 2000,
    ridge: float = 0.01,
    seed: int = 0,
) -> dict[str, Any]:
    """Set ``student``'s pooler and classifier so it scores texts like the linear teacher.

    ``embeddings[i]`` is the teacher's embedding of ``texts[i]``; ``weight`` ``(k, dim)`` and
    ``bias`` ``(k,)`` its head in ``student.labels`` order. At most ``max_texts`` texts (drawn
    with ``seed``) fit the map. Returns diagnostics (texts used, mean cosine between the
    student's pooled output and the teacher's embedding on them).

    Raises:
        ValueError: the student has no BERT-style pooler (see `supports_teacher_init`),
            the shapes disagree, or there are fewer texts than two.
    """
    import torch

    parts = _pooler_and_head(student.model)
    if parts is None:
        raise ValueError("the student has no tanh pooler feeding a linear classifier")
    dense, head = parts
    embeddings = np.asarray(embeddings, dtype=np.float64)
    if len(texts) != len(embeddings) or len(texts) < 2:
        raise ValueError(
            f"need matching texts and embeddings (got {len(texts)} and {len(embeddings)})"
        )
    if embeddings.shape[1] != dense.out_features or weight.shape != (
        head.out_features,
        dense.out_features,
    ):
        raise ValueError(
            f"teacher embeddings of width {embeddings.shape[1]} and a head of shape "
            f"{weight.shape} do not fit a student of width {dense.out_features} with "
            f"{head.out_features} labels"
        )
    rows = list(range(len(texts)))
    if len(rows) > max_texts:
        rows = sorted(random.Random(seed).sample(rows, max_texts))
    x = cls_states(student, [texts[i] for i in rows])
    target = embeddings[rows]
    w, b = _ridge(x, np.arctanh(np.clip(target, -0.95, 0.95)), ridge)
    cosine = _mean_cosine(np.tanh(x @ w + b), target)
    with torch.no_grad():
        dense.weight.copy_(torch.as_tensor(w.T, dtype=dense.weight.dtype))
        dense.bias.copy_(torch.as_tensor(b, dtype=dense.bias.dtype))
        head.weight.copy_(torch.as_tensor(weight, dtype=head.weight.dtype))
        head.bias.copy_(torch.as_tensor(bias, dtype=head.bias.dtype))
    return {"texts": len(rows), "cosine": cosine}


def init_pooled_from_teacher(
    student: Student,
    weight: np.ndarray,
    bias: np.ndarray,
    *,
    gain: float = 0.25,
    check_texts: Sequence[str] = (),
    check_embeddings: np.ndarray | None = None,
) -> dict[str, Any]:
    """Copy a linear teacher's head onto a student ending in `append_mean_pool_layer`.

    That layer's [CLS] state is the standardised mean-pooled vector, ``sqrt(hidden)`` times the
    (centred) unit embedding the teacher reads, so no fit is needed: ``pooler.dense`` scales it
    by ``gain / sqrt(hidden)`` (small enough for ``tanh`` to stay linear to well under 1%) and
    the classifier is the teacher's head divided by ``gain``. With ``check_texts`` and their
    teacher embeddings, returns the mean cosine between the student's pooled output and them.

    Raises:
        ValueError: the student has no BERT-style pooler, or the head's shape does not fit.
    """
    import torch

    parts = _pooler_and_head(student.model)
    if parts is None:
        raise ValueError("the student has no tanh pooler feeding a linear classifier")
    dense, head = parts
    hidden = dense.out_features
    if weight.shape != (head.out_features, hidden):
        raise ValueError(
            f"a teacher head of shape {weight.shape} does not fit a student of width {hidden} "
            f"with {head.out_features} labels"
        )
    with torch.no_grad():
        dense.weight.copy_(torch.eye(hidden) * (gain / np.sqrt(hidden)))
        dense.bias.zero_()
        head.weight.copy_(torch.as_tensor(weight / gain, dtype=head.weight.dtype))
        head.bias.copy_(torch.as_tensor(bias, dtype=head.bias.dtype))
    # A fixed scaling now, part of the pooling: Adam's per-weight steps would scramble a
    # matrix this small (0.013 on the diagonal) within one epoch.
    dense.requires_grad_(False)
    info: dict[str, Any] = {"texts": 0, "cosine": None}
    if len(check_texts) and check_embeddings is not None:
        pooled = np.tanh(cls_states(student, check_texts) * (gain / np.sqrt(hidden)))
        target = np.asarray(check_embeddings, dtype=np.float64)
        info = {"texts": len(check_texts), "cosine": _mean_cosine(pooled, target)}
    return info


def snapshot_weights(model: Any) -> dict[str, Any]:
    """A detached copy of ``model``'s state, for `average_with_start`."""
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def average_with_start(model: Any, start: dict[str, Any], keep: float) -> None:
    """Move ``model``'s weights back towards ``start``: ``start + keep * (now - start)``.

    Weight-space ensembling of a model and its fine-tuned self (WiSE-FT, Wortsman et al.,
    2022, whose default is ``keep=0.5``): the average of two points on one fine-tuning path
    keeps what the start knew and most of what training added. Here the start is the exact copy
    of the teacher, and the average scored at or above the distilled weights alone in 7 of 8
    scratch runs (see ``PipelineOptions.teacher_init_keep``). Integer buffers (position ids)
    are left as they are.
    """
    import torch

    if not 0.0 <= keep <= 1.0:
        raise ValueError(f"keep must lie in [0, 1], got {keep}")
    now = model.state_dict()
    with torch.no_grad():
        for name, tensor in now.items():
            if tensor.is_floating_point() and name in start:
                tensor.copy_(torch.lerp(start[name].to(tensor.dtype), tensor, keep))
