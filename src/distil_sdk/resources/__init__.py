"""The client's resources: thin sync classes and their async twins over ``distil_sdk._http``.

The current route generation (datasets, teacher evaluations, SLMs, deployments, credits) sits at
the client's top level; the ``/models`` generation lives in :mod:`.v2` (``client.v2``).
"""

from .v2 import V2, AsyncV2

__all__ = ["V2", "AsyncV2"]
