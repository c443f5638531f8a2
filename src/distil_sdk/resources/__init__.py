"""The client's resources: thin sync classes and their async twins over ``distil_sdk._http``."""

from .deployments import AsyncDeployments, Deployments
from .models import AsyncModels, Models
from .teacher_evaluations import AsyncTeacherEvaluations, TeacherEvaluations
from .trainings import AsyncTrainings, Trainings
from .uploads import AsyncUploads, Uploads

__all__ = [
    "AsyncDeployments",
    "AsyncModels",
    "AsyncTeacherEvaluations",
    "AsyncTrainings",
    "AsyncUploads",
    "Deployments",
    "Models",
    "TeacherEvaluations",
    "Trainings",
    "Uploads",
]
