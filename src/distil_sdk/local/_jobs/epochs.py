"""The per-epoch line a training stage writes into the job's log.

The job's log is what the platform serves (``/<collection>/{id}/logs``, the ``logs`` of a
``/models``-generation status) and what ``wait(progress=True)`` prints as it grows, so one line
per epoch - loss, held-out accuracy, how long it took and about how long the stage has left -
reaches every client, local or remote. The time left is the mean epoch time so far times the
epochs still to run.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["epoch_line", "format_duration"]


def format_duration(seconds: float) -> str:
    """``"25s"``, ``"4m10s"``, ``"1h05m"``: short enough for one log line.

    Example:
        >>> format_duration(250)
        '4m10s'
    """
    # An estimate under a second still reads "1s": "0s left" would claim the stage is over.
    total = max(1, round(seconds)) if seconds > 0 else 0
    if total < 60:
        return f"{total}s"
    if total < 3600:
        return f"{total // 60}m{total % 60:02d}s"
    return f"{total // 3600}h{total % 3600 // 60:02d}m"


def epoch_line(
    stage: str,
    epoch: int,
    epochs: int,
    loss: float,
    durations: Sequence[float],
    eval_accuracy: float | None = None,
) -> str:
    """One epoch's line; ``durations`` are the seconds of this stage's epochs so far (this one
    last).

    Example:
        >>> epoch_line("student-tuned", 2, 4, 0.43121, [12.1, 12.3], eval_accuracy=0.9167)
        'student-tuned epoch 2/4: loss 0.4312, eval_acc 0.917, 12.3s, about 24s left in this stage'
    """
    parts = [f"{stage} epoch {epoch}/{epochs}: loss {loss:.4f}"]
    if eval_accuracy is not None:
        parts.append(f"eval_acc {eval_accuracy:.3f}")
    if durations:
        parts.append(f"{durations[-1]:.1f}s")
    left = epochs - epoch
    if left <= 0:
        parts.append("last epoch of this stage")
    elif durations:
        mean = sum(durations) / len(durations)
        parts.append(f"about {format_duration(mean * left)} left in this stage")
    return ", ".join(parts)
