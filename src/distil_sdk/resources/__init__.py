"""The client's resources: thin sync classes and their async twins over ``distil_sdk._http``.

The current route generation (datasets, teacher evaluations, SLMs, deployments, inference
endpoints with their traces exports, API keys, prepared traces, credits) sits at the client's
top level, beside the entities it replaced, readable only (seed datasets, training datasets);
the ``/models`` generation lives in `.v2` (``client.v2``).
"""

from ._override import Override
from .api_keys import ApiKeys, AsyncApiKeys
from .credits import AsyncCredits, Credits
from .datasets import AsyncDatasets, Datasets
from .deployments import AsyncDeployments, Deployments
from .inference_endpoints import AsyncInferenceEndpoints, InferenceEndpoints
from .legacy import AsyncSeedDatasets, AsyncTrainingDatasets, SeedDatasets, TrainingDatasets
from .prepared_traces import AsyncPreparedTraces, PreparedTracesResource
from .slms import AsyncSLMs, SLMs
from .teacher_evaluations import AsyncTeacherEvaluations, TeacherEvaluations
from .traces_exports import AsyncTracesExports, TracesExports
from .v2 import V2, AsyncV2

__all__ = [
    "V2",
    "ApiKeys",
    "AsyncApiKeys",
    "AsyncCredits",
    "AsyncDatasets",
    "AsyncDeployments",
    "AsyncInferenceEndpoints",
    "AsyncPreparedTraces",
    "AsyncSLMs",
    "AsyncSeedDatasets",
    "AsyncTeacherEvaluations",
    "AsyncTracesExports",
    "AsyncTrainingDatasets",
    "AsyncV2",
    "Credits",
    "Datasets",
    "Deployments",
    "InferenceEndpoints",
    "Override",
    "PreparedTracesResource",
    "SLMs",
    "SeedDatasets",
    "TeacherEvaluations",
    "TracesExports",
    "TrainingDatasets",
]
