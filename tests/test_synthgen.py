"""Synthetic example generation by the LLM teacher, with respx standing in for the LLM server."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from distil_sdk.local.teachers._chat import ChatClient
from distil_sdk.local.teachers._synthgen import (
    SYNTHGEN_KEYS,
    _NearDuplicates,
    class_targets,
    generate_examples,
    parse_examples,
)
from distil_sdk.local.teachers.llm import LLMTeacher
from distil_sdk.types.data import LabelledDataset, UnlabelledDataset
from distil_sdk.types.task import JobDescription, SynthgenConfig, TaskConfig

BASE = "http://llm.test/v1"
URL = f"{BASE}/chat/completions"
LABELS = ["billing", "cards", "shopping"]
SEED_TEXTS = {
    "billing": ["why was I charged a monthly fee", "the overdraft fee is too high"],
    "cards": ["my card was declined at the shop", "I lost my debit card"],
    "shopping": ["where is my parcel", "the order arrived broken", "refund for my order"],
}
WORDS = [
    "apple",
    "river",
    "quiet",
    "engine",
    "purple",
    "mountain",
    "silver",
    "ticket",
    "garden",
    "rocket",
    "pencil",
    "window",
    "thunder",
    "candle",
    "mirror",
    "basket",
    "violin",
    "harbour",
    "meadow",
    "lantern",
]


def reply(content: str) -> httpx.Response:
    return httpx.Response(200, json={"choices": [{"message": {"content": content}}]})


class FakeLLM:
    """Writes examples for the class a prompt asks for and labels texts by their marker word.

    Each generation reply holds fresh texts plus an exact repeat, a near-copy of a seed text and
    one text the teacher will label as another class - all of which must be dropped.
    """

    def __init__(self) -> None:
        self.generation_bodies: list[dict[str, Any]] = []
        self.counter = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        messages = body["messages"]
        if "training data" in messages[0]["content"]:
            self.generation_bodies.append(body)
            asked = re.search(r'belong to the class "(\w+)"', messages[-1]["content"])
            assert asked is not None
            return reply(json.dumps(self._examples(asked.group(1))))
        question = re.search(r"<question>(.*)</question>", messages[-1]["content"], re.DOTALL)
        assert question is not None
        text = question.group(1)
        label = next((lab for lab in LABELS if text.startswith(lab)), "billing")
        return reply(f"<output>{label}</output>")

    def _examples(self, label: str) -> list[str]:
        fresh = []
        for _ in range(2):
            self.counter += 1
            words = random.Random(self.counter).sample(WORDS, 6)
            fresh.append(f"{label} {self.counter} " + " ".join(words))
        other = next(lab for lab in LABELS if lab != label)
        return [
            *fresh,
            fresh[0].upper(),  # an exact repeat once case is ignored
            SEED_TEXTS[label][0] + "!",  # a near-copy of a seed row
            f"{other} in disguise {self.counter}",  # the teacher says: another class
            "",
        ]


@pytest.fixture
def job() -> JobDescription:
    return JobDescription(
        task_description="Route customer messages of a bank.",
        classes_description={
            "billing": "Fees and charges.",
            "cards": "Card problems.",
            "shopping": "Purchases and deliveries.",
        },
    )


@pytest.fixture
def train() -> LabelledDataset:
    rows = [(text, label) for label, texts in SEED_TEXTS.items() for text in texts]
    return LabelledDataset.from_lists([t for t, _ in rows], [lab for _, lab in rows])


def _synthesize(
    tmp_path: Path, job: JobDescription, train: LabelledDataset, synthgen: dict[str, Any]
) -> tuple[LabelledDataset, FakeLLM, respx.Route]:
    fake = FakeLLM()
    route = respx.post(URL).mock(side_effect=fake)
    config = TaskConfig(synthgen=synthgen)
    teacher = LLMTeacher(ChatClient(BASE, "tiny-llm", cache_dir=tmp_path / "cache"))
    unlabelled = UnlabelledDataset.from_lists(["is there a fee for cards", "track parcel"])
    out = teacher.synthesize(job, train, unlabelled, config)
    teacher.close()
    return out, fake, route


@respx.mock
@pytest.mark.parametrize(
    ("match_seed", "expected"),
    [
        (False, {"billing": 4, "cards": 4, "shopping": 3}),
        (True, {"billing": 3, "cards": 3, "shopping": 5}),
    ],
)
def test_synthesize_meets_the_target_with_the_distribution_rule(
    tmp_path: Path,
    job: JobDescription,
    train: LabelledDataset,
    match_seed: bool,
    expected: dict[str, int],
) -> None:
    synthgen = {
        "generation_target": 11,
        "generation_in_single_call": 3,
        "teacher_temperature": 0.9,
        "validation_similarity_threshold": 0.8,
        "match_generated_distribution_to_seed": match_seed,
        "num_positive_exemplars_per_generation": 2,
        "num_negative_exemplars_per_generation": 1,
        "num_unlabelled_exemplars_per_generation": 1,
    }

    out, fake, _ = _synthesize(tmp_path, job, train, synthgen)

    assert len(out) == 11
    assert Counter(out.labels) == expected
    assert all(text.startswith(label) for text, label in zip(out.texts, out.labels, strict=True))
    lowered = [t.casefold() for t in out.texts]
    assert len(set(lowered)) == len(lowered)
    assert not any("disguise" in t or t.startswith(tuple(train.texts)) for t in out.texts)
    # every call: the settings' temperature, its own seed, exemplars of the asked class and others
    assert {b["temperature"] for b in fake.generation_bodies} == {0.9}
    seeds = [b["seed"] for b in fake.generation_bodies]
    assert len(set(seeds)) == len(seeds)
    first = fake.generation_bodies[0]["messages"][-1]["content"]
    asked = re.search(r'class "(\w+)"', first)
    assert asked is not None
    assert sum(text in first for text in SEED_TEXTS[asked.group(1)]) == 2
    assert first.count("- [") == 1  # one negative exemplar, tagged with its class
    assert "is there a fee for cards" in first or "track parcel" in first


@respx.mock
def test_synthesize_again_is_answered_from_the_cache(
    tmp_path: Path, job: JobDescription, train: LabelledDataset
) -> None:
    synthgen = {"generation_target": 4, "generation_in_single_call": 2}
    first, _, route = _synthesize(tmp_path, job, train, synthgen)
    calls = route.call_count

    again, _, route = _synthesize(tmp_path, job, train, synthgen)

    assert calls > 0
    assert route.call_count == calls  # respx keeps one route per pattern: no new calls
    assert again.texts == first.texts


@respx.mock
def test_a_model_that_only_repeats_itself_stops_short(
    tmp_path: Path, job: JobDescription, train: LabelledDataset, caplog: pytest.LogCaptureFixture
) -> None:
    respx.post(URL).mock(return_value=reply('["the same text", "the same text"]'))
    teacher = LLMTeacher(ChatClient(BASE, "m", cache_dir=None))

    out = teacher.synthesize(job, train, None, TaskConfig(synthgen={"generation_target": 6}))

    assert len(out) <= 1
    assert "made" in caplog.text


def test_class_targets_uniform_and_proportional() -> None:
    seed = ["a"] * 6 + ["b"] * 3 + ["c"]
    assert class_targets(["a", "b", "c"], seed, 10, match_seed=False) == {"a": 4, "b": 3, "c": 3}
    assert class_targets(["a", "b", "c"], seed, 20, match_seed=True) == {"a": 12, "b": 6, "c": 2}
    assert sum(class_targets(["a", "b", "c"], seed, 7, match_seed=True).values()) == 7
    assert class_targets(["a", "b"], [], 3, match_seed=True) == {"a": 2, "b": 1}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('["one", "two"]', ["one", "two"]),
        ('Sure!\n```json\n[{"text": "one"}, {"example": "two"}, "  "]\n```', ["one", "two"]),
        ('Here are examples:\n1. one\n2) "two"\n- three\n', ["one", "two", "three"]),
        ("Sure, here you go\n1. one\n2. two", ["one", "two"]),
        ("just one text", ["just one text"]),
        ("[not json", ["[not json"]),
    ],
)
def test_parse_examples_is_lenient(content: str, expected: list[str]) -> None:
    assert parse_examples(content) == expected


def test_near_duplicates_are_rejected_by_similarity() -> None:
    seen = _NearDuplicates(0.8)
    assert seen.add("my card was declined at the shop")
    assert not seen.add("My card   was declined at the shop")  # same once normalised
    assert not seen.add("my card was declined at the shop!")  # near-duplicate
    assert seen.add("where is my parcel")
    assert not seen.add("   ")
    assert _NearDuplicates(1.0).add("x")


class _ScriptedChat:
    """Answers every generation call with three texts drawn from the call's seed."""

    def __init__(self) -> None:
        self.requests: list[tuple[Any, ...]] = []

    def complete_many(self, requests: list[Any]) -> list[Any]:
        replies = []
        for request in requests:
            self.requests.append((request.seed, request.temperature, request.max_tokens))
            self.requests.append(tuple(m["content"] for m in request.messages))
            rng = random.Random(request.seed)
            texts = [" ".join(rng.sample(WORDS, 5)) for _ in range(3)]
            replies.append(type("Reply", (), {"content": json.dumps(texts)})())
        return replies


def _generate(
    job: JobDescription, train: LabelledDataset, synthgen: SynthgenConfig
) -> tuple[Any, ...]:
    def label_fn(texts: Any) -> Any:
        import numpy as np

        return np.eye(len(LABELS))[[len(t) % len(LABELS) for t in texts]]

    chat = _ScriptedChat()
    out = generate_examples(
        chat,  # type: ignore[arg-type]
        job,
        train,
        ["is there a fee for cards"],
        synthgen,
        label_fn=label_fn,
        seed=3,
    )
    return out, chat.requests


@pytest.mark.filterwarnings("ignore:Deprecated config key")
def test_synthgen_keys_outside_synthgen_keys_change_nothing(
    job: JobDescription, train: LabelledDataset
) -> None:
    # SYNTHGEN_KEYS is what the model card calls read; every other synthgen key must leave the
    # generation alone. A new synthgen key needs a decision here.
    changed: dict[str, Any] = {
        "test_generation_target": 5,
        "use_traces_as_context": False,
        "generation_per_unstructured_context": 2,
        "validation_max_total_length": 100,
        "num_distractor_context_blocks": 2,
        "output_is_json": True,
        "mutators": ["x"],
        "mutator_update_frequency": 2,
        "max_tool_calls_per_turn": 3,
        "clean_training_targets": True,
        "basic_mutators_to_use": [],
        "mutation_topics": ["t"],
        "validation_max_answer_length": 10,
        "parallel_llm_calls": 2,
    }
    read = {key.split(".", 1)[1] for key in SYNTHGEN_KEYS}
    assert set(SynthgenConfig.model_fields) == read | set(changed)
    base = {"train_generation_target": 9, "generation_in_single_call": 2}
    baseline = _generate(job, train, SynthgenConfig(**base))
    assert baseline[0][0] and baseline[1]
    for key, value in changed.items():
        assert _generate(job, train, SynthgenConfig(**base, **{key: value})) == baseline, key
