"""Prometheus text exposition for the model server, written by hand.

``prometheus_client`` is not a dependency of any extra we ship, and the format is small: each
family is ``# HELP``/``# TYPE`` lines, then ``name{labels} value`` samples.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections import Counter

__all__ = ["ServerMetrics"]

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class _Histogram:
    """Cumulative buckets, sum and count, as Prometheus histograms expose them."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last is +Inf
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1

    def lines(self, name: str, labels: str = "") -> list[str]:
        out, running = [], 0
        sep = "," if labels else ""
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            le = "+Inf" if bound == float("inf") else _number(bound)
            out.append(f'{name}_bucket{{{labels}{sep}le="{le}"}} {running}')
        braces = f"{{{labels}}}" if labels else ""
        out.append(f"{name}_sum{braces} {_number(self.total)}")
        out.append(f"{name}_count{braces} {self.count}")
        return out


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class ServerMetrics:
    """Counters of one server; `render` gives the ``/metrics`` text.

    Updated from the event loop and read by ``/metrics`` (also on the loop), so a lock is only
    needed for readers elsewhere (tests, the benchmark); it is cheap.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, int]] = Counter()
        self.texts = 0
        self.batches = _Histogram(BATCH_BUCKETS)
        self.latency: dict[str, _Histogram] = {}
        self.queue_depth = 0

    def request_done(self, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(route, status)] += 1
            self.latency.setdefault(route, _Histogram(LATENCY_BUCKETS)).observe(seconds)

    def batch_done(self, size: int) -> None:
        with self._lock:
            self.texts += size
            self.batches.observe(size)

    def batch_sizes(self) -> list[int]:
        """Per-bucket batch counts (not cumulative), the last for batches above 1024."""
        with self._lock:
            return list(self.batches.counts)

    def render(self) -> str:
        """The Prometheus text format (version 0.0.4)."""
        p = "distil_serve"
        with self._lock:
            lines = [
                f"# HELP {p}_requests_total HTTP requests answered, by route and status.",
                f"# TYPE {p}_requests_total counter",
            ]
            for (route, status), count in sorted(self.requests.items()):
                lines.append(
                    f'{p}_requests_total{{route="{_escape(route)}",status="{status}"}} {count}'
                )
            lines += [
                f"# HELP {p}_texts_predicted_total Texts run through the model.",
                f"# TYPE {p}_texts_predicted_total counter",
                f"{p}_texts_predicted_total {self.texts}",
                f"# HELP {p}_batch_size Texts per forward batch.",
                f"# TYPE {p}_batch_size histogram",
                *self.batches.lines(f"{p}_batch_size"),
                f"# HELP {p}_queue_depth Texts waiting for a batch.",
                f"# TYPE {p}_queue_depth gauge",
                f"{p}_queue_depth {self.queue_depth}",
                f"# HELP {p}_request_duration_seconds Request latency, by route.",
                f"# TYPE {p}_request_duration_seconds histogram",
            ]
            for route, histogram in sorted(self.latency.items()):
                lines += histogram.lines(f"{p}_request_duration_seconds", f'route="{route}"')
        return "\n".join(lines) + "\n"
