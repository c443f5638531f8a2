"""Following a job's log across polls: every line shown once, whatever the platform sends.

Each poll brings the job's log as one text: the whole log, or only its end (the local platform
serves the last 256 KiB, so the start slides away, possibly mid-line), or a fresh log when the job
was restarted. `LogFollower` lines each text up against the previous one and hands out only
the lines that follow what was already shown:

- the new text starts inside the previous one (it grew, or its start slid away): the lines after
  the overlap are new; a first line cut mid-way is recognised and skipped;
- no overlap (the log restarted, or more than a window was written between two polls): the text
  is new, and only its last `MAX_LINES_PER_POLL` lines are shown.

A last line without its newline may still be growing, so it waits for the next poll (or the final
one). Blank lines are not shown; control characters (terminal escapes from a remote log) are
removed and very long lines cut.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MAX_LINES_PER_POLL", "MAX_LINE_CHARS", "LogFollower", "log_text"]

#: At most this many log lines per poll (attaching to a long-running job shows its recent end).
MAX_LINES_PER_POLL = 40
#: Longer lines (a dumped JSON document...) are cut to this many characters.
MAX_LINE_CHARS = 500
# ESC and the other C0 controls but tab, DEL, and the C1 CSI: a log must not drive the terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x9b]")


def log_text(logs: Any) -> str | None:
    """A log as the platform sends it (a string, a list of lines, nothing) as one text."""
    if logs is None:
        return None
    if isinstance(logs, str):
        return logs
    if isinstance(logs, list):
        # Each item is a whole line, so the last one is complete too.
        return "".join(f"{line}\n" for line in logs)
    return str(logs)


def _clean(line: str) -> str:
    # A progress bar redraws itself with \r: keep what a terminal would show last.
    line = _CONTROL.sub("", line.rsplit("\r", 1)[-1]).rstrip()
    if len(line) > MAX_LINE_CHARS:
        line = line[: MAX_LINE_CHARS - 1] + "…"
    return line


def _complete_lines(text: str, final: bool) -> list[str]:
    lines = text.split("\n")
    if not final:
        lines.pop()  # "" after a final newline, else a line still being written
    while lines and not lines[-1].strip():
        # Trailing blank lines belong with what follows them: a platform may add a line after
        # a blank one (the local platform appends the job's message to the running log).
        lines.pop()
    return lines


def _new_from(previous: list[str], current: list[str]) -> int | None:
    """Where the unseen lines of ``current`` start; ``None`` when it does not overlap."""
    if not previous:
        return None
    for skip in (0, 1):  # 1: the first line may be the cut-off end of a line already shown
        if skip >= len(current):
            break
        first = current[skip]
        # The earliest match is the longest overlap: the new text starts there in the old one.
        for start, line in enumerate(previous):
            length = len(previous) - start
            if (
                line == first
                and length <= len(current) - skip
                and current[skip : skip + length] == previous[start:]
            ):
                return skip + length
    return None


class LogFollower:
    """Hands out the lines of successive log texts that were not handed out before.

    Example:
        >>> follow = LogFollower()
        >>> follow.feed("epoch 1\\n")
        ['epoch 1']
        >>> follow.feed("epoch 1\\nepoch 2\\n")
        ['epoch 2']
    """

    def __init__(self, max_lines: int = MAX_LINES_PER_POLL) -> None:
        self.max_lines = max_lines
        self._lines: list[str] = []  # the complete lines of the last text

    def feed(self, text: str | None, *, final: bool = False) -> list[str]:
        """The lines of ``text`` not shown yet, cleaned for a terminal.

        ``final``: the job ended, so an unterminated last line is complete. ``None`` or a blank
        text (no log yet, or none this time) changes nothing.
        """
        if text is None or not text.strip():
            return []
        current = _complete_lines(text, final)
        start = _new_from(self._lines, current)
        fresh = current if start is None else current[start:]
        if current:
            self._lines = current
        shown = [_clean(line) for line in fresh]
        shown = [line for line in shown if line]
        if len(shown) > self.max_lines:
            skipped = len(shown) - self.max_lines
            shown = [f"... ({skipped} earlier log lines not shown)", *shown[-self.max_lines :]]
        return shown
