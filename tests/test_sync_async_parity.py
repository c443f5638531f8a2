"""`DistilClient` and `AsyncDistilClient` offer the same API: every resource (nested ones such
as ``client.v2.models`` and ``client.inference_endpoints.traces_exports`` included), every
public method, with the same parameters (names, kinds, defaults, annotations) - and each async
method can be awaited (or, where the sync one returns an iterator or a context manager, it
returns the async kind).

The resources are found by walking the two clients' attributes, so a resource or method added
to one client only is caught without editing this file.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from distil_sdk import AsyncDistilClient, DistilClient

# Methods both clients share on purpose, and why.
SHARED = {
    ("DistilClient", "local"): "a constructor: it starts the local platform and returns a client",
}

# How an annotation of the sync API reads in the async one.
_ASYNC_NAMES = re.compile(r"\b(Iterator|Iterable|Generator|ContextManager|DistilClient)\b")


def _async_spelling(annotation: str) -> str:
    return _ASYNC_NAMES.sub(r"Async\1", re.sub(r"\bSync(\w+)", r"Async\1", annotation))


def _public(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


def _return_class(fn: Callable[..., Any]) -> type | None:
    try:
        hint = typing.get_type_hints(fn).get("return")
    except (NameError, TypeError):  # a name only imported under TYPE_CHECKING
        return None
    hint = typing.get_origin(hint) or hint
    return hint if isinstance(hint, type) else None


def _plain(signature: inspect.Signature) -> str:
    """The parameters as written, without annotations: ``self, slm_id, *, x=1, **options``."""
    return str(
        signature.replace(
            parameters=[
                p.replace(annotation=inspect.Parameter.empty) for p in signature.parameters.values()
            ],
            return_annotation=inspect.Signature.empty,
        )
    )[1:-1]


def _signature_problems(where: str, sync_fn: Any, async_fn: Any) -> list[str]:
    sync_sig, async_sig = inspect.signature(sync_fn), inspect.signature(async_fn)
    sync_params = [(p.name, p.kind, p.default) for p in sync_sig.parameters.values()]
    async_params = [(p.name, p.kind, p.default) for p in async_sig.parameters.values()]
    if sync_params != async_params:
        return [
            f"{where}: parameters differ: sync ({_plain(sync_sig)}), async ({_plain(async_sig)})"
        ]
    problems = []
    for sync_p, async_p in zip(
        sync_sig.parameters.values(), async_sig.parameters.values(), strict=True
    ):
        if _async_spelling(str(sync_p.annotation)) != _async_spelling(str(async_p.annotation)):
            problems.append(
                f"{where}: {sync_p.name} is {sync_p.annotation} (sync), {async_p.annotation} (async)"
            )
    return problems


def _return_problems(where: str, sync_fn: Any, async_fn: Any) -> list[str]:
    sync_ret = inspect.signature(sync_fn).return_annotation
    async_ret = inspect.signature(async_fn).return_annotation
    if _async_spelling(str(sync_ret)) == _async_spelling(str(async_ret)):
        return []
    return [f"{where}: returns {sync_ret} (sync), {async_ret} (async)"]


def _kind_problems(
    where: str, sync_fn: Any, async_fn: Any, seen: set[tuple[type, type]]
) -> list[str]:
    """Whether ``async_fn`` is the awaitable (or async-iterable) twin of ``sync_fn``."""
    if inspect.isgeneratorfunction(sync_fn):
        if not inspect.isasyncgenfunction(async_fn):
            return [f"{where}: the sync one is a generator, the async one no async generator"]
        return _return_problems(where, sync_fn, async_fn)
    if inspect.iscoroutinefunction(async_fn):
        return _return_problems(where, sync_fn, async_fn)
    # Not awaitable: only right when it hands back the async twin of an iterator / context
    # manager (`inference_endpoints.traces()` returns an object to `async for` over).
    sync_cls, async_cls = _return_class(sync_fn), _return_class(async_fn)
    if sync_cls is None or async_cls is None:
        return [f"{where}: the async one is neither a coroutine function nor typed to return one"]
    pairs = (("__iter__", "__aiter__"), ("__enter__", "__aenter__"))
    protocols = [(s, a) for s, a in pairs if hasattr(sync_cls, s)]
    if not protocols:
        return [f"{where}: the async one is not a coroutine function ({sync_cls.__name__})"]
    problems = [
        f"{where}: returns {async_cls.__name__}, which has no {a} ({sync_cls.__name__} has {s})"
        for s, a in protocols
        if not hasattr(async_cls, a)
    ]
    return problems + compare_classes(sync_cls, async_cls, f"{where}()", seen)


def compare_classes(
    sync_cls: type, async_cls: type, where: str, seen: set[tuple[type, type]] | None = None
) -> list[str]:
    """What differs between the public methods of a sync class and its async twin."""
    seen = set() if seen is None else seen
    if (sync_cls, async_cls) in seen:
        return []
    seen.add((sync_cls, async_cls))
    problems = [
        f"{where}.{name}: only on {side}"
        for side, names in (
            (sync_cls.__name__, _public(sync_cls) - _public(async_cls)),
            (async_cls.__name__, _public(async_cls) - _public(sync_cls)),
        )
        for name in sorted(names)
    ]
    for name in sorted(_public(sync_cls) & _public(async_cls)):
        if (sync_cls.__name__, name) in SHARED:
            continue
        sync_fn, async_fn = getattr(sync_cls, name), getattr(async_cls, name)
        if isinstance(inspect.getattr_static(sync_cls, name), property) or not callable(sync_fn):
            continue  # an attribute: its presence on both was checked above
        problems += _signature_problems(f"{where}.{name}", sync_fn, async_fn)
        problems += _kind_problems(f"{where}.{name}", sync_fn, async_fn, seen)
    return problems


def _resources(client: object) -> dict[str, object]:
    """Every resource reachable from ``client`` by public attributes, by dotted path."""
    found: dict[str, object] = {}

    def walk(obj: object, path: str) -> None:
        found[path] = obj
        for name in sorted(_public(type(obj)) | {n for n in vars(obj) if not n.startswith("_")}):
            if isinstance(inspect.getattr_static(type(obj), name, None), property):
                continue  # a computed value (base_url), not a resource
            value = getattr(obj, name)
            if type(value).__module__.startswith("distil_sdk.resources") and not callable(value):
                walk(value, f"{path}.{name}")

    walk(client, "client")
    return found


def compare_clients(sync_client: object, async_client: object) -> list[str]:
    sync_res, async_res = _resources(sync_client), _resources(async_client)
    problems = [
        f"{path}: only on the {side} client"
        for side, paths in (
            ("sync", set(sync_res) - set(async_res)),
            ("async", set(async_res) - set(sync_res)),
        )
        for path in sorted(paths)
    ]
    seen: set[tuple[type, type]] = set()
    for path in sorted(set(sync_res) & set(async_res)):
        problems += compare_classes(type(sync_res[path]), type(async_res[path]), path, seen)
    return problems


def test_the_async_client_is_the_sync_one_with_await() -> None:
    sync = DistilClient(base_url="https://api.test", api_key="k")
    asynchronous = AsyncDistilClient(base_url="https://api.test", api_key="k")
    resources = _resources(sync)
    # the walk reached the nested resources, not only the first level
    assert {"client.slms", "client.v2.models", "client.inference_endpoints.traces_exports"} <= set(
        resources
    )
    assert compare_clients(sync, asynchronous) == []
    sync.close()


# ----------------------------------------------------------- the comparison finds mismatches


class _SyncThings:
    def get(self, thing_id: str, *, limit: int = 1) -> int:
        return 0

    def only_sync(self) -> None:
        pass

    def items(self) -> Iterator[int]:
        yield 1

    def blocking(self) -> int:
        return 0

    def typed(self, when: str) -> int:
        return 0


class _AsyncThings:
    async def get(self, thing_id: str, *, limit: int = 2) -> int:
        return 0

    def items(self) -> AsyncIterator[int]:
        raise NotImplementedError

    def blocking(self) -> int:
        return 0

    async def typed(self, when: int) -> int:
        return 0


@pytest.mark.parametrize(
    "expected",
    [
        "things.get: parameters differ",
        "things.only_sync: only on _SyncThings",
        "things.items: the sync one is a generator",
        "things.blocking: the async one is not a coroutine function",
        "things.typed: when is str (sync), int (async)",
    ],
)
def test_the_comparison_reports_each_kind_of_mismatch(expected: str) -> None:
    problems = compare_classes(_SyncThings, _AsyncThings, "things")
    assert any(p.startswith(expected) for p in problems), problems
    assert len(problems) == 5
