"""Serve a trained model over HTTP: `ModelServer` (background thread) and `serve_model`.

TEI's ``/predict``, vLLM's ``/v1/classify``, OpenAI's ``/v1/chat/completions`` and
``/v1/models``, with dynamic micro-batching, a bounded queue, Bearer API keys and graceful
drain; docs/serving.md. Importing this package is cheap: FastAPI, uvicorn and the model load
in `ModelServer.start`.
"""

from ._server import API_KEYS_ENV, ModelServer, serve_model

__all__ = ["API_KEYS_ENV", "ModelServer", "serve_model"]
