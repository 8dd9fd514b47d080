"""Errors of the alerting package. Each says what is wrong and how to fix it."""

from __future__ import annotations

from stream.errors import ChatwatchError


class AlertsError(ChatwatchError):
    """Root of the alerting errors (rules, Alertmanager client, pager bridge)."""


class PagerConfigError(AlertsError):
    """The pager bridge configuration is wrong: the message names the key and the fix."""
