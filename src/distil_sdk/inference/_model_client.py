"""The prompt a generative student was trained with, read from its ``model_client.py``.

The platform generates a ``model_client.py`` for every model, matching the prompt shape it was
trained with: a system prompt (a ``SYSTEM_PROMPT`` constant, or a string inline in
``get_prompt()``), a user message wrapping the input (``<question>{question}</question>``,
``Context:\\n{text}``...) and chat options such as thinking off. A hand-built prompt fails
quietly (the model answers, only worse), so `LocalClassifier` scores with the
file's prompt whenever the model folder, or the tarball folder above it, has one.

The file is read as data: it is parsed with `ast` and never imported or executed, so a
hostile ``model_client.py`` cannot run code. Only plain string expressions are understood
(literals, f-strings, ``+``, ``.format(...)``, ``textwrap.dedent``, ``.strip()``, and names bound
to those); anything else makes the file unreadable, and the SDK's own prompt is used with a
warning naming the file.
"""

from __future__ import annotations

import ast
import logging
import os
import string
import textwrap
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import ModelLoadError
from ._prompt import ModelPrompt, default_prompt

__all__ = [
    "MODEL_CLIENT_FILE",
    "UnreadableModelClient",
    "find_model_client",
    "read_model_client",
    "resolve_prompt",
]

logger = logging.getLogger("distil_sdk")

MODEL_CLIENT_FILE = "model_client.py"
# Generated clients are a few kilobytes; a bigger file is not one.
_MAX_BYTES = 1 << 20
_SELF_NAMES = ("self", "cls")


class UnreadableModelClient(ValueError):
    """``model_client.py`` does not have a shape the SDK can read its prompt from."""


@dataclass(frozen=True)
class _Var:
    """The input of ``get_prompt()`` inside a template."""

    name: str


_Part = str | _Var


def find_model_client(folder: Path) -> Path | None:
    """``model_client.py`` in the model folder, else in the folder above it (the tarball's)."""
    for candidate in (folder / MODEL_CLIENT_FILE, folder.parent / MODEL_CLIENT_FILE):
        if candidate.is_file():
            return candidate
    return None


def read_model_client(path: Path) -> ModelPrompt:
    """The prompt of the generated client at ``path``, parsed without running it.

    Raises:
        UnreadableModelClient: the file cannot be read or its prompt has another shape (why).
    """
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(_MAX_BYTES + 1)
    except OSError as exc:
        raise UnreadableModelClient(f"cannot be read ({exc})") from exc
    if len(data) > _MAX_BYTES:
        raise UnreadableModelClient(f"larger than {_MAX_BYTES} bytes; not a generated client")
    try:
        tree = ast.parse(data.decode("utf-8"), filename=str(path))
    except (UnicodeDecodeError, SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise UnreadableModelClient(f"not valid Python source ({exc})") from exc
    try:
        return _Reader(tree).prompt(str(path))
    except RecursionError as exc:  # absurdly nested expressions: not a generated client
        raise UnreadableModelClient("nested too deeply to read") from exc


def resolve_prompt(
    folder: Path,
    job_description: Any,
    model_client: str | os.PathLike[str] | bool | None = None,
) -> ModelPrompt:
    """The prompt to score with: ``model_client.py``'s (found next to the model or above it, or
    the path given), else the SDK's own for ``job_description``.

    ``model_client=False`` always gives the SDK's prompt. A found file whose prompt cannot be
    read gives the SDK's prompt with a ``UserWarning`` naming the file; a file passed explicitly
    that cannot be read raises `ModelLoadError`.
    """
    if model_client is False:
        return default_prompt(job_description)
    explicit = model_client is not None and model_client is not True
    path = Path(model_client).expanduser() if explicit else find_model_client(folder)  # type: ignore[arg-type]
    if path is None:
        return default_prompt(job_description)
    try:
        prompt = read_model_client(path)
    except UnreadableModelClient as exc:
        if explicit:
            raise ModelLoadError(f"{path}: cannot read the model's prompt from it ({exc})") from exc
        warnings.warn(
            f"{path}: cannot read the model's prompt from it ({exc}); scoring with the SDK's own "
            "prompt instead, which may not be the prompt the model was trained with (pass "
            "model_client=False to choose it without this warning)",
            UserWarning,
            stacklevel=3,
        )
        return default_prompt(job_description)
    logger.info("scoring with the prompt of %s", path)
    return prompt


def _fail(node: ast.AST, what: str) -> UnreadableModelClient:
    line = getattr(node, "lineno", None)
    return UnreadableModelClient(f"line {line}: {what}" if line else what)


def _shown(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 60 else text[:57] + "..."


def _escape(literal: str) -> str:
    return literal.replace("{", "{{").replace("}", "}}")


class _Reader:
    """Reads the prompt out of a parsed client: constants, ``get_prompt()``, template options."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.module = _bindings(tree.body)

    # -- the prompt ----------------------------------------------------------------------

    def prompt(self, source: str) -> ModelPrompt:
        options = self._template_options()
        found = self._get_prompt()
        if found is None:
            # Clients of chat models take the conversation itself: SYSTEM_PROMPT is prepended
            # and the text is the user message as it is.
            if "SYSTEM_PROMPT" not in self.module:
                raise UnreadableModelClient("no get_prompt() function and no SYSTEM_PROMPT string")
            constant = self._static(self.module["SYSTEM_PROMPT"], {}, ())
            return ModelPrompt(constant, "{text}", source, options)
        function, scope = found
        params = tuple(
            a.arg
            for a in (*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs)
            if a.arg not in _SELF_NAMES
        )
        local = {**scope, **_bindings(function.body)}
        system: str | None = None
        user: list[_Part] | None = None
        for index, (role, content) in enumerate(self._messages(function, local)):
            if role == "system" and index == 0:
                system = self._static(content, local, params)
            elif role == "user" and user is None:
                user = self._parts(content, local, params)
            else:
                raise _fail(
                    content,
                    f"get_prompt() returns a {role!r} message the SDK does not expect (it reads "
                    "an optional system message followed by one user message)",
                )
        if user is None:
            raise _fail(function, "get_prompt() returns no user message")
        inputs = {p.name for p in user if isinstance(p, _Var)}
        if not inputs:
            raise _fail(function, "the user message of get_prompt() does not hold its input")
        if len(inputs) > 1:
            raise _fail(
                function,
                f"the user message wraps several inputs ({', '.join(sorted(inputs))}); a "
                "classifier has one text",
            )
        template = "".join("{text}" if isinstance(p, _Var) else _escape(p) for p in user)
        return ModelPrompt(system, template, source, options)

    def _get_prompt(self) -> tuple[ast.FunctionDef, dict[str, ast.expr]] | None:
        """``get_prompt`` at module level or in a class, with the class's constant attributes
        (as ``self.NAME``, ``cls.NAME`` and ``Class.NAME``)."""
        found: list[tuple[ast.FunctionDef, dict[str, ast.expr]]] = []
        for stmt in self.tree.body:
            if isinstance(stmt, ast.FunctionDef) and stmt.name == "get_prompt":
                found.append((stmt, {}))
            elif isinstance(stmt, ast.ClassDef):
                stored = {
                    n.attr
                    for n in ast.walk(stmt)
                    if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store)
                }
                constants = {k: v for k, v in _bindings(stmt.body).items() if k not in stored}
                attributes = {
                    f"{owner}.{name}": value
                    for owner in (*_SELF_NAMES, stmt.name)
                    for name, value in constants.items()
                }
                for item in stmt.body:
                    if isinstance(item, ast.FunctionDef) and item.name == "get_prompt":
                        found.append((item, attributes))
        if len(found) > 1:
            raise _fail(found[1][0], "several get_prompt() functions")
        return found[0] if found else None

    def _messages(
        self, function: ast.FunctionDef, local: Mapping[str, ast.expr]
    ) -> Iterator[tuple[str, ast.expr]]:
        """``(role, content node)`` of each message ``get_prompt()`` returns."""
        returns = [n for n in _walk_scope(function.body) if isinstance(n, ast.Return)]
        if len(returns) != 1 or returns[0].value is None:
            raise _fail(function, "get_prompt() must have a single return of a message list")
        value: ast.expr = returns[0].value
        if isinstance(value, ast.Name) and value.id in local:
            value = local[value.id]
        if not isinstance(value, (ast.List, ast.Tuple)):
            raise _fail(value, f"get_prompt() returns {_shown(value)}, not a list of messages")
        for element in value.elts:
            if isinstance(element, ast.Name):
                element = local.get(element.id, self.module.get(element.id, element))
            fields = _message_fields(element)
            if fields is None or "role" not in fields or "content" not in fields:
                raise _fail(element, f"{_shown(element)} is not a {{role, content}} message")
            role = self._static(fields["role"], local, ())
            yield role, fields["content"]

    def _template_options(self) -> dict[str, Any]:
        """Chat-template options sent with the request: ``chat_template_kwargs`` (given as a
        keyword or a dict key, e.g. in ``extra_body``); ``reasoning_effort="none"`` turns
        thinking off."""
        options: dict[str, Any] = {}
        effort: Any = None
        for node in ast.walk(self.tree):
            pairs: list[tuple[str, ast.expr]] = []
            if isinstance(node, ast.Call):
                pairs = [(k.arg, k.value) for k in node.keywords if k.arg]
            elif isinstance(node, ast.Dict):
                pairs = [
                    (k.value, v)
                    for k, v in zip(node.keys, node.values, strict=False)
                    if isinstance(k, ast.Constant) and isinstance(k.value, str)
                ]
            for key, value in pairs:
                if key == "chat_template_kwargs":
                    for name, item in self._literal_dict(value).items():
                        options.setdefault(name, item)
                elif key == "reasoning_effort":
                    effort = self._literal(value)
        if effort == "none":
            options.setdefault("enable_thinking", False)
        return options

    def _literal(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Name) and node.id in self.module:
            node = self.module[node.id]
        try:
            return ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
            raise _fail(node, f"{_shown(node)} is not a literal value") from exc

    def _literal_dict(self, node: ast.expr) -> dict[str, Any]:
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "dict"
        ):
            if node.args:
                raise _fail(node, f"{_shown(node)} is not a literal dict")
            return {k.arg: self._literal(k.value) for k in node.keywords if k.arg}
        value = self._literal(node)
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise _fail(node, f"chat_template_kwargs {_shown(node)} is not a dict of options")
        return value

    # -- string expressions --------------------------------------------------------------

    def _static(
        self, node: ast.expr, local: Mapping[str, ast.expr], params: tuple[str, ...]
    ) -> str:
        parts = self._parts(node, local, params)
        if any(isinstance(p, _Var) for p in parts):
            raise _fail(node, f"{_shown(node)} depends on the input; the SDK expects it fixed")
        return "".join(p for p in parts if isinstance(p, str))

    def _parts(
        self,
        node: ast.expr,
        local: Mapping[str, ast.expr],
        params: tuple[str, ...],
        depth: int = 0,
    ) -> list[_Part]:
        """``node`` as literal text and input placeholders, or `UnreadableModelClient`."""
        if depth > 50:
            raise _fail(node, "string expression nested too deeply")

        def sub(child: ast.expr) -> list[_Part]:
            return self._parts(child, local, params, depth + 1)

        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node.value]
        if isinstance(node, ast.Name):
            if node.id in params and node.id in local:
                raise _fail(node, f"get_prompt() changes its input {node.id!r} before using it")
            if node.id in params:
                return [_Var(node.id)]
            if node.id in local:  # a name bound once in get_prompt() sees its scope
                return self._parts(local[node.id], local, params, depth + 1)
            if node.id in self.module:  # module constants see module names only
                return self._parts(self.module[node.id], {}, (), depth + 1)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            bound = local.get(f"{node.value.id}.{node.attr}")
            if bound is not None:
                return self._parts(bound, {}, (), depth + 1)
        if isinstance(node, ast.JoinedStr):
            parts: list[_Part] = []
            for value in node.values:
                if isinstance(value, ast.FormattedValue):
                    if value.format_spec is not None or value.conversion not in (-1, ord("s")):
                        raise _fail(
                            value, f"{_shown(node)} formats a value in a way the SDK cannot read"
                        )
                    parts.extend(sub(value.value))
                else:
                    parts.extend(sub(value))
            return parts
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return sub(node.left) + sub(node.right)
        if isinstance(node, ast.Call):
            return self._call_parts(node, sub)
        raise _fail(node, f"{_shown(node)} is not a string the SDK can read")

    def _call_parts(self, node: ast.Call, sub: Any) -> list[_Part]:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if isinstance(func, ast.Attribute) and name == "format":
            return self._format_parts(node, sub(func.value), sub)
        if (
            isinstance(func, ast.Attribute)
            and name in ("strip", "lstrip", "rstrip")
            and not (node.args or node.keywords)
        ):
            text = _only_text(sub(func.value), node)
            return [getattr(text, name)()]
        is_dedent = name == "dedent" and (
            isinstance(func, ast.Name)
            or (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id == "textwrap"
            )
        )
        if is_dedent and len(node.args) == 1 and not node.keywords:
            return [textwrap.dedent(_only_text(sub(node.args[0]), node))]
        if isinstance(func, ast.Name) and name == "str" and len(node.args) == 1:
            return list(sub(node.args[0]))
        raise _fail(node, f"{_shown(node)} is not a string the SDK can read")

    def _format_parts(self, node: ast.Call, template: list[_Part], sub: Any) -> list[_Part]:
        """``"...{question}...".format(question=question)``, positional fields included."""
        text = _only_text(template, node)
        if any(isinstance(a, ast.Starred) for a in node.args) or any(
            k.arg is None for k in node.keywords
        ):
            raise _fail(node, f"{_shown(node)} passes arguments the SDK cannot read")
        positional = [sub(a) for a in node.args]
        named = {k.arg: sub(k.value) for k in node.keywords if k.arg}
        parts: list[_Part] = []
        auto = 0
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise _fail(node, f"{_shown(node)} is not a valid format string ({exc})") from exc
        for literal, field_name, spec, conversion in parsed:
            parts.append(literal)
            if field_name is None:
                continue
            if spec or conversion not in (None, "s"):
                raise _fail(node, f"{_shown(node)} formats a value in a way the SDK cannot read")
            if field_name == "":
                field_name, auto = str(auto), auto + 1
            if field_name.isdigit() and int(field_name) < len(positional):
                parts.extend(positional[int(field_name)])
            elif field_name in named:
                parts.extend(named[field_name])
            else:
                raise _fail(node, f"{_shown(node)} has a field {{{field_name}}} it does not fill")
        return parts


def _only_text(parts: list[_Part], node: ast.AST) -> str:
    if any(isinstance(p, _Var) for p in parts):
        raise _fail(node, f"{_shown(node)} transforms the input; the SDK cannot read it")
    return "".join(p for p in parts if isinstance(p, str))


def _message_fields(node: ast.expr) -> dict[str, ast.expr] | None:
    """The fields of ``{"role": ..., "content": ...}`` or ``dict(role=..., content=...)``."""
    if isinstance(node, ast.Dict):
        fields: dict[str, ast.expr] = {}
        for key, value in zip(node.keys, node.values, strict=False):
            if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                return None
            fields[key.value] = value
        return fields
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        if node.args or any(k.arg is None for k in node.keywords):
            return None
        return {k.arg: k.value for k in node.keywords if k.arg}
    return None


def _walk_scope(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """The nodes of one scope's ``body``: nested functions and classes are yielded (their names
    are bound here) but not entered."""
    stack: list[ast.AST] = list(reversed(body))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(node))))


def _bindings(body: list[ast.stmt]) -> dict[str, ast.expr]:
    """Names of the scope of ``body`` bound exactly once, by a plain ``NAME = value``: its
    constants. A name bound again anywhere (``+=``, a loop, ``with``, an import...) is dropped."""
    counts: Counter[str] = Counter()
    values: dict[str, ast.expr] = {}
    for node in _walk_scope(body):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            counts[node.id] += 1
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            counts.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            counts[node.name] += 1
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            counts.update({name: 2 for name in node.names})
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                values[target.id] = node.value
        elif (
            isinstance(node, ast.AnnAssign)
            and node.value is not None
            and isinstance(node.target, ast.Name)
        ):
            values[node.target.id] = node.value
    return {name: value for name, value in values.items() if counts[name] == 1}
