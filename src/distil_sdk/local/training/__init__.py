"""Distillation of the student classifier (local platform)."""

from ._align import (
    append_mean_pool_layer,
    average_with_start,
    init_from_teacher,
    init_pooled_from_teacher,
    snapshot_weights,
    supports_teacher_init,
)
from .distill import EpochLog, TrainSettings, evaluate_held_out, sharpen, train_student
from .packaging import save_model_dir
from .student import Student, build_student

__all__ = [
    "EpochLog",
    "Student",
    "TrainSettings",
    "append_mean_pool_layer",
    "average_with_start",
    "build_student",
    "evaluate_held_out",
    "init_from_teacher",
    "init_pooled_from_teacher",
    "save_model_dir",
    "sharpen",
    "snapshot_weights",
    "supports_teacher_init",
    "train_student",
]
