"""The model server generating text (``ModelServer(..., generate=True)``, issue 29 part 4):
real loopback HTTP against the tiny random Llama, checked against transformers' own greedy
``generate`` and the OpenAI client."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from conftest import TINY_LABELS
from distil_sdk import LocalClassifier
from distil_sdk._errors import ModelLoadError
from distil_sdk.serving import ModelServer

TIMEOUT = 60.0
SYSTEM = {"role": "system", "content": "the novel tells the story of a family"}
ASK = [SYSTEM, {"role": "user", "content": "my card payment was charged a fee"}]
OTHER = [SYSTEM, {"role": "user", "content": "where is my new card it has not arrived"}]


@pytest.fixture(scope="module")
def server(tiny_llama: Path) -> Iterator[ModelServer]:
    with ModelServer(tiny_llama, port=0, generate=True, model_name="tiny-llm") as served:
        yield served


def chat(server: ModelServer, **body: Any) -> httpx.Response:
    return httpx.post(server.base_url + "/v1/chat/completions", json=body, timeout=TIMEOUT)


def reference(tiny_llama: Path, messages: list[dict[str, str]], max_new: int) -> str:
    """transformers' greedy ``generate`` on the chat template: what the server must answer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama).eval()
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        out = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
        )
    return str(tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True))


def test_greedy_reply_matches_transformers_and_reuses_the_shared_prefix(
    server: ModelServer, tiny_llama: Path
) -> None:
    first = chat(server, messages=ASK, max_tokens=10, temperature=0)
    assert first.status_code == 200, first.text
    answer = first.json()
    assert answer["object"] == "chat.completion" and answer["model"] == "tiny-llm"
    [choice] = answer["choices"]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == reference(tiny_llama, ASK, 10)
    usage = answer["usage"]
    assert usage["prompt_tokens"] > 0 and 0 < usage["completion_tokens"] <= 10
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert choice["finish_reason"] == ("length" if usage["completion_tokens"] == 10 else "stop")
    # The second conversation shares the system turn: the server reuses the first one's cache
    # for it, and the reply must be what a fresh model writes.
    second = chat(server, messages=OTHER, max_tokens=10, temperature=0).json()
    assert second["choices"][0]["message"]["content"] == reference(tiny_llama, OTHER, 10)
    again = chat(server, messages=ASK, max_tokens=10, temperature=0).json()
    assert again["choices"][0]["message"]["content"] == choice["message"]["content"]


def test_seed_temperature_and_stop(server: ModelServer) -> None:
    def sample(**extra: Any) -> dict[str, Any]:
        body = {"messages": ASK, "max_tokens": 16, "temperature": 1.0, **extra}
        response = chat(server, **body)
        assert response.status_code == 200, response.text
        choice: dict[str, Any] = response.json()["choices"][0]
        return choice

    seven = sample(seed=7)["message"]["content"]
    assert sample(seed=7)["message"]["content"] == seven  # a seed makes sampling repeatable
    assert sample(seed=8)["message"]["content"] != seven  # and the seed is what decides it
    # top_p keeps the most likely tokens up to that mass: a tiny one leaves only the greedy pick.
    greedy = chat(server, messages=ASK, max_tokens=16, temperature=0).json()["choices"][0]
    assert sample(seed=7, top_p=1e-6)["message"] == greedy["message"]
    assert len(seven) >= 3, seven
    stop = seven[len(seven) // 2 : len(seven) // 2 + 2]
    stopped = sample(seed=7, stop=["never in a reply", stop])
    # Cut before the first occurrence of the stop string, which is left out.
    assert stopped["message"]["content"] == seven[: seven.find(stop)]
    assert stopped["finish_reason"] == "stop"


def test_logprobs_spell_the_reply_and_rank_alternatives(server: ModelServer) -> None:
    answer = chat(
        server, messages=ASK, max_tokens=6, temperature=0, logprobs=True, top_logprobs=3
    ).json()
    [choice] = answer["choices"]
    entries = choice["logprobs"]["content"]
    assert "".join(e["token"] for e in entries) == choice["message"]["content"]
    for entry in entries:
        top = entry["top_logprobs"]
        assert len(top) == 3 and [t["logprob"] for t in top] == sorted(
            (t["logprob"] for t in top), reverse=True
        )
        # Greedy: the chosen token is the most likely one.
        assert entry["logprob"] == pytest.approx(top[0]["logprob"]) and entry["logprob"] <= 0
        assert entry["bytes"] == list(entry["token"].encode("utf-8"))
    plain = chat(server, messages=ASK, max_tokens=6, temperature=0).json()
    assert plain["choices"][0]["logprobs"] is None


def test_openai_client_and_ignored_extra_parameters(server: ModelServer, tiny_llama: Path) -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="EMPTY")
    assert [m.id for m in client.models.list().data] == ["tiny-llm"]
    answer = client.chat.completions.create(
        model="anything",
        messages=[
            {"role": "system", "content": SYSTEM["content"]},
            {"role": "user", "content": [{"type": "text", "text": ASK[1]["content"]}]},
        ],
        temperature=0,
        max_completion_tokens=10,
        frequency_penalty=0.5,
        presence_penalty=0.1,
        reasoning_effort="low",
        response_format={"type": "text"},
        user="someone",
        extra_body={"chat_template_kwargs": {}, "repetition_penalty": 1.3, "top_k": 5},
    )
    assert answer.choices[0].message.content == reference(tiny_llama, ASK, 10)
    assert answer.usage is not None and answer.usage.completion_tokens <= 10


def test_refusals_are_specific(server: ModelServer) -> None:
    for path, body in (("/predict", {"inputs": "x"}), ("/v1/classify", {"input": "x"})):
        response = httpx.post(server.base_url + path, json=body, timeout=TIMEOUT)
        assert response.status_code == 400, path
        assert "/v1/chat/completions" in response.text and "no class labels" in response.text
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"messages": ASK, "temperature": 3}, 422, "temperature"),
        ({"messages": ASK, "top_logprobs": 50}, 422, "top_logprobs"),
        ({"messages": ASK, "n": 2}, 400, "n=2 is not supported"),
        ({"messages": ASK, "stream": True}, 400, "stream=true is not supported"),
        ({"messages": ASK, "max_tokens": 10_000}, 400, "context holds 256 tokens"),
        ({"messages": []}, 400, "messages is empty"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, 400, "no text"),
        ({"messages": ["hello"]}, 400, "messages[0] is not a message"),
    ]
    for body, status, words in cases:
        response = chat(server, **body)
        assert response.status_code == status, (body, response.text)
        assert words in response.json()["error"]["message"], response.text
    info = httpx.get(server.base_url + "/info", timeout=TIMEOUT).json()
    assert info["kind"] == "text-generation" and info["labels"] == []


def test_full_queue_429_and_draining_503_while_a_reply_is_written(tiny_llama: Path) -> None:
    server = ModelServer(tiny_llama, port=0, generate=True, max_queue=1).start()
    generator = server.model
    entered, gate = threading.Event(), threading.Event()
    complete = generator.complete

    def gated(*args: Any) -> Any:
        entered.set()
        assert gate.wait(TIMEOUT), "the test never opened the gate"
        return complete(*args)

    generator.complete = gated
    try:
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(chat, server, messages=ASK, max_tokens=3, temperature=0)
            assert entered.wait(TIMEOUT)
            full = chat(server, messages=ASK, max_tokens=3)
            closing = pool.submit(server.close)
            health = httpx.Client(base_url=server.base_url, timeout=TIMEOUT)
            for _ in range(2000):  # until /health says the server drains
                if health.get("/health").status_code == 503:
                    break
                threading.Event().wait(0.005)
            late = health.post("/v1/chat/completions", json={"messages": ASK})
            health.close()
            gate.set()
            assert first.result(TIMEOUT).status_code == 200  # the reply under way is finished
            closing.result(TIMEOUT)
    finally:
        gate.set()
        server.close()
    assert full.status_code == 429 and full.headers["Retry-After"] == "1"
    assert late.status_code == 503


def test_constructor_and_loading_refusals(
    tiny_llama: Path, tiny_bert_classifier: Path, tmp_path: Path
) -> None:
    with pytest.raises(TypeError, match="precision do not apply with generate=True"):
        ModelServer(tiny_llama, generate=True, precision="bf16")
    classifier = LocalClassifier.from_pretrained(tiny_bert_classifier)
    assert classifier.labels == TINY_LABELS
    with pytest.raises(ValueError, match="generate=True needs a causal LM"):
        ModelServer(classifier, port=0, generate=True).start()
    bare = Path(shutil.copytree(tiny_llama, tmp_path / "no-template"))
    config = bare / "tokenizer_config.json"
    config.write_text(config.read_text().replace('"chat_template"', '"unused_template"'))
    (bare / "chat_template.jinja").unlink(missing_ok=True)
    with pytest.raises(ModelLoadError, match="no chat template"):
        ModelServer(bare, port=0, generate=True).start()


def test_cli_generate_flag_reaches_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    import distil_sdk.serving
    from distil_sdk.cli import main

    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(
        distil_sdk.serving, "serve_model", lambda model, **kw: calls.append((model, kw))
    )
    assert main(["serve-model", "HuggingFaceTB/SmolLM2-135M-Instruct", "--generate"]) == 0
    assert main(["serve-model", "model-dir"]) == 0
    assert calls[0][0] == "HuggingFaceTB/SmolLM2-135M-Instruct" and calls[0][1]["generate"]
    assert "generate" not in calls[1][1]
