"""Distillation of the student classifier (local platform)."""

from .distill import EpochLog, TrainSettings, sharpen, train_student
from .packaging import save_model_dir
from .student import Student, build_student

__all__ = [
    "EpochLog",
    "Student",
    "TrainSettings",
    "build_student",
    "save_model_dir",
    "sharpen",
    "train_student",
]
