"""The model server's routes: TEI's ``/predict``, vLLM's ``/v1/classify``, OpenAI's chat
completions and models, and ``/health``, ``/info``, ``/metrics``.

A server started with ``generate=True`` serves a chat LLM (`._generate.TextGenerator`): its chat
completions are generated text, and the two classification routes answer 400.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict

from ._chat import chat_text
from ._generate import chat_completion
from ._state import RETRY_AFTER_S, ApiError, ServerState

__all__ = ["add_routes", "classify_payload", "predict_payload", "texts_of"]

# Log of a zero probability, for raw_scores.
_TINY = np.finfo(np.float32).tiny


class PredictBody(BaseModel):
    """TEI's ``/predict`` request (extra fields, such as ``truncation_direction``, ignored)."""

    model_config = ConfigDict(extra="allow")
    inputs: str | list[str]
    raw_scores: bool = False
    truncate: bool = True


class ClassifyBody(BaseModel):
    """vLLM's ``/v1/classify`` request."""

    model_config = ConfigDict(extra="allow")
    model: str | None = None
    input: str | list[str]


class ChatBody(BaseModel):
    """OpenAI's chat completions request; other parameters are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str | None = None
    messages: list[Any]
    stream: bool | None = False


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.serving
    return state


def _classifier(request: Request) -> ServerState:
    """The state of a classifying server; 400 on a generating one (it has no labels)."""
    state = _state(request)
    if state.generates:
        raise ApiError(
            400,
            f"{request.url.path} classifies, and this server generates text with "
            f"{state.model_name} (started with generate=True / --generate): it has no class "
            "labels. Send POST /v1/chat/completions, or serve a trained classifier.",
        )
    return state


def texts_of(value: str | list[str], name: str) -> tuple[list[str], bool]:
    """The texts of a request and whether it sent one string; empty texts are refused."""
    if isinstance(value, str):
        if not value.strip():
            raise ApiError(422, f"{name} is empty or whitespace only; send a non-empty text")
        return [value], True
    if not value:
        raise ApiError(422, f"{name} is an empty list; send at least one text")
    empty = [i for i, text in enumerate(value) if not text.strip()]
    if empty:
        shown = ", ".join(f"{name}[{i}]" for i in empty[:10]) + (", ..." if len(empty) > 10 else "")
        raise ApiError(422, f"{shown}: empty or whitespace only; send non-empty texts")
    return value, False


def predict_payload(state: ServerState, probs: np.ndarray, single: bool, raw_scores: bool) -> Any:
    """TEI's answer: per text, every label with its score, highest first."""
    # raw_scores: log-probabilities (the logits up to a per-text constant).
    scores = np.log(np.maximum(probs, _TINY)) if raw_scores else probs
    order = np.argsort(-scores, axis=1, kind="stable")
    ranked = np.take_along_axis(scores, order, axis=1).tolist()
    labels = state.labels
    results = [
        [{"label": labels[i], "score": score} for i, score in zip(row, row_scores, strict=True)]
        for row, row_scores in zip(order.tolist(), ranked, strict=True)
    ]
    return results[0] if single else results


async def predict(body: PredictBody, request: Request) -> JSONResponse:
    state = _classifier(request)
    texts, single = texts_of(body.inputs, "inputs")
    probs = await state.run(texts)
    return JSONResponse(predict_payload(state, probs, single, body.raw_scores))


def _usage() -> dict[str, Any]:
    # Tokens are not counted (the model truncates per batch, inside the worker thread).
    return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def classify_payload(state: ServerState, probs: np.ndarray) -> dict[str, Any]:
    """vLLM's answer: per text, the top label and every class's probability."""
    labels = state.labels
    top = np.argmax(probs, axis=1).tolist()
    data = [
        {"index": i, "label": labels[best], "probs": row, "num_classes": len(labels)}
        for i, (best, row) in enumerate(zip(top, probs.tolist(), strict=True))
    ]
    return {
        "id": f"classify-{uuid.uuid4().hex}",
        "object": "list",
        "created": int(time.time()),
        "model": state.model_name,
        "data": data,
        "usage": _usage(),
    }


async def classify(body: ClassifyBody, request: Request) -> JSONResponse:
    state = _classifier(request)
    texts, _ = texts_of(body.input, "input")
    return JSONResponse(classify_payload(state, await state.run(texts)))


async def chat_completions(body: ChatBody, request: Request) -> JSONResponse:
    state = _state(request)
    if body.stream:
        raise ApiError(
            400,
            "stream=true is not supported: this server answers in one message; send "
            "stream=false (or leave it out)",
        )
    if state.generates:
        if state.batcher is None or state.batcher.draining:
            raise ApiError(503, "the server is shutting down", {"Retry-After": RETRY_AFTER_S})
        answer = await chat_completion(
            state.model,
            body.messages,
            body.model_extra or {},
            model_name=state.model_name,
            max_queue=state.max_queue,
        )
        return JSONResponse(answer)
    text = chat_text(body.messages, state.templates)
    texts, _ = texts_of(text, "the last user message")
    probs = await state.run(texts)
    label = state.labels[int(np.argmax(probs[0]))]
    return JSONResponse(
        {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": state.model_name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": label},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(),
        }
    )


async def models(request: Request) -> JSONResponse:
    state = _state(request)
    entry = {
        "id": state.model_name,
        "object": "model",
        "created": state.created,
        "owned_by": "distil_sdk",
    }
    return JSONResponse({"object": "list", "data": [entry]})


async def health(request: Request) -> JSONResponse:
    state = _state(request)
    if state.batcher is None or state.batcher.draining:
        return JSONResponse({"status": "draining"}, status_code=503)
    return JSONResponse({"status": "ok"})


async def info(request: Request) -> JSONResponse:
    return JSONResponse(_state(request).info())


async def metrics(request: Request) -> PlainTextResponse:
    return PlainTextResponse(
        _state(request).metrics.render(), media_type="text/plain; version=0.0.4"
    )


def add_routes(app: FastAPI) -> None:
    """Register every route on ``app`` (its ``state.serving`` is the `ServerState`)."""
    app.add_api_route("/predict", predict, methods=["POST"])
    app.add_api_route("/v1/classify", classify, methods=["POST"])
    app.add_api_route("/v1/chat/completions", chat_completions, methods=["POST"])
    app.add_api_route("/v1/models", models, methods=["GET"])
    app.add_api_route("/health", health, methods=["GET"])
    app.add_api_route("/info", info, methods=["GET"])
    app.add_api_route("/metrics", metrics, methods=["GET"])
