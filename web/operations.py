"""What an operator watches (PLAT-14): readiness, Prometheus metrics and one
log line per request.

``/healthz`` says the process answers (liveness). ``/readyz`` says this
process can serve: the database answers and every migration has run (a
load balancer sends it no traffic otherwise). ``/metrics`` is for the
monitoring system only: from the addresses in ``QAF_METRICS_ALLOW`` or with
``Authorization: Bearer $QAF_METRICS_TOKEN``.

Request figures are counted by route template, never by path (a path names
records); the outbox and deadline figures are read from the database at each
scrape, so every app process reports the same. With several worker processes
(``qaf serve --workers N``) the request and sweep figures are summed across
them through ``PROMETHEUS_MULTIPROC_DIR``, which ``qaf serve`` sets.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
import uuid

from litestar import MediaType, Request, get
from litestar.response import Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from core.calendar import utcnow
from core.settings import Settings

access = logging.getLogger("qaf.access")

# Seconds: a page is expected in tens of milliseconds, a report PDF in seconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class Observer:
    """One app's metrics, and the ASGI wrapper that feeds them and the log."""

    def __init__(self, settings: Settings):
        self.settings = settings
        # Each app its own registry (the tests build many apps in one
        # process); with several workers the figures live in files instead.
        self.registry = None if _multiprocess() else CollectorRegistry()
        into = {"registry": self.registry} if self.registry is not None else {}
        self.requests = Counter("qaf_http_requests", "HTTP requests answered, by route template and status",
                                ["method", "route", "status"], **into)
        self.latency = Histogram("qaf_http_request_duration_seconds", "Time to answer a request, by route template",
                                 ["method", "route"], buckets=BUCKETS, **into)
        self.sweep_seconds = Histogram("qaf_sweep_duration_seconds", "Time one background sweep took (cycles, deadlines, mail)",
                                       buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120), **into)
        self.sweep_last = Gauge("qaf_sweep_last_success_timestamp_seconds", "When the last sweep finished without error (Unix time)",
                                multiprocess_mode="max", **into)
        self.sweep_failures = Counter("qaf_sweep_failures", "Sweeps that failed (retried at the next interval)", **into)

    def record_sweep(self, seconds: float, ok: bool) -> None:
        self.sweep_seconds.observe(seconds)
        if ok:
            self.sweep_last.set(utcnow().timestamp())  # the app's clock: the wall clock unless QAF_CLOCK
        else:
            self.sweep_failures.inc()

    def wrap(self, app):
        """The outermost ASGI layer: a request id, the figures and the log line
        for every HTTP request, errors and unknown paths included."""

        async def observed(scope, receive, send):
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            began = time.perf_counter()
            request_id = uuid.uuid4().hex
            scope.setdefault("state", {})["request_id"] = request_id
            status = 500

            async def sending(message):
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await app(scope, receive, sending)
            finally:
                seconds = time.perf_counter() - began
                # The template the router matched; a path no route knows is one label.
                route = scope.get("path_template") or "(no route)"
                method = scope.get("method", "GET")
                self.requests.labels(method, route, str(status)).inc()
                self.latency.labels(method, route).observe(seconds)
                access.info("request", extra={"request_id": request_id, "method": method, "route": route,
                                              "status": status, "duration_ms": round(seconds * 1000, 1)})

        return observed

    async def exposition(self) -> bytes:
        if self.registry is not None:
            registry = self.registry
        else:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        figures = CollectorRegistry()
        figures.register(_Figures(await database_figures()))
        return generate_latest(registry) + generate_latest(figures)

    def allowed(self, request: Request) -> bool:
        token = self.settings.metrics_token
        if token:
            given = request.headers.get("authorization", "")
            if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return True
        client = request.scope.get("client")
        try:
            address = ipaddress.ip_address(client[0]) if client else None
        except ValueError:
            return False
        return address is not None and any(
            address in ipaddress.ip_network(network, strict=False) for network in self.settings.metrics_allow
        )


async def database_figures() -> dict[str, float]:
    """The outbox and deadline figures, as every process sees them."""
    from core.db.tables import Deadline, Notification

    now = utcnow()
    pending = await Notification.count().where(Notification.email_state == "pending")
    oldest = await (Notification.select(Notification.created_at)
                    .where(Notification.email_state == "pending")
                    .order_by(Notification.created_at).limit(1).first())
    open_ = await Deadline.count().where(Deadline.status == "open")
    overdue = await Deadline.count().where((Deadline.status == "open") & (Deadline.due_at < now))
    return {
        "outbox": pending,
        "outbox_oldest": (now - oldest["created_at"]).total_seconds() if oldest else 0.0,
        "open": open_,
        "overdue": overdue,
    }


class _Figures:
    def __init__(self, figures: dict[str, float]):
        self.figures = figures

    def collect(self):
        f = self.figures
        yield GaugeMetricFamily("qaf_outbox_pending", "Notification emails waiting to be sent", value=f["outbox"])
        yield GaugeMetricFamily("qaf_outbox_oldest_pending_age_seconds",
                                "Age of the oldest email waiting to be sent (0 when none)", value=f["outbox_oldest"])
        yield GaugeMetricFamily("qaf_deadlines_open", "Deadlines not yet met or missed", value=f["open"])
        yield GaugeMetricFamily("qaf_deadlines_overdue", "Open deadlines whose time has passed (the sweep acts on them)",
                                value=f["overdue"])


@get("/readyz", media_type=MediaType.JSON, summary="Readiness: the database answers and is migrated")
async def readyz() -> Response:
    from core.db.migrate import pending

    try:
        waiting = await pending()
    except Exception:  # unreachable or refused: say so without detail
        return Response({"status": "unavailable", "reason": "the database does not answer"}, status_code=503)
    if waiting:
        return Response({"status": "unavailable", "reason": f"{len(waiting)} database migrations have not run: run qaf migrate"},
                        status_code=503)
    return Response({"status": "ready"})


@get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    observer: Observer = request.app.state["qaf_observer"]
    if not observer.allowed(request):
        return Response("Metrics are served only to the monitoring addresses (QAF_METRICS_ALLOW) or with the metrics token.\n",
                        status_code=403, media_type=MediaType.TEXT)
    return Response(await observer.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")
