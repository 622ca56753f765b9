"""Prometheus metrics of one gateway: requests, latencies, rail decisions, tokens, rejections.

Each app gets its own ``CollectorRegistry`` so that several apps (tests, replicas in one process)
never collide on metric names. Served at ``/metrics`` in the Prometheus text format.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "GatewayMetrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class GatewayMetrics:
    """The gateway's metrics, registered in a private registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "poise_requests", "HTTP requests answered", ["endpoint", "model", "status"], registry=r
        )
        self.latency = Histogram(
            "poise_request_latency_seconds",
            "Time to the whole response (streams: to the last byte)",
            ["endpoint", "model"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream_latency = Histogram(
            "poise_upstream_latency_seconds",
            "Time spent waiting for the upstream model (streams: to the first token)",
            ["backend"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.rail_decisions = Counter(
            "poise_rail_decisions", "Guard verdicts by stage and action", ["stage", "action"], registry=r
        )
        self.tokens = Counter("poise_tokens", "Model tokens", ["model", "kind"], registry=r)
        self.rate_limited = Counter(
            "poise_rate_limit_rejections", "Requests refused by a rate limit", ["scope", "limit"], registry=r
        )
        self.overloaded = Counter("poise_overload_rejections", "Requests refused with 503", registry=r)
        self.in_flight = Gauge("poise_requests_in_flight", "Requests being served", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
