"""The files of current-generation entities: datasets as staged, job inputs, SLM tarballs.

A dataset is kept as staged (``entities/<id>/``, today's Dataset folder: what its downloads
serve). A job on it reads a Dataset folder of its own, ``uploads/<input id>/``: the dataset's
files with any config or job description override applied, written at submission
(`write_job_input`), read by `TaskBundle.from_dir` in the job process.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ..._errors import DataValidationError
from ..._fs import staged_folder
from ...types._dataset_files import DATASET_FILES
from ...types.data import TaskBundle

__all__ = [
    "DATASET_FILE_NAMES",
    "MODEL_CLIENT_MODEL_NAME",
    "MODEL_CLIENT_PY",
    "BundleRejected",
    "apply_overrides",
    "bundle_from_files",
    "model_client_py",
    "read_dataset_files",
    "slm_readme",
    "smoke_files",
    "validate_model_tar",
    "write_job_input",
]

#: The files of a Dataset folder, in the table's order (``config.yaml``, ...).
DATASET_FILE_NAMES: tuple[str, ...] = tuple(f.name for f in DATASET_FILES if f.staging_key)
_FIELD_OF = {f.name: f.field for f in DATASET_FILES if f.staging_key}
#: A training smoke: one epoch on the longest train and test rows (the platform's sizes).
SMOKE_TRAIN_ROWS = 128
SMOKE_TEST_ROWS = 32


class BundleRejected(ValueError):
    """Files that do not form a valid task: ``detail`` says why, ``findings`` list each problem."""

    def __init__(self, detail: str, findings: list[dict[str, Any]]) -> None:
        super().__init__(detail)
        self.detail = detail
        self.findings = findings


def bundle_from_files(files: Mapping[str, bytes]) -> TaskBundle:
    """Read a Dataset's files (name -> bytes; an empty file is an empty split) into a
    validated `TaskBundle`.

    Raises:
        BundleRejected: the files cannot be read, or the task breaks a validation rule.
    """
    by_field = {_FIELD_OF[name]: data for name, data in files.items() if name in _FIELD_OF}
    try:
        bundle = TaskBundle.from_dataset_files(by_field)
    except DataValidationError as exc:
        findings = [f.model_dump(mode="json") for f in exc.report.findings]
        raise BundleRejected(exc.report.summary(), findings) from exc
    report = bundle.validate()
    if not report.ok:
        findings = [f.model_dump(mode="json") for f in report.findings]
        raise BundleRejected(report.summary(), findings)
    return bundle


def read_dataset_files(folder: Path) -> dict[str, bytes]:
    """The files of a stored dataset, by name (an absent split reads as an empty file)."""
    out: dict[str, bytes] = {}
    for name in DATASET_FILE_NAMES:
        path = Path(folder) / name
        out[name] = path.read_bytes() if path.is_file() else b""
    return out


def write_job_input(
    uploads_dir: Path,
    input_id: str,
    files: Mapping[str, bytes],
    extra: Mapping[str, bytes] | None = None,
) -> Path:
    """Write a job's input folder (a Dataset folder: the non-empty ``files``, and ``extra``)
    all at once: a job never reads a partial folder."""
    dest = Path(uploads_dir) / input_id
    with staged_folder(dest, replace=False) as tmp:
        for name, content in files.items():
            if content.strip():  # an empty split is a file left out
                (tmp / name).write_bytes(content)
        for name, content in (extra or {}).items():
            (tmp / name).write_bytes(content)
    return dest


def apply_overrides(
    files: Mapping[str, bytes],
    config: Mapping[str, Any] | None,
    job_description: Mapping[str, Any] | None,
) -> dict[str, bytes]:
    """``files`` with ``config.yaml`` / ``job_description.json`` replaced whole (never merged),
    as the platform applies overrides."""
    out = dict(files)
    if config is not None:
        out["config.yaml"] = yaml.safe_dump(dict(config), sort_keys=False).encode("utf-8")
    if job_description is not None:
        text = json.dumps(dict(job_description), indent=2, ensure_ascii=False) + "\n"
        out["job_description.json"] = text.encode("utf-8")
    return out


def _longest_rows(content: bytes, limit: int) -> bytes:
    lines = [line for line in content.decode("utf-8", "replace").splitlines() if line.strip()]
    # Stable sort by length, then back into file order: the same rows for the same input.
    keep = sorted(sorted(range(len(lines)), key=lambda i: -len(lines[i]))[:limit])
    return "".join(lines[i] + "\n" for i in keep).encode("utf-8")


def smoke_files(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """The platform's training smoke: one epoch on the 128 longest train rows and the 32
    longest test rows (chosen by length alone, not per class)."""
    out = dict(files)
    out["train.jsonl"] = _longest_rows(files.get("train.jsonl", b""), SMOKE_TRAIN_ROWS)
    out["test.jsonl"] = _longest_rows(files.get("test.jsonl", b""), SMOKE_TEST_ROWS)
    try:
        config = yaml.safe_load(files.get("config.yaml", b"") or b"{}") or {}
    except yaml.YAMLError:
        config = None  # left as it is: conversion reports the unreadable config
    if isinstance(config, dict):
        tuning = config.get("tuning")
        config["tuning"] = {**(tuning if isinstance(tuning, dict) else {}), "num_train_epochs": 1}
        out["config.yaml"] = yaml.safe_dump(config, sort_keys=False).encode("utf-8")
    return out


def validate_model_tar(path: Path) -> dict[str, bytes]:
    """Check that ``path`` is a safe SLM tarball: a ``model/`` folder with ``config.json``
    (merged weights) and/or a ``model-adapter/`` folder with ``adapter_config.json`` (a LoRA
    adapter), as the platform ships them; return its top-level text files worth keeping
    (``model_client.py``, ``README.md``).

    Raises:
        BundleRejected: with the reason the tarball is not an SLM.
    """
    from ..._archive import check_members
    from ..._errors import UnsafeArchiveError

    try:
        with tarfile.open(path, "r:*") as archive:
            check_members(archive, "model")
            names = {m.name.lstrip("./"): m for m in archive.getmembers()}
            if not {"model/config.json", "model-adapter/adapter_config.json"} & names.keys():
                raise BundleRejected(
                    "model: the tarball has no model/config.json nor model-adapter/"
                    "adapter_config.json; send the model.tar that GET /slms/{id}/download gives "
                    "(a model/ folder, or a model-adapter/ LoRA adapter, that LocalClassifier "
                    "loads)",
                    [],
                )
            kept: dict[str, bytes] = {}
            for name in ("model_client.py", "README.md"):
                member = names.get(name)
                handle = archive.extractfile(member) if member and member.isfile() else None
                if handle is not None:
                    kept[name] = handle.read(1 << 20)
            return kept
    except (tarfile.TarError, OSError, UnsafeArchiveError) as exc:
        raise BundleRejected(f"model: not a readable, safe tar archive ({exc})", []) from exc


#: The model name the client sends by default: the platform's servers name the trained model
#: ``model`` (``vllm serve ... --lora-modules model=./model-adapter``).
MODEL_CLIENT_MODEL_NAME = "model"

_MODEL_CLIENT_TEMPLATE = '''\
"""Query this model through an OpenAI-compatible chat completions server.

Generated for this model by the distil_sdk local platform, in the shape of the platform's own
generated clients: SYSTEM_PROMPT is the system prompt the model was trained with, get_prompt()
wraps the text as in training, and every request is sent with temperature 0 and thinking off.
A hand-built request misses that and the model answers worse without any error, so query the
model through this file (or LocalClassifier, which reads its prompt from it).

    python model_client.py "where is my card?"                  # server at http://127.0.0.1:8000/v1
    python model_client.py --port 11434 "where is my card?"     # another local port
    python model_client.py --base-url https://host/v1 --api-key KEY --model NAME "some text"
    echo "where is my card?" | python model_client.py           # one text per line
    python model_client.py --conversation '[{"role": "user", "content": "..."}]'
    python model_client.py --local "where is my card?"          # no server: distil_sdk on ./model

Prints one line per text: the content of the server's answer (with --local, the predicted
class). Sends the request with the openai package when it is installed (pip install openai),
else with the standard library. --local needs distil-sdk (pip install distil-sdk).

From Python:

    from model_client import DistilLabsLLM

    client = DistilLabsLLM(base_url="http://127.0.0.1:8000/v1")
    print(client.invoke("where is my card?"))
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from pathlib import Path

SYSTEM_PROMPT = __SYSTEM_PROMPT__

MODEL_NAME = __MODEL_NAME__
DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
# Thinking off, as in training (sent as the chat template's options).
CHAT_TEMPLATE_KWARGS = {"enable_thinking": False}


class DistilLabsLLM:
    """A client of the model served at ``base_url``, an OpenAI-compatible ``/v1`` endpoint."""

    def __init__(
        self,
        model_name: str = MODEL_NAME,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str = "EMPTY",
    ) -> None:
        self.model_name = model_name
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key

    def get_prompt(self, question: str) -> list[dict[str, str]]:
        """The chat the model was trained on, for one text."""
        return [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": __USER_CONTENT__},
        ]

    def invoke(self, question: str | list[dict[str, str]]) -> str:
        """The model's answer to a text, or to a list of chat messages (SYSTEM_PROMPT is put
        first when they hold no system message)."""
        if isinstance(question, str):
            messages = self.get_prompt(question)
        else:
            messages = list(question)
            if not any(message.get("role") == "system" for message in messages):
                messages.insert(0, {"role": "system", "content": SYSTEM_PROMPT})
        try:
            from openai import OpenAI
        except ImportError:
            return self._invoke_without_openai(messages)
        client = OpenAI(base_url=self.base_url, api_key=self.api_key)
        response = client.chat.completions.create(
            model=self.model_name,
            messages=messages,
            temperature=0,
            extra_body={"chat_template_kwargs": CHAT_TEMPLATE_KWARGS},
        )
        return response.choices[0].message.content or ""

    def _invoke_without_openai(self, messages: list[dict[str, str]]) -> str:
        body = {
            "model": self.model_name,
            "messages": messages,
            "temperature": 0,
            "chat_template_kwargs": CHAT_TEMPLATE_KWARGS,
        }
        request = urllib.request.Request(
            self.base_url + "/chat/completions",
            data=json.dumps(body).encode("utf-8"),
            headers={
                "Content-Type": "application/json",
                "Authorization": "Bearer " + self.api_key,
            },
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=600) as response:
            answer = json.loads(response.read().decode("utf-8"))
        return answer["choices"][0]["message"]["content"] or ""


def classify_locally(texts: list[str]) -> list[str]:
    """The predicted class of each text, by distil_sdk on the model in this folder."""
    from distil_sdk import LocalClassifier

    classifier = LocalClassifier.from_pretrained(Path(__file__).resolve().parent)
    return [str(label) for label in classifier.predict(texts)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Query this model; see the top of this file.")
    parser.add_argument("texts", nargs="*", help="texts to send (default: one per line on stdin)")
    parser.add_argument("--base-url", help="the server's /v1 URL (default " + DEFAULT_BASE_URL + ")")
    parser.add_argument("--port", type=int, help="the same as --base-url http://127.0.0.1:PORT/v1")
    parser.add_argument("--model", default=MODEL_NAME, help="the model's name on the server")
    parser.add_argument("--api-key", default="EMPTY", help="the server's API key")
    parser.add_argument("--conversation", help="a JSON list of chat messages, sent instead of texts")
    parser.add_argument("--local", action="store_true", help="no server: distil_sdk on ./model")
    args = parser.parse_args(argv)
    texts = list(args.texts)
    if not texts and args.conversation is None and not sys.stdin.isatty():
        texts = [line.rstrip("\\n") for line in sys.stdin if line.strip()]
    if not texts and args.conversation is None:
        parser.print_usage(sys.stderr)
        return 2
    if args.local:
        for label in classify_locally(texts):
            print(label)
        return 0
    base_url = args.base_url or (
        "http://127.0.0.1:%d/v1" % args.port if args.port else DEFAULT_BASE_URL
    )
    client = DistilLabsLLM(model_name=args.model, base_url=base_url, api_key=args.api_key)
    try:
        if args.conversation is not None:
            print(client.invoke(json.loads(args.conversation)))
        for text in texts:
            print(client.invoke(text), flush=True)
    except Exception as exc:  # connection refused, HTTP errors: one line, not a traceback
        print("model_client.py: %s: %s: %s" % (base_url, type(exc).__name__, exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''


def _python_string(text: str) -> str:
    """``text`` as a Python string literal: triple-quoted when that reads as the text itself."""
    plain = all(c.isprintable() or c in "\n\t" for c in text)
    if plain and "\\" not in text and '"""' not in text and not text.endswith('"'):
        return '"""' + text + '"""'
    return json.dumps(text, ensure_ascii=False)


def model_client_py(
    job_description: Mapping[str, Any] | None = None,
    *,
    model_name: str = MODEL_CLIENT_MODEL_NAME,
) -> str:
    """The ``model_client.py`` of an SLM tarball, in the platform's shape: ``SYSTEM_PROMPT``
    (the classification prompt built from ``job_description``'s task and classes) and
    ``get_prompt()`` wrapping the text as ``<question>...</question>``, sent to an
    OpenAI-compatible chat completions server with temperature 0 and thinking off.

    ``LocalClassifier`` reads the same prompt from it (parsing the file, never running it). The
    local platform's students are sequence classifiers, so for them the prompt is informative;
    ``--local`` classifies with distil_sdk without a server.
    """
    from ...inference._prompt import SYSTEM_TEMPLATE, USER_TEMPLATE, build_classification_messages

    try:
        system = build_classification_messages(job_description or {}, "")[0]["content"]
    except (ValueError, TypeError, AttributeError):
        system = SYSTEM_TEMPLATE.format(
            task_description="Classify the text in the question block.",
            classes="(the classes of model/config.json)",
        )
    before, after = USER_TEMPLATE.split("{text}")

    def escape(literal: str) -> str:
        return literal.replace("{", "{{").replace("}", "}}")

    user = "f" + json.dumps(escape(before) + "{question}" + escape(after), ensure_ascii=False)
    return (
        _MODEL_CLIENT_TEMPLATE.replace("__SYSTEM_PROMPT__", _python_string(system))
        .replace("__MODEL_NAME__", json.dumps(model_name))
        .replace("__USER_CONTENT__", user)
    )


#: ``model_client.py`` for a model whose job description is unknown (a generic prompt); an SLM
#: with a job description gets `model_client_py` of it.
MODEL_CLIENT_PY = model_client_py()


def slm_readme(slm_id: str, labels: list[str], job_description: Any = None) -> str:
    """The ``README.md`` of an SLM tarball, titled from its job description (never by its id
    alone: the id is in the body)."""
    from ..._titles import card_title
    from ...types.task import JobDescription

    classes = ", ".join(f"`{label}`" for label in labels) or "(see model/config.json)"
    try:
        title = card_title(JobDescription.model_validate(job_description))
    except ValueError:  # no job description, or one that does not parse: say what it is
        title = f"Text classifier ({len(labels)} classes)" if labels else "Text classifier"
    return (
        f"# {title}\n\n"
        f"A text classifier distilled by the distil_sdk local platform (SLM `{slm_id}`).\n\n"
        f"Classes: {classes}.\n\n"
        "- `model/`: the model (Hugging Face format: config.json with id2label, "
        "model.safetensors, tokenizer files, job_description.json, training logs).\n"
        "- `model_client.py`: the model's client, as the platform generates one for every "
        "model. It holds the prompt the model was trained with (`SYSTEM_PROMPT`, the text "
        "wrapped by `get_prompt()`) and sends it to an OpenAI-compatible chat completions "
        "server with temperature 0 and thinking off: "
        '`python model_client.py --port 8000 "some text"` prints the answer. Without a '
        'server, `python model_client.py --local "some text"` prints the predicted class '
        "(distil_sdk on `model/`).\n"
        "- `README.md`: this file.\n\n"
        "From Python, in this folder:\n\n"
        "```python\n"
        "from distil_sdk import LocalClassifier\n\n"
        'clf = LocalClassifier.from_pretrained(".")  # model/ (a model-adapter/ LoRA adapter '
        "loads on its base model)\n"
        'print(clf.predict(["some text"]))\n'
        "```\n"
    )
