"""Prometheus text-format metrics of a validator: requests, latency, blocks, votes, errors.

Counters and histograms are kept in plain dicts and rendered on ``GET /metrics``; they
are only touched from the server's event loop, so they need no lock.
"""

from __future__ import annotations

from collections import defaultdict

LATENCY_BUCKETS_SECONDS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
"""Upper bounds of the request-latency histogram."""


class ValidatorMetrics:
    """The counters a validator exports."""

    def __init__(self) -> None:
        self.requests: defaultdict[tuple[str, str], int] = defaultdict(int)
        """Requests by (method, outcome), outcome being ``ok`` or ``error``."""
        self.errors: defaultdict[str, int] = defaultdict(int)
        """Failed requests by error class name."""
        self.blocks_confirmed = 0
        """Confirmed blocks this validator applied."""
        self.votes_signed = 0
        """Votes this validator signed (proposals, validated blocks, timeouts)."""
        self.notifications_sent = 0
        """New-block notifications pushed to subscribers."""
        self._latency_counts: defaultdict[str, list[int]] = defaultdict(
            lambda: [0] * len(LATENCY_BUCKETS_SECONDS)
        )
        self._latency_sum: defaultdict[str, float] = defaultdict(float)
        self._latency_total: defaultdict[str, int] = defaultdict(int)

    def observe_request(self, method: str, seconds: float, error: str | None) -> None:
        """Record one handled request."""
        self.requests[(method, "ok" if error is None else "error")] += 1
        if error is not None:
            self.errors[error] += 1
        counts = self._latency_counts[method]
        for index, bound in enumerate(LATENCY_BUCKETS_SECONDS):
            if seconds <= bound:
                counts[index] += 1
        self._latency_sum[method] += seconds
        self._latency_total[method] += 1

    def render(self) -> str:
        """The metrics in Prometheus' text exposition format."""
        lines = [
            "# HELP edgechain_requests_total Requests handled, by method and outcome.",
            "# TYPE edgechain_requests_total counter",
        ]
        for (method, outcome), count in sorted(self.requests.items()):
            lines.append(f'edgechain_requests_total{{method="{method}",outcome="{outcome}"}} {count}')
        lines += [
            "# HELP edgechain_errors_total Failed requests, by error type.",
            "# TYPE edgechain_errors_total counter",
        ]
        for error, count in sorted(self.errors.items()):
            lines.append(f'edgechain_errors_total{{type="{error}"}} {count}')
        lines += [
            "# HELP edgechain_blocks_confirmed_total Confirmed blocks applied.",
            "# TYPE edgechain_blocks_confirmed_total counter",
            f"edgechain_blocks_confirmed_total {self.blocks_confirmed}",
            "# HELP edgechain_votes_signed_total Votes signed.",
            "# TYPE edgechain_votes_signed_total counter",
            f"edgechain_votes_signed_total {self.votes_signed}",
            "# HELP edgechain_notifications_sent_total New-block notifications pushed.",
            "# TYPE edgechain_notifications_sent_total counter",
            f"edgechain_notifications_sent_total {self.notifications_sent}",
            "# HELP edgechain_request_latency_seconds Request handling time, by method.",
            "# TYPE edgechain_request_latency_seconds histogram",
        ]
        for method in sorted(self._latency_total):
            counts = self._latency_counts[method]
            for bound, count in zip(LATENCY_BUCKETS_SECONDS, counts, strict=True):
                lines.append(
                    f'edgechain_request_latency_seconds_bucket{{method="{method}",le="{bound}"}} {count}'
                )
            total = self._latency_total[method]
            lines.append(
                f'edgechain_request_latency_seconds_bucket{{method="{method}",le="+Inf"}} {total}'
            )
            lines.append(
                f'edgechain_request_latency_seconds_sum{{method="{method}"}} {self._latency_sum[method]:.6f}'
            )
            lines.append(f'edgechain_request_latency_seconds_count{{method="{method}"}} {total}')
        return "\n".join(lines) + "\n"
