"""Prometheus metrics: outbox state read from the database at scrape time, timings kept in-process."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from notifier.rules.outbox_status import NotificationStatus
from notifier.store.models import CallbackEvent, DeliveryAttempt, Notification
from notifier.workflows.service import Service
from notifier.workflows.spend import counters

SCAN_SECONDS = "notifier_scan_duration_seconds"


class OutboxCollector(Collector):
    """Counts by status, kind and channel, and the age of the oldest due row, from the outbox itself.

    Reading the database at scrape time means every worker and scheduler shows the same figures.
    """

    def __init__(self, service: Service) -> None:
        self.service = service

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        by_status = GaugeMetricFamily(
            "notifier_notifications",
            "Notifications by status, kind and channel",
            labels=["status", "kind", "channel"],
        )
        age = GaugeMetricFamily("notifier_queue_age_seconds", "Age of the oldest due queued notification")
        callbacks = GaugeMetricFamily(
            "notifier_callbacks_pending", "Status changes not yet taken by an API key's callback URL"
        )
        callback_age = GaugeMetricFamily(
            "notifier_callbacks_age_seconds", "Age of the oldest status change not yet taken by its receiver"
        )
        spend = GaugeMetricFamily(
            "notifier_spend_vnd",
            "What an agency's messages on a channel with a budget cost this month (đồng, Vietnam time)",
            labels=["agency", "channel"],
        )
        budget = GaugeMetricFamily(
            "notifier_spend_budget_vnd",
            "The agency's monthly budget on that channel (đồng; [spend])",
            labels=["agency", "channel"],
        )
        # Every attempt on every channel, by how it ended: a row waiting for its retry is still `queued`
        # above, with no channel yet, so a failing provider shows here (rows are never deleted: a counter).
        tried = CounterMetricFamily(
            "notifier_delivery_attempts",
            "Delivery attempts by channel and outcome (sent, transient, permanent, skipped)",
            labels=["channel", "outcome"],
        )
        now = self.service.clock.now()
        with self.service.factory() as session:
            spend_lines = counters(session, self.service.settings.spend, now)
            rows = session.execute(
                select(Notification.status, Notification.kind, Notification.channel, func.count()).group_by(
                    Notification.status, Notification.kind, Notification.channel
                )
            ).all()
            oldest = session.scalar(
                select(func.min(Notification.not_before)).where(
                    Notification.status == NotificationStatus.QUEUED, Notification.not_before <= now
                )
            )
            attempt_rows = session.execute(
                select(DeliveryAttempt.channel, DeliveryAttempt.outcome, func.count()).group_by(
                    DeliveryAttempt.channel, DeliveryAttempt.outcome
                )
            ).all()
            pending, first = session.execute(
                select(func.count(), func.min(CallbackEvent.occurred_at)).where(
                    CallbackEvent.delivered.is_(False)
                )
            ).one()
        callbacks.add_metric([], pending or 0)
        callback_age.add_metric([], max(0.0, (now - first).total_seconds()) if first else 0.0)
        for status, kind, channel, count in rows:
            by_status.add_metric([status, kind, channel or ""], count)
        age.add_metric([], max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
        for channel, outcome, count in attempt_rows:
            tried.add_metric([channel, outcome], count)
        yield by_status
        yield age
        yield tried
        yield callbacks
        yield callback_age
        for line in spend_lines:
            spend.add_metric([line.agency_code, line.channel], line.spent_vnd)
            budget.add_metric([line.agency_code, line.channel], line.budget_vnd)
        yield spend
        yield budget


class Metrics:
    def __init__(self, service: Service) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(OutboxCollector(service))
        self.scan_seconds = Histogram(
            SCAN_SECONDS, "Duration of a full scan cycle", ["full"], registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
