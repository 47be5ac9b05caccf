"""Prometheus metrics of one app (own registry: several apps in one process never collide)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "smc_http_requests_total",
            "HTTP requests by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "smc_http_request_duration_seconds",
            "HTTP request latency.",
            ["route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.ws_clients = Gauge("smc_ws_clients", "Connected WebSocket clients.", registry=self.registry)
        self.ws_dropped = Counter(
            "smc_ws_clients_dropped_total",
            "WebSocket clients dropped for being too slow.",
            registry=self.registry,
        )
        self.ws_send_lag = Histogram(
            "smc_ws_send_lag_seconds",
            "From the bus to the client's socket (queueing + send), per frame.",
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.ws_messages = Counter("smc_ws_messages_total", "Messages fanned out.", registry=self.registry)
        self.trading_halted = Gauge("smc_trading_halted", "1 when trading is halted.", registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)
