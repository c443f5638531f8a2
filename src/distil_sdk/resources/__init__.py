"""The client's resources: thin sync classes and their async twins over ``distil_sdk._http``.

The current route generation (datasets, teacher evaluations, SLMs, deployments, inference
endpoints, prepared traces, credits) sits at the client's top level; the ``/models`` generation
lives in :mod:`.v2` (``client.v2``).
"""

from ._override import Override
from .credits import AsyncCredits, Credits
from .datasets import AsyncDatasets, Datasets
from .deployments import AsyncDeployments, Deployments
from .inference_endpoints import AsyncInferenceEndpoints, InferenceEndpoints
from .prepared_traces import AsyncPreparedTraces, PreparedTracesResource
from .slms import AsyncSLMs, SLMs
from .teacher_evaluations import AsyncTeacherEvaluations, TeacherEvaluations
from .v2 import V2, AsyncV2

__all__ = [
    "V2",
    "AsyncCredits",
    "AsyncDatasets",
    "AsyncDeployments",
    "AsyncInferenceEndpoints",
    "AsyncPreparedTraces",
    "AsyncSLMs",
    "AsyncTeacherEvaluations",
    "AsyncV2",
    "Credits",
    "Datasets",
    "Deployments",
    "InferenceEndpoints",
    "Override",
    "PreparedTracesResource",
    "SLMs",
    "TeacherEvaluations",
]
