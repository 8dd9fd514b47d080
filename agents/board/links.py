"""Every event alert links to the board, filtered to its shop and conversation.

:class:`BoardLinks` wraps the worker's alert sink: each alert gets ``board_url?shop=&ref=``
(the masked conversation ref the board's rows carry) before it is queued.
"""

from __future__ import annotations

from agents.pipeline import AlertSink
from alerts.alertmanager import EventAlert


class BoardLinks:
    """An :class:`~agents.pipeline.AlertSink` adding the board link to each alert."""

    def __init__(self, inner: AlertSink, board_url: str) -> None:
        self.inner = inner
        self.board_url = board_url

    def submit_nowait(self, alert: EventAlert) -> bool:
        """Queue the alert, linked to the board."""
        # the pipeline puts the masked conversation ref (log_ref) in alerts, never the id
        return self.inner.submit_nowait(alert.with_board(self.board_url, alert.conversation_id))


def with_board_links(alerts: AlertSink | None, board_url: str | None) -> AlertSink | None:
    """``alerts`` linking to the board when ``board_url`` is configured, else as it is."""
    if alerts is None or not board_url:
        return alerts
    return BoardLinks(alerts, board_url)
