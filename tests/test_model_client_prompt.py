"""The prompt from the model's own ``model_client.py``, and the local platform's client.

Generated clients (``distil-labs`` example repositories, the platform's deployment reference)
build the chat in ``get_prompt()``: a system message (a ``SYSTEM_PROMPT`` constant or inline) and
a user message wrapping the input. LocalClassifier reads it as data (``ast``, never run) and
scores with it; the local platform's ``model_client.py`` has the same shape and talks to any
OpenAI-compatible chat completions server.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from distil_sdk._errors import ModelLoadError  # noqa: E402
from distil_sdk.inference import LocalClassifier, ModelPrompt  # noqa: E402
from distil_sdk.inference._model_client import (  # noqa: E402
    UnreadableModelClient,
    read_model_client,
)
from distil_sdk.inference._prompt import default_prompt, output_continuation  # noqa: E402
from distil_sdk.local._storage.dataset_files import MODEL_CLIENT_PY, model_client_py  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from tiny_models import build_tiny_bert, generative_folder, write_job_description  # noqa: E402

LABELS = ["billing", "cards", "shopping"]
JD = {
    "task_description": "Route the bank ticket.",
    "classes_description": {label: f"Tickets about {label}." for label in LABELS},
}
TEXTS = ["my card payment was charged a fee", "hello", "{braces} stay as typed"]

# A hosted client's shape: SYSTEM_PROMPT constant, <question>{question}</question>, thinking
# off through chat_template_kwargs, an argparse CLI that talks to a server (never run here).
CLIENT_CONSTANT = '''\
import argparse

from openai import OpenAI

SYSTEM_PROMPT = """You are a problem solving model working on task_description XML block:
<task_description>Route the bank ticket.</task_description>
Generate only the answer, do not generate anything else"""


class DistilLabsLLM(object):
    def __init__(self, model_name: str, api_key: str = "EMPTY", port: int = 11434):
        self.model_name = model_name
        self.client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=api_key)

    def get_prompt(
        self,
        question: str,
    ) -> list[dict[str, str]]:
        return [
            {
                "role": "system",
                "content": SYSTEM_PROMPT,
            },
            {
                "role": "user",
                "content": f"""

Now for the real task, solve the task in question block.
Generate only the solution, do not generate anything else
<question>{question}</question>
""",
            },
        ]

    def invoke(self, question: str) -> str:
        chat_response = self.client.chat.completions.create(
            model=self.model_name,
            messages=self.get_prompt(question),
            temperature=0,
            extra_body={"chat_template_kwargs": {"enable_thinking": False}},
        )
        return chat_response.choices[0].message.content


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--question", type=str, required=True)
    parser.add_argument("--port", type=int, default=11434, required=False)
    args = parser.parse_args()
    print(DistilLabsLLM("model", port=args.port).invoke(args.question))
'''
CONSTANT_SYSTEM = (
    "You are a problem solving model working on task_description XML block:\n"
    "<task_description>Route the bank ticket.</task_description>\n"
    "Generate only the answer, do not generate anything else"
)
CONSTANT_USER = (
    "\n\nNow for the real task, solve the task in question block.\n"
    "Generate only the solution, do not generate anything else\n"
    "<question>{text}</question>\n"
)

# Another shape: the system message inline in get_prompt(), the input as Context:\n{text}.
CLIENT_INLINE = """\
from openai import OpenAI


class DistilLabsLLM:
    def __init__(self, model_name: str, port: int = 11434):
        self.model_name = model_name
        self.client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="EMPTY")

    def get_prompt(self, text: str) -> list[dict[str, str]]:
        \"\"\"Constructs the standard chat messages list.\"\"\"
        return [
            {"role": "system", "content": "Sort the bank ticket into one of its classes."},
            {"role": "user", "content": f"Context:\\n{text}"},
        ]

    def invoke(self, text: str) -> str:
        response = self.client.chat.completions.create(
            model=self.model_name, messages=self.get_prompt(text), temperature=0
        )
        return response.choices[0].message.content
"""

# The shape of tool-calling clients: SYSTEM_PROMPT + the conversation, no single user template.
CLIENT_UNREADABLE = """\
SYSTEM_PROMPT = [{"role": "system", "content": "You call tools."}]


class DistilLabsLLM:
    def get_prompt(self, conversation_history: list) -> list:
        return SYSTEM_PROMPT + conversation_history
"""


@pytest.fixture(scope="module")
def llama_folder(tiny_llama: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generative_folder(tiny_llama, tmp_path_factory.mktemp("client") / "model", LABELS)


def _tarball(llama_folder: Path, root: Path, client: str | None) -> Path:
    """A tarball folder: model/ plus (when given) model_client.py beside it."""
    shutil.copytree(llama_folder, root / "model")
    if client is not None:
        (root / "model_client.py").write_text(client, encoding="utf-8")
    return root


def _chat(system: str | None, user: str) -> str:
    """The tiny Llama's chat template, by hand: what the model must be fed."""
    head = f"<|system|>{system}<|end|>" if system is not None else ""
    return f"{head}<|user|>{user}<|end|><|assistant|>"


def _scores_of(clf: LocalClassifier, rendered: list[str]) -> np.ndarray:
    """Label probabilities of each chat string run whole (no prefix sharing, no batching)."""
    pred: Any = clf._predictor
    rows = []
    for chat in rendered:
        ids = pred._encode([chat])[0]
        scores = []
        for label in clf.labels:
            cont = pred._encode([output_continuation(label)])[0]
            with torch.no_grad():
                logits = pred.model(input_ids=torch.tensor([ids + cont])).logits[0]
            logp = torch.log_softmax(logits.float(), -1)
            scores.append(sum(float(logp[len(ids) - 1 + k, t]) for k, t in enumerate(cont)))
        rows.append(torch.softmax(torch.tensor(scores), 0).numpy())
    return np.stack(rows)


# -- LocalClassifier scores with the client's prompt -------------------------------------


@pytest.mark.parametrize(
    ("client", "system", "user"),
    [
        (CLIENT_CONSTANT, CONSTANT_SYSTEM, CONSTANT_USER),
        (CLIENT_INLINE, "Sort the bank ticket into one of its classes.", "Context:\n{text}"),
    ],
    ids=["SYSTEM_PROMPT-question", "inline-context"],
)
def test_generative_model_is_fed_the_clients_chat(
    llama_folder: Path, tmp_path: Path, client: str, system: str, user: str
) -> None:
    tarball = _tarball(llama_folder, tmp_path, client)
    for source in (tarball, tarball / "model"):  # found next to the model or one folder up
        clf = LocalClassifier.from_pretrained(source, device="cpu", batch_size=2)
        assert clf.prompt == ModelPrompt(
            system,
            user,
            str(tarball / "model_client.py"),
            {"enable_thinking": False} if client is CLIENT_CONSTANT else {},
        )
    pred: Any = clf._predictor
    chats = [_chat(system, user.replace("{text}", text)) for text in TEXTS]
    assert [pred._render(text) for text in TEXTS] == chats
    np.testing.assert_allclose(clf.predict_proba(TEXTS), _scores_of(clf, chats), atol=1e-5)
    # ... and not the SDK's own prompt, which model_client=False chooses.
    sdk = LocalClassifier.from_pretrained(tarball, device="cpu", model_client=False)
    assert sdk.prompt is not None and sdk.prompt.source == "sdk default"
    assert sdk._predictor._render(TEXTS[0]) != chats[0]  # type: ignore[attr-defined]


def test_without_a_client_the_sdk_prompt_is_used(llama_folder: Path) -> None:
    clf = LocalClassifier.from_pretrained(llama_folder, device="cpu")
    assert clf.prompt == default_prompt(clf._predictor.job_description)  # type: ignore[attr-defined]
    assert clf.prompt is not None and clf.prompt.source == "sdk default"


def test_unreadable_client_falls_back_with_a_warning(llama_folder: Path, tmp_path: Path) -> None:
    tarball = _tarball(llama_folder, tmp_path, CLIENT_UNREADABLE)
    path = tarball / "model_client.py"
    with pytest.warns(UserWarning, match=rf"{path}: cannot read the model's prompt"):
        clf = LocalClassifier.from_pretrained(tarball, device="cpu")
    assert clf.prompt is not None and clf.prompt.source == "sdk default"
    want = LocalClassifier.from_pretrained(tarball, device="cpu", model_client=False)
    np.testing.assert_allclose(clf.predict_proba(TEXTS), want.predict_proba(TEXTS), atol=1e-6)
    with pytest.raises(ModelLoadError, match="cannot read the model's prompt"):
        LocalClassifier.from_pretrained(tarball, device="cpu", model_client=path)


def test_a_hostile_client_is_never_run(llama_folder: Path, tmp_path: Path) -> None:
    marker = tmp_path / "executed.txt"
    hostile = f"""\
import pathlib
pathlib.Path({str(marker)!r}).write_text("import ran")
raise SystemExit("model_client.py was executed")

SYSTEM_PROMPT = "Sort it."


def get_prompt(question):
    return [
        {{"role": "system", "content": SYSTEM_PROMPT}},
        {{"role": "user", "content": f"<q>{{question}}</q>"}},
    ]
"""
    tarball = _tarball(llama_folder, tmp_path / "a", hostile)
    clf = LocalClassifier.from_pretrained(tarball, device="cpu")
    assert clf.prompt is not None
    assert (clf.prompt.system, clf.prompt.user_template) == ("Sort it.", "<q>{text}</q>")
    clf.predict_proba(TEXTS)
    # Code inside the prompt itself is not evaluated either: the file is unreadable.
    in_prompt = (
        "def get_prompt(question):\n"
        "    return [{'role': 'user', 'content': "
        f"f\"{{__import__('pathlib').Path({str(marker)!r}).write_text('x')}}{{question}}\"}}]\n"
    )
    tarball = _tarball(llama_folder, tmp_path / "b", in_prompt)
    with pytest.warns(UserWarning, match="not a string the SDK can read"):
        clf = LocalClassifier.from_pretrained(tarball, device="cpu")
    clf.predict_proba(TEXTS)
    assert not marker.exists()
    assert "model_client" not in sys.modules


# -- the parser on its own ---------------------------------------------------------------


def _read(tmp_path: Path, source: str) -> ModelPrompt:
    path = tmp_path / "model_client.py"
    path.write_text(source, encoding="utf-8")
    return read_model_client(path)


def test_format_dedent_and_reasoning_effort(tmp_path: Path) -> None:
    prompt = _read(
        tmp_path,
        """\
import textwrap
TASK = "Route it."
USER = "<question>{question}</question> ({n})"
def get_prompt(question: str, context: str = "") -> list[dict[str, str]]:
    system = textwrap.dedent('''
        Task: ''' + TASK + '''
    ''').strip()
    messages = [
        dict(role="system", content=system),
        {"role": "user", "content": USER.format(question=question, n="{x}")},
    ]
    return messages
def invoke(client, question):
    return client.chat.completions.create(model="m", messages=get_prompt(question),
                                          temperature=0, reasoning_effort="none")
""",
    )
    assert prompt.system == "Task: Route it."
    assert prompt.user_template == "<question>{text}</question> ({{x}})"
    assert prompt.user_message("a {b}") == "<question>a {b}</question> ({x})"
    assert prompt.chat_template_kwargs == {"enable_thinking": False}


def test_conversation_clients_send_the_text_as_the_user_message(tmp_path: Path) -> None:
    """The newest clients take chat messages (no get_prompt): SYSTEM_PROMPT goes first."""
    prompt = _read(
        tmp_path,
        'SYSTEM_PROMPT = "Route it."\n'
        "CHAT = {'enable_thinking': True}\n"
        "def invoke(client, messages):\n"
        "    return client.chat.completions.create(model='model', temperature=0,\n"
        "        messages=[{'role': 'system', 'content': SYSTEM_PROMPT}, *messages],\n"
        "        extra_body={'chat_template_kwargs': CHAT})\n",
    )
    assert prompt.messages("hi") == [
        {"role": "system", "content": "Route it."},
        {"role": "user", "content": "hi"},
    ]
    assert prompt.chat_template_kwargs == {"enable_thinking": True}


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("def get_prompt(q, c):\n    return [{'role': 'user', 'content': f'{c}{q}'}]\n", "several"),
        ("def get_prompt(q):\n    return [{'role': 'user', 'content': 'fixed'}]\n", "input"),
        ("def get_prompt(q):\n    return [{'role': 'user', 'content': q.upper()}]\n", "read"),
        (
            "P = 'a'\nP += 'b'\ndef get_prompt(q):\n    return [{'role': 'user', 'content': P + q}]\n",
            "read",
        ),
        ("def get_prompt(q):\n    return [{'role': 'user', 'content': f'{q!r}'}]\n", "formats"),
        (
            "def get_prompt(q):\n    q = q.strip()\n    return [{'role': 'user', 'content': q}]\n",
            "changes",
        ),
        ("x = 1\n", "no get_prompt"),
        ("def get_prompt(:\n", "not valid Python"),
    ],
)
def test_shapes_the_parser_refuses(tmp_path: Path, source: str, reason: str) -> None:
    with pytest.raises(UnreadableModelClient, match=reason):
        _read(tmp_path, source)


# -- the local platform's client ---------------------------------------------------------


class _ChatCompletions(BaseHTTPRequestHandler):
    """``POST /v1/chat/completions`` answering ``<output>cards</output>``; keeps each request."""

    server: Any

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(
            {"path": self.path, "body": body, "authorization": self.headers.get("Authorization")}
        )
        answer = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "<output>cards</output>"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def chat_server() -> Iterator[Any]:
    server: Any = ThreadingHTTPServer(("127.0.0.1", 0), _ChatCompletions)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _run_client(
    path: Path, args: list[str], *, without_openai: bool = False, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    if without_openai:  # the client falls back to the standard library
        code = (
            "import runpy, sys; sys.modules['openai'] = None; "
            f"sys.argv = [{str(path)!r}, *sys.argv[1:]]; runpy.run_path({str(path)!r}, "
            "run_name='__main__')"
        )
        command = [sys.executable, "-c", code, *args]
    else:
        command = [sys.executable, str(path), *args]
    return subprocess.run(
        command, input=stdin, capture_output=True, text=True, timeout=120, env=env, cwd=path.parent
    )


@pytest.mark.parametrize("without_openai", [False, True], ids=["openai", "stdlib"])
def test_local_client_talks_to_an_openai_compatible_server(
    chat_server: Any, tmp_path: Path, without_openai: bool
) -> None:
    if not without_openai:
        pytest.importorskip("openai")
    path = tmp_path / "model_client.py"
    path.write_text(model_client_py(JD), encoding="utf-8")
    port = chat_server.server_address[1]
    run = _run_client(
        path, ["--port", str(port), "my card was stolen"], without_openai=without_openai
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == "<output>cards</output>\n"
    [request] = chat_server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["authorization"] == "Bearer EMPTY"
    body = request["body"]
    sdk = default_prompt(JD)
    assert body["model"] == "model"
    assert body["temperature"] == 0
    assert body["messages"] == sdk.messages("my card was stolen")
    assert body["messages"][0] == {"role": "system", "content": sdk.system}
    assert body["chat_template_kwargs"] == {"enable_thinking": False}


def test_local_client_options_and_stdin(chat_server: Any, tmp_path: Path) -> None:
    path = tmp_path / "model_client.py"
    path.write_text(model_client_py(JD), encoding="utf-8")
    base_url = f"http://127.0.0.1:{chat_server.server_address[1]}/v1"
    run = _run_client(
        path,
        ["--base-url", base_url, "--model", "my-slm", "--api-key", "k3y"],
        without_openai=True,
        stdin="first text\n\nsecond text\n",
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["<output>cards</output>"] * 2
    assert [r["body"]["messages"][1]["content"] for r in chat_server.requests] == [
        default_prompt(JD).user_message(t) for t in ("first text", "second text")
    ]
    assert {r["body"]["model"] for r in chat_server.requests} == {"my-slm"}
    assert {r["authorization"] for r in chat_server.requests} == {"Bearer k3y"}
    # No server there: one line on stderr, exit status 1.
    chat_server.shutdown()
    chat_server.server_close()
    down = _run_client(path, ["--base-url", base_url, "x"], without_openai=True)
    assert down.returncode == 1 and "model_client.py: " + base_url in down.stderr


def test_local_tarball_is_read_by_local_classifier(tmp_path: Path) -> None:
    """The local platform's tarball folder: model/ (a sequence classifier), model_client.py
    (informative for it: the prompt of its job description) and --local."""
    build_tiny_bert(tmp_path / "model", LABELS)
    write_job_description(tmp_path / "model" / "job_description.json", LABELS)
    jd = json.loads((tmp_path / "model" / "job_description.json").read_text())
    (tmp_path / "model_client.py").write_text(model_client_py(jd), encoding="utf-8")
    clf = LocalClassifier.from_pretrained(tmp_path, device="cpu")
    assert clf.kind == "sequence-classification"
    want = default_prompt(jd)
    assert clf.prompt is not None
    assert (clf.prompt.system, clf.prompt.user_template) == (want.system, want.user_template)
    assert clf.prompt.chat_template_kwargs == {"enable_thinking": False}
    assert clf.prompt.source == str(tmp_path / "model_client.py")
    run = _run_client(tmp_path / "model_client.py", ["--local", "my card was stolen", "hello"])
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.splitlines() == clf.predict(["my card was stolen", "hello"]).tolist()


def test_generic_client_is_readable_too(tmp_path: Path) -> None:
    prompt = _read(tmp_path, MODEL_CLIENT_PY)
    assert prompt.user_template == default_prompt(JD).user_template
    assert prompt.system is not None and "<task_description>" in prompt.system
