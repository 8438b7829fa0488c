"""Prometheus text exposition: request counts and latencies per route template, plus gauges.

Counters live in this process (each API worker reports its own; sum them by ``instance`` in
Prometheus). Gauges — cases by state, overdue clocks, queue depth — are read at scrape time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Labels, extra: Labels = ()) -> str:
    pairs = [*labels, *extra]
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass
class _Histogram:
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    count: int = 0
    total: float = 0.0


class RequestMetrics:
    """Thread-safe request counters and latency histograms keyed by method, route and status."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[Labels, _Histogram] = {}

    def observe(self, *, method: str, route: str, status: int, seconds: float) -> None:
        """Record one answered request."""
        key: Labels = (("method", method), ("route", route), ("status", str(status)))
        with self._lock:
            series = self._series.setdefault(key, _Histogram())
            series.count += 1
            series.total += seconds
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    series.buckets[i] += 1

    def lines(self) -> list[str]:
        """The request series in exposition format."""
        with self._lock:
            snapshot = {k: (list(v.buckets), v.count, v.total) for k, v in self._series.items()}
        out = [
            "# HELP whistle_http_requests_total HTTP requests answered, by route template.",
            "# TYPE whistle_http_requests_total counter",
        ]
        out += [f"whistle_http_requests_total{_labels(k)} {c}" for k, (_, c, _) in snapshot.items()]
        out += [
            "# HELP whistle_http_request_duration_seconds Time to answer, by route template.",
            "# TYPE whistle_http_request_duration_seconds histogram",
        ]
        for key, (buckets, count, total) in snapshot.items():
            for bound, n in zip(BUCKETS, buckets, strict=True):
                le = (("le", _number(bound)),)
                out.append(f"whistle_http_request_duration_seconds_bucket{_labels(key, le)} {n}")
            inf = (("le", "+Inf"),)
            out.append(f"whistle_http_request_duration_seconds_bucket{_labels(key, inf)} {count}")
            out.append(f"whistle_http_request_duration_seconds_sum{_labels(key)} {total!r}")
            out.append(f"whistle_http_request_duration_seconds_count{_labels(key)} {count}")
        return out


def gauge(name: str, help_: str, label: str, values: Mapping[str, float]) -> list[str]:
    """A gauge family with one label."""
    out = [f"# HELP {name} {help_}", f"# TYPE {name} gauge"]
    out += [f"{name}{_labels(((label, k),))} {_number(v)}" for k, v in sorted(values.items())]
    return out


def exposition(parts: Iterable[list[str]]) -> str:
    """Join metric families into one exposition document."""
    return "\n".join(line for part in parts for line in part) + "\n"
