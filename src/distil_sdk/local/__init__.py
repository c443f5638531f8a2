"""The embedded local platform: the platform's REST API, jobs and artifacts on this machine.

Start it with ``distil-sdk serve`` or let ``DistilClient.local(data_dir)`` start it embedded
(`ensure_local_server`). See ``docs/local-platform.md``.

Nothing heavy is imported here: job subprocesses import this package too, and they must not pay
for the web stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app
    from .server import LocalServer, LocalServerHandle, default_data_dir, ensure_local_server, serve

__all__ = [
    "LocalServer",
    "LocalServerHandle",
    "create_app",
    "default_data_dir",
    "ensure_local_server",
    "serve",
]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    if name in __all__:
        from . import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
