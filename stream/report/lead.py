"""A lead's lists from a backfill (DOMAIN.md §7): ``--unpaid`` and ``--lost-inquiries``.

The lists are the engine's (``Engine.unpaid_orders``, ``Engine.lost_inquiries``), read once the
log is complete (rule 8): every order that became awaiting payment with its status at the log's
latest event time, and every agent-day's lost inquiries, all settled. One JSON object per line
(CSV or Excel by the output's name, as every output of rows).
"""

from __future__ import annotations

from collections.abc import Iterator

from stream.core.engine import Engine


def unpaid_rows(engine: Engine) -> Iterator[dict[str, object]]:
    """Every order that became awaiting payment (催付), by shop and creation time.

    Fields: ``shop_id``, ``day`` (of creation), ``agent`` (holding the conversation when it
    became awaiting payment), ``holding`` (at the end of the log), ``ref`` (masked conversation),
    ``order_id``, ``amount`` (from ``created``, null without), ``created``, ``awaiting_since``,
    ``expires``, ``paid``, ``status`` (``awaiting``, ``recovered``, ``paid_late``, ``cancelled``,
    ``expired``), ``recovered``, ``minutes_waiting``, ``created_ms``.
    """
    for entry in engine.unpaid_orders(every=True):
        yield entry.as_dict()


def lost_rows(engine: Engine) -> Iterator[dict[str, object]]:
    """Every lost inquiry (询单流失) by shop, agent, day, then first wait.

    Fields: ``shop_id``, ``agent``, ``day``, ``ref``, ``first_wait`` (the buyer's first wait of
    the day), ``first_response_seconds`` (null: never answered), ``breaches`` (the buyer's
    counted waits of the day that breached), ``paid_later`` (a payment after the day's
    conversion window), ``settled``, ``first_wait_ms``.
    """
    for entry in engine.lost_inquiries(now_ms=None):
        yield entry.as_dict()
