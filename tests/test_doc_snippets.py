"""Every fenced code block of README.md and docs/**/*.md runs as written (issue 13).

Each document is one test. Its blocks run in order in a fresh sandbox folder, like the cells of a
notebook: Python blocks share one namespace, so a later block may use names an earlier one made.
What a block does depends on its info string (the word after the opening fence):

- ``python``: executed.
- ``bash`` / ``sh`` / ``shell``: run by ``bash -e -o pipefail``; must exit 0.
- ``console``: each ``$ `` line is a command run by bash (exit 0); the lines up to the next
  ``$ `` are its expected output, matched loosely: in order, gaps allowed, numbers match any
  number, ``...`` matches anything, runs of spaces any whitespace.
- ``json`` / ``yaml`` / ``csv``: parsed. ``pyi``: a stub of a module named by a
  ``<!-- snippet: stub of MODULE -->`` marker; every name it defines must exist there, and each
  ``def`` must list the real function's required parameters.
- ``text``: shown, not run (a tree, a synopsis, program output). It must not hold commands
  (``$ ...``, ``distil-sdk ...``, ``python ...``), so a command cannot hide in one.

A block without an info string fails the test: say what it is.

An HTML comment on the line right above a fence changes what happens to the block:

- ``<!-- snippet: skip (REASON) -->``: not run; ``test_marked_snippets`` lists it as skipped
  with its reason (``pytest -rs``). Only for what cannot run offline (a cluster, a GPU, a
  hosted account) or is covered by a named test; keep them rare.
- ``<!-- snippet: help-only (REASON) -->``: for long-running commands (benchmarks): each
  command is run with ``--help`` instead, and every ``--option`` it uses must be in the help.

The sandbox (see :func:`_sandbox`) stands in for the reader's machine: ``my-task/`` (the
bundled helpdesk-triage task), ``examples/``, ``model/`` (a tiny model with that task's labels;
left out for the documents that train it), ``my-run-model.tar``, ``test.csv``,
``job_description.json``, ``tickets.csv`` / ``tickets.parquet``, and the Python names
:data:`GIVEN` (``texts``, ``df``, ``vault``). ``DISTIL_BASE_URL`` / ``DISTIL_API_KEY`` point at a
local platform on loopback, so snippets written for the hosted API run against it unchanged,
and ``DistilClient.local()`` attaches to the same server (``DISTIL_DATA_DIR``). Its jobs run the
fake pipeline (``_doc_pipeline``): every training gives a tiny model, in seconds. On the shell's
``PATH``, ``distil-sdk`` runs the installed CLI's ``distil_sdk.cli.main`` in a child forked from a
process that imported torch once (``_cli_zygote``; a fresh process per command costs 6-7 s of CPU
to import it), ``pip`` only checks
what it is asked to install (extras that exist in pyproject.toml, packages that are installed,
pinned versions that match) and ``python3 -m venv`` does nothing; ``.venv/bin/`` holds the same.
Waits poll every 0.1 s here instead of every 2 s (the snippets' own arguments still win).

A new snippet usually needs nothing: give its fence an info string and use the sandbox's names.
If it needs a file or a Python name the sandbox lacks, add it to :func:`_sandbox` or
:func:`given`; if its document trains into ``model/``, add the document to
:data:`WITHOUT_MODEL`; if it truly cannot run here, mark it ``skip`` with the reason.
"""

from __future__ import annotations

import ast
import csv
import importlib
import inspect
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

import _cli_zygote
from _local_support import TESTS_DIR

ROOT = TESTS_DIR.parent
DOCS = sorted(
    [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")],
    key=lambda p: p.relative_to(ROOT).as_posix(),
)
HELPDESK = ROOT / "examples" / "helpdesk-triage"
# Documents whose own snippets train into ``model/`` (``train`` refuses an existing folder).
WITHOUT_MODEL = {"docs/index.md", "docs/local-platform.md"}
TEXTS = ["The VPN drops every time I join a video call", "My laptop screen is cracked"]
SHELL = {"bash", "sh", "shell"}
KNOWN = SHELL | {"python", "console", "json", "yaml", "csv", "pyi", "text"}
# A synopsis (``distil-sdk [--opt] COMMAND``) is text; ``distil-sdk predict ...`` is a command.
COMMAND_LIKE = re.compile(
    r"^\s*(\$ |(distil-sdk|python3?|pip|\.venv/bin/\S+)\s+[\w.-]|[A-Z_]+=\S* )"
)
FAST_POLL = _cli_zygote.FAST_POLL  # first poll interval, cap (seconds)


@dataclass(frozen=True)
class Block:
    """One fenced code block of a document."""

    doc: str  # path relative to the repository root
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    marker: str | None  # "skip", "help-only", "stub of MODULE"
    reason: str

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"


_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)\s*(.*)$")
_MARKER = re.compile(r"^\s*<!--\s*snippet:\s*([\w-]+(?: of [\w.]+)?)\s*(?:\((.*)\))?\s*-->\s*$")


def extract_blocks(path: Path, root: Path = ROOT) -> list[Block]:
    """The fenced blocks of a Markdown file, dedented, with the marker comment above each."""
    doc = path.relative_to(root).as_posix()
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence, lang = len(match[1]), match[2], match[3].lower()
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not re.match(rf"^\s*{re.escape(fence)}\s*$", lines[j]):
            body.append(lines[j][indent:] if not lines[j][:indent].strip() else lines[j].lstrip())
            j += 1
        marker = _MARKER.match(lines[i - 1]) if i else None
        blocks.append(
            Block(
                doc=doc,
                line=i + 1,
                lang=lang,
                code="\n".join(body) + "\n",
                marker=marker[1] if marker else None,
                reason=(marker[2] or "") if marker else "",
            )
        )
        i = j + 1
    return blocks


ALL_BLOCKS = [block for doc in DOCS for block in extract_blocks(doc)]
MARKED = [b for b in ALL_BLOCKS if b.marker == "skip"]
DOCS_WITH_CODE = sorted({ROOT / b.doc for b in ALL_BLOCKS if b.marker != "skip"})


# --- the sandbox -----------------------------------------------------------------------------

PIP_SHIM = '''"""pip for the documentation sandbox: checks an install line instead of running it."""
import importlib.metadata as md, re, sys, tomllib
root, args = sys.argv[1], sys.argv[2:]
if not args or args[0] != "install":
    sys.exit(f"pip (doc sandbox): only 'install' is checked, got {args}")
extras = tomllib.loads(open(root + "/pyproject.toml", "rb").read().decode())["project"][
    "optional-dependencies"
]
for arg in args[1:]:
    if arg.startswith("-"):
        continue
    m = re.fullmatch(r"(.+?)\\[([\\w,-]+)\\]", arg)
    name, wanted = (m[1], m[2].split(",")) if m else (arg, [])
    if name in (".", "distil-sdk", "distil_sdk"):
        unknown = [e for e in wanted if e not in extras]
        if unknown:
            sys.exit(f"pip (doc sandbox): no extra {unknown} in pyproject.toml ({sorted(extras)})")
        continue
    pkg, _, pin = name.partition("==")
    try:
        have = md.version(pkg)
    except md.PackageNotFoundError:
        sys.exit(f"pip (doc sandbox): {pkg} is not installed in the test environment")
    if pin and have.split("+")[0] != pin:
        sys.exit(f"pip (doc sandbox): the docs pin {pkg}=={pin}, the environment has {have}")
print("pip (doc sandbox): checked", " ".join(args[1:]))
'''


def _write_bin(sandbox: Path, cli_socket: Path | None = None) -> Path:
    """``.venv/bin`` of the sandbox: the real Python, the CLI (preloaded), the checking shims."""
    bin_dir = sandbox / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    python = sys.executable
    (bin_dir / "_pip.py").write_text(PIP_SHIM)
    scripts = {
        "python": f'exec "{python}" "$@"',
        "python3": (
            'if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then\n'
            '  echo "python3 -m venv (doc sandbox): the test environment is used"; exit 0\nfi\n'
            f'exec "{python}" "$@"'
        ),
        "pip": f'exec "{python}" "{bin_dir}/_pip.py" "{ROOT}" "$@"',
        "distil-sdk": f'exec "{python}" "{TESTS_DIR}/_cli_zygote.py" "{cli_socket}" --run "$@"',
    }
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!/bin/bash\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return bin_dir


@pytest.fixture(scope="module")
def prebuilt_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model with the helpdesk task's labels, laid out as a trained ``model/``."""
    from tiny_models import build_tiny_bert

    description = json.loads((HELPDESK / "job_description.json").read_text(encoding="utf-8"))
    model = build_tiny_bert(
        tmp_path_factory.mktemp("doc-model") / "model", list(description["classes_description"])
    )
    (model / "training-logs.json").write_text("[]")
    (model / "training-logs.csv").write_text("epoch,loss\n")
    (model / "job_description.json").write_text(json.dumps(description))
    return model


@pytest.fixture(scope="module")
def cli_socket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The socket of a preloaded ``distil-sdk`` (``_cli_zygote``) that forks per command."""
    path = tmp_path_factory.mktemp("doc-cli") / "cli.sock"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}
    proc = subprocess.Popen([sys.executable, str(TESTS_DIR / "_cli_zygote.py"), str(path)], env=env)
    try:
        deadline = time.monotonic() + 120
        while not path.exists():
            assert proc.poll() is None, "the preloaded distil-sdk did not start"
            assert time.monotonic() < deadline, "the preloaded distil-sdk did not start in 120 s"
            time.sleep(0.05)
        yield path
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def platform(
    tmp_path_factory: pytest.TempPathFactory, prebuilt_model: Path
) -> Iterator[tuple[str, str, Path]]:
    """A local platform on loopback running the fake pipeline: (base URL, token, data dir)."""
    from distil_sdk.local.server import LocalServer

    data_dir = tmp_path_factory.mktemp("doc-platform")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DISTIL_LOCAL_PIPELINE", "_doc_pipeline")
        env.setenv("DOC_PIPELINE_MODEL", str(prebuilt_model))
        env.setenv(
            "PYTHONPATH",
            os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")])),
        )
        for name in (
            "DISTIL_API_KEY",
            "FAKE_PIPELINE_GATE",
            "FAKE_PIPELINE_EPOCH_GATE",
            "FAKE_PIPELINE_FAIL",
            "DISTIL_TEACHER_BASE_URL",
        ):
            env.delenv(name, raising=False)
        server = LocalServer(data_dir, poll_interval=0.05).start()
        try:
            yield server.base_url, server.token, data_dir
        finally:
            server.close()


class _Vault:
    """The secrets manager of docs/client.md's ``token_provider`` example."""

    def __init__(self, token: str) -> None:
        self._token = token

    def read(self, key: str) -> str:
        assert key == "distil/token", key
        return self._token


def _sandbox(doc: str, root: Path, model: Path) -> None:
    shutil.copytree(ROOT / "examples", root / "examples", ignore=shutil.ignore_patterns(".*"))
    shutil.copytree(HELPDESK, root / "my-task")
    shutil.copy(HELPDESK / "test.csv", root / "test.csv")
    shutil.copy(HELPDESK / "job_description.json", root / "job_description.json")
    if doc not in WITHOUT_MODEL:
        shutil.copytree(model, root / "model")
    with tarfile.open(root / "my-run-model.tar", "w") as tar:
        tar.add(model, arcname="model")
    tickets = [{"id": i, "text": text} for i, text in enumerate(TEXTS * 3)]
    with (root / "tickets.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, ["id", "text"])
        writer.writeheader()
        writer.writerows(tickets)
    pd = pytest.importorskip("pandas")
    pd.DataFrame(tickets).to_parquet(root / "tickets.parquet")


def given(token: str) -> dict[str, Any]:
    """Names the snippets use without defining them (the reader's own data)."""
    pd = pytest.importorskip("pandas")
    return {"texts": list(TEXTS), "df": pd.DataFrame({"text": TEXTS}), "vault": _Vault(token)}


GIVEN = ("texts", "df", "vault")


# --- running one block -----------------------------------------------------------------------


def _shell(
    code: str, cwd: Path, *, merged: bool = False, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with bash; ``merged``: stderr into stdout, in the order a terminal shows."""
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", code],
        cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1"} if merged else dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merged else subprocess.PIPE,
        text=True,
        timeout=timeout,
    )


def _show(result: subprocess.CompletedProcess[str]) -> str:
    return (
        f"exit {result.returncode}\n--- stdout\n{result.stdout[-3000:]}\n"
        f"--- stderr\n{(result.stderr or '')[-3000:]}"
    )


def _commands(code: str) -> list[str]:
    """Shell commands of a block: continuation lines joined, comments and blanks dropped."""
    joined = re.sub(r"\s*\\\n\s*", " ", code)
    lines = (re.sub(r"\s+#.*$", "", line) for line in joined.splitlines())
    return [c for c in lines if c.strip() and not c.lstrip().startswith("#")]


def _console(code: str) -> list[tuple[str, list[str]]]:
    """``(command, expected output lines)`` of a console transcript."""
    steps: list[tuple[str, list[str]]] = []
    for line in re.sub(r"\s*\\\n\s*", " ", code).splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif steps:
            steps[-1][1].append(line)
        elif line.strip():
            raise AssertionError(f"console output before any '$ ' command: {line!r}")
    return steps


def _pattern(expected: str) -> re.Pattern[str]:
    parts = re.split(r"(\.\.\.|\d+(?:\.\d+)?|\s+)", expected.strip())
    regex = "".join(
        ".*"
        if part == "..."
        else r"\d+(?:\.\d+)?"
        if re.fullmatch(r"\d+(?:\.\d+)?", part)
        else r"\s+"
        if part.isspace()
        else re.escape(part)
        for part in parts
        if part
    )
    return re.compile(regex)


def _check_output(expected: list[str], actual: str) -> None:
    lines = [line.strip() for line in actual.splitlines()]
    at = 0
    for want in expected:
        if not want.strip() or want.strip() == "...":
            continue
        pattern = _pattern(want)
        for k in range(at, len(lines)):
            if pattern.fullmatch(lines[k]):
                at = k + 1
                break
        else:
            raise AssertionError(f"expected a line like {want!r} (in order) in:\n{actual}")


_HELP: dict[str, str] = {}  # a program's --help, asked once: 40 commands name 10 programs


def _help_only(code: str) -> None:
    for command in _commands(code):
        # The program: the words before the first option (the options are checked below).
        program = re.split(r"\s+(?=-)", command.strip(), maxsplit=1)[0]
        if program not in _HELP:
            # From the repository root, where the docs run them (``benchmarks/...``).
            result = _shell(f"{program} --help", ROOT, timeout=120)
            assert result.returncode == 0, f"{program} --help\n{_show(result)}"
            _HELP[program] = result.stdout
        for option in re.findall(r"(?<!\S)(--[\w-]+)", command):
            assert option in _HELP[program], f"{option} is not in the help of: {command}"


def _check_stub(code: str, module_name: str) -> None:
    module = importlib.import_module(module_name)
    for node in ast.parse(code).body:
        if isinstance(node, ast.FunctionDef):
            real = getattr(module, node.name, None)
            assert callable(real), f"{module_name} has no function {node.name}"
            # The contract is what a caller must pass: the required parameters, in order.
            required = [
                name
                for name, param in inspect.signature(real).parameters.items()
                if param.default is inspect.Parameter.empty
            ]
            assert [a.arg for a in node.args.args] == required, node.name
        elif isinstance(node, ast.AnnAssign | ast.Assign):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            for target in targets:
                assert isinstance(target, ast.Name), ast.dump(target)
                assert hasattr(module, target.id), f"{module_name} has no {target.id}"


def run_block(block: Block, cwd: Path, namespace: dict[str, Any]) -> None:
    """Run (or parse) one block; raise AssertionError naming it when it fails."""
    lang, code = block.lang, block.code
    if block.marker == "help-only":
        _help_only(code)
    elif block.marker and block.marker.startswith("stub of "):
        assert lang == "pyi", "a stub marker goes on a pyi block"
        _check_stub(code, block.marker.removeprefix("stub of "))
    elif block.marker is not None:
        raise AssertionError(f"unknown snippet marker {block.marker!r}")
    elif lang == "python":
        exec(compile(code, block.where, "exec"), namespace)
    elif lang in SHELL:
        result = _shell(code, cwd)
        assert result.returncode == 0, _show(result)
        assert "Traceback" not in result.stderr, _show(result)
    elif lang == "console":
        for command, expected in _console(code):
            result = _shell(command, cwd, merged=True)
            assert result.returncode == 0, f"$ {command}\n{_show(result)}"
            _check_output(expected, result.stdout)
    elif lang == "json":
        json.loads(code)
    elif lang == "yaml":
        yaml.safe_load(code)
    elif lang == "csv":
        assert list(csv.reader(io.StringIO(code)))
    elif lang == "text":
        bad = [line for line in code.splitlines() if COMMAND_LIKE.match(line)]
        assert not bad, f"a text block holding commands (make it bash or console): {bad}"
    elif lang == "pyi":
        raise AssertionError("a pyi block needs a <!-- snippet: stub of MODULE --> marker")
    else:
        raise AssertionError(
            f"a fenced block needs an info string, one of {sorted(KNOWN)}; got {lang!r}"
        )


# --- the tests -------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("doc", DOCS_WITH_CODE, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_document_snippets_run(
    doc: Path,
    platform: tuple[str, str, Path],
    prebuilt_model: Path,
    cli_socket: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    blocks = [b for b in extract_blocks(doc) if b.marker != "skip"]
    base_url, token, data_dir = platform
    name = doc.relative_to(ROOT).as_posix()
    _sandbox(name, tmp_path, prebuilt_model)
    bin_dir = _write_bin(tmp_path, cli_socket)
    monkeypatch.chdir(tmp_path)
    for key, value in {
        "DISTIL_BASE_URL": base_url,
        "DISTIL_API_KEY": token,
        "DISTIL_DATA_DIR": str(data_dir),
        "DISTIL_CACHE_DIR": str(tmp_path / ".cache"),
        "HF_HUB_OFFLINE": "1",
        "MPLBACKEND": "Agg",
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")])),
    }.items():
        monkeypatch.setenv(key, value)
    import distil_sdk.resources._base as base

    # The same shortening as the preloaded CLI's: the waiting is not what the snippets show.
    monkeypatch.setattr(base, "DEFAULT_POLL_INTERVAL_S", FAST_POLL[0])
    monkeypatch.setattr(base, "MAX_POLL_INTERVAL_S", FAST_POLL[1])
    namespace: dict[str, Any] = {"__name__": "__snippet__", **given(token)}
    for block in blocks:
        started = time.perf_counter()
        try:
            run_block(block, tmp_path, namespace)
        except Exception as exc:
            raise AssertionError(
                f"{block.where} ({block.lang}) failed:\n{block.code}\n{exc}"
            ) from exc
        # Shown with -s: where the time goes, to keep the whole run short.
        print(f"{block.where} ({block.lang}): {time.perf_counter() - started:.1f} s")


@pytest.mark.parametrize("block", MARKED, ids=lambda b: b.where)
def test_marked_snippets(block: Block) -> None:
    """The blocks marked ``skip``, each listed with its reason."""
    assert block.reason.strip(), f"{block.where}: a skip marker needs a reason: skip (why)"
    pytest.skip(f"{block.where} ({block.lang}): {block.reason}")


def test_every_block_is_recognised() -> None:
    """An untagged or unknown block fails here, before anything runs."""
    unknown = [f"{b.where} {b.lang!r}" for b in ALL_BLOCKS if b.lang not in KNOWN]
    assert not unknown, f"fenced blocks need one of {sorted(KNOWN)} as info string: {unknown}"


def test_extraction_finds_indented_blocks_and_markers(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "# t\n\n<!-- snippet: skip (needs a GPU) -->\n```python\nx = 1\n```\n\n"
        "1. step\n\n   ```bash\n   echo hi \\\n     there\n   ```\n"
    )
    first, second = extract_blocks(doc, tmp_path)
    assert (first.lang, first.marker, first.reason, first.code) == (
        "python",
        "skip",
        "needs a GPU",
        "x = 1\n",
    )
    assert (second.lang, second.marker, second.line) == ("bash", None, 10)
    assert _commands(second.code) == ["echo hi there"]


def test_console_output_matching() -> None:
    _check_output(
        ["accuracy: 0.975 on 40 texts", "...", "gold \\ predicted  a  b  ..."],
        "x\naccuracy: 0.5 on 4 texts\ny\ngold \\ predicted   a   b  c  d\n",
    )
    with pytest.raises(AssertionError, match="accuracy"):
        _check_output(["accuracy: 0.975 on 40 texts"], "precision: 0.5 on 4 texts\n")
    with pytest.raises(AssertionError):  # order matters
        _check_output(["b", "a"], "a\nb\n")


@pytest.mark.parametrize(
    ("lang", "code", "message"),
    [
        pytest.param("python", "undefined_name\n", "undefined_name", id="python-error"),
        pytest.param("bash", "false\n", "exit 1", id="bash-exit-1"),
        pytest.param("console", "$ echo hello\nbye\n", "like 'bye'", id="console-output"),
        pytest.param("json", '{"a": ...}\n', "Expecting value", id="json-invalid"),
        pytest.param("text", "$ distil-sdk validate my-task\n", "holding commands", id="text-cmd"),
        pytest.param("", "x = 1\n", "info string", id="untagged"),
        pytest.param("bash", "pip install '.[no-such-extra]'\n", "no extra", id="pip-extra"),
        pytest.param("bash", "pip install torch==0.0.1\n", "pin torch==0.0.1", id="pip-pin"),
    ],
)
def test_a_broken_snippet_fails(tmp_path: Path, lang: str, code: str, message: str) -> None:
    bin_dir = _write_bin(tmp_path)
    block = Block("doc.md", 1, lang, code, None, "")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
        with pytest.raises(Exception, match=re.escape(message)):
            run_block(block, tmp_path, {})
        run_block(
            Block("doc.md", 1, "bash", "pip install '.[local]' torch\n", None, ""), tmp_path, {}
        )


def test_the_installed_cli_is_what_the_sandbox_runs() -> None:
    """The sandbox forks ``distil_sdk.cli.main``; the installed script must be that function."""
    script = Path(sys.executable).parent / "distil-sdk"
    if not script.exists():
        pytest.skip("the distil-sdk script is not installed next to this Python")
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("distil-sdk "), result
    assert "distil_sdk.cli" in script.read_text() and "main" in script.read_text()


def test_the_preloaded_cli_behaves_like_a_fresh_process(
    cli_socket: Path, prebuilt_model: Path, tmp_path: Path
) -> None:
    """Exit status, stdout, stderr, stdin, working folder and environment reach the command."""
    bin_dir = _write_bin(tmp_path, cli_socket)
    shutil.copytree(prebuilt_model, tmp_path / "model")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
        env.setenv("DISTIL_NO_PROGRESS", "1")
        missing = _shell("distil-sdk validate no-such-task", tmp_path)
        assert missing.returncode == 2 and "no-such-task" in missing.stderr, _show(missing)
        piped = _shell(
            "printf 'my laptop screen is cracked\\n' | distil-sdk --json predict model -", tmp_path
        )
        assert piped.returncode == 0, _show(piped)
        [row] = json.loads(piped.stdout)
        assert row["text"] == "my laptop screen is cracked" and row["label"] in row["scores"], row
