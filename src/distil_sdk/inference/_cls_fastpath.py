"""Exact shortcut for encoder classifiers whose head reads only the first ([CLS]) position.

In BERT-style post-LayerNorm encoders the last layer's output at position 0 depends on every
token only through that layer's keys and values. So the last layer can compute keys/values for
all tokens but queries, attention output and feed-forward for row 0 alone: about 3/4 of the
layer's work is skipped, with the same arithmetic as the model's own forward pass.

Only exact classes known to have that structure are supported (BERT, RoBERTa, XLM-RoBERTa
sequence classifiers as encoders in eval mode); anything else gets ``None`` and the caller
runs ``model(**inputs)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = ["ClsLogits", "cls_logits_fn"]

ClsLogits = Callable[["torch.Tensor", "torch.Tensor", "torch.Tensor | None"], "torch.Tensor"]

# Off switch for benchmarking and debugging; not public API.
_ENABLED = True


def _families() -> dict[type, tuple[str, Any, Any]]:
    """Supported classifier class -> (base model attribute, layer class, self-attention class)."""
    from transformers.models.bert import modeling_bert as bert
    from transformers.models.roberta import modeling_roberta as roberta
    from transformers.models.xlm_roberta import modeling_xlm_roberta as xlmr

    return {
        bert.BertForSequenceClassification: ("bert", bert.BertLayer, bert.BertSelfAttention),
        roberta.RobertaForSequenceClassification: (
            "roberta",
            roberta.RobertaLayer,
            roberta.RobertaSelfAttention,
        ),
        xlmr.XLMRobertaForSequenceClassification: (
            "roberta",
            xlmr.XLMRobertaLayer,
            xlmr.XLMRobertaSelfAttention,
        ),
    }


def cls_logits_fn(model: Any) -> ClsLogits | None:
    """A function ``(input_ids, attention_mask, token_type_ids) -> logits`` for ``model``.

    Returns ``None`` when ``model`` is not exactly one of the supported classes in eval mode as a
    plain encoder (a ``torch.compile``d model is a wrapper, so it is not supported either).
    """
    if not _ENABLED:
        return None
    try:
        from transformers.masking_utils import create_bidirectional_mask

        families = _families()
    except ImportError:
        return None
    family = families.get(type(model))
    if family is None:
        return None
    base_attr, layer_cls, attention_cls = family
    base = getattr(model, base_attr, None)
    config = getattr(model, "config", None)
    if base is None or config is None or model.training:
        return None
    if getattr(config, "is_decoder", True) or getattr(config, "add_cross_attention", True):
        return None
    layers = list(base.encoder.layer)
    if not layers or any(
        type(layer) is not layer_cls
        or type(layer.attention.self) is not attention_cls
        or layer.attention.is_cross_attention
        for layer in layers
    ):
        return None
    last = layers[-1]
    if base_attr == "bert":
        if base.pooler is None:
            return None

        def head(cls_row: torch.Tensor) -> torch.Tensor:
            # BertForSequenceClassification: pooler (dense+tanh on row 0), dropout, classifier.
            return model.classifier(model.dropout(base.pooler(cls_row)))  # type: ignore[no-any-return]
    else:

        def head(cls_row: torch.Tensor) -> torch.Tensor:
            # RobertaClassificationHead reads features[:, 0] itself.
            return model.classifier(cls_row)  # type: ignore[no-any-return]

    def logits(
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None,
    ) -> torch.Tensor:
        hidden = base.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
        # The model's own mask for its attention implementation (None when nothing is padded).
        mask = create_bidirectional_mask(
            config=base.config, inputs_embeds=hidden, attention_mask=attention_mask
        )
        for layer in layers[:-1]:
            hidden = layer(hidden, mask)
        key_mask = None if mask is None else attention_mask.bool()[:, None, None, :]
        return head(_first_row_of_layer(last, hidden, key_mask))

    return logits


def _first_row_of_layer(
    layer: Any, hidden: torch.Tensor, key_mask: torch.Tensor | None
) -> torch.Tensor:
    """Output of a BERT-style layer at position 0 only, shape ``(batch, 1, hidden)``."""
    import torch.nn.functional as F

    attention = layer.attention.self
    batch, length, _ = hidden.shape
    first = hidden[:, :1]
    head_size = attention.attention_head_size
    query = attention.query(first).view(batch, 1, -1, head_size).transpose(1, 2)
    key = attention.key(hidden).view(batch, length, -1, head_size).transpose(1, 2)
    value = attention.value(hidden).view(batch, length, -1, head_size).transpose(1, 2)
    # Padding keys are masked (True = attend), as in the model's bidirectional padding mask.
    context = F.scaled_dot_product_attention(
        query, key, value, attn_mask=key_mask, scale=attention.scaling
    )
    context = context.transpose(1, 2).reshape(batch, 1, -1)
    attended = layer.attention.output(context, first)  # dense, dropout, LayerNorm(x + residual)
    return layer.output(layer.intermediate(attended), attended)  # type: ignore[no-any-return]
