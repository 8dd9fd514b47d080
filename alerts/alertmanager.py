"""Event alerts pushed to Alertmanager's v2 API, with retry and a durable spool.

The worker builds an :class:`EventAlert` for each critical violation (``ForbiddenContent``) and
each breached wait (``ReplyWindowBreached``) and hands it to :meth:`AlertPusher.submit`, which
only appends it to an SQLite spool and returns: it never waits on the network, so it can not
stall the stream. :meth:`AlertPusher.run`, a background task, sends the spool in batches to
``POST /api/v2/alerts`` and deletes what Alertmanager accepted. While Alertmanager is down the
batch stays in the spool and is retried with exponential backoff (capped, with jitter); a
worker restart re-opens the same spool and sends what was pending. The spool is bounded: past
``max_pending`` alerts new ones are dropped and counted (``outcome="dropped"``).

Breached waits are not one alert each: :meth:`AlertPusher.submit_nowait` folds the breaches of
one shop and KPI into one alert (labels: shop, KPI, the worker that counted them) whose
annotations carry their count and the latest wait: when its buyer began to wait and when the
window ran out. It is pushed at the first breach, then at most every ``refresh_seconds`` while
the count grows, and resolves ``hold_seconds`` after the last push. Alertmanager's grouping per
alert name and shop makes it one notice per shop, at most every ``group_interval``.

Alertmanager then applies grouping, dedup, silences and inhibition. Event alerts are points in
time, so each is sent with ``endsAt`` = send time + ``hold_seconds``: it resolves on its own.

An alert is live for ``hold_seconds`` from its event. One whose event is older than that when it
is submitted (history replayed through the live worker, a worker catching up on a long backlog)
would page supervisors for something long over: it is not spooled, only counted
(``outcome="stale"``). The age is judged at submission, not at delivery, so an alert that waits
in the spool through an Alertmanager outage is still delivered.

Usage by the worker::

    pusher = AlertPusher(settings.alertmanager_url, spool_dir,
                         metrics=PrometheusPusherMetrics.create(registry))
    task = asyncio.create_task(pusher.run())
    await pusher.submit(EventAlert.forbidden_content(...))
    ...
    await pusher.close()   # stops run(); pending alerts stay in the spool
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import socket
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

import aiohttp

from alerts.runbook import RUNBOOK_PATH, runbook_url

log = logging.getLogger(__name__)

FORBIDDEN_CONTENT = "ForbiddenContent"
REPLY_WINDOW_BREACHED = "ReplyWindowBreached"
# chatwatch_alerts_pushed_total{outcome}
OUTCOMES = ("sent", "retried", "dropped", "stale")


@dataclass(frozen=True)
class EventAlert:
    """One event alert. Labels identify it to Alertmanager; annotations carry the details.

    ``text`` must already be masked (DOMAIN.md §4); no buyer id goes in a label.
    """

    alertname: str
    shop: str
    agent: str
    severity: str
    category: str
    starts_at: datetime
    summary: str = ""
    text: str = ""
    conversation_id: str = ""
    link: str = ""
    extra_annotations: dict[str, str] = field(default_factory=dict)
    # Identifies the one event behind the alert (a digest, never a buyer id). Without it two
    # forbidden messages by one agent would share every label, Alertmanager would merge them
    # into one alert and the second hand-over would never page. Alertmanager still groups
    # them per shop into one notification.
    ref: str = ""
    extra_labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def forbidden_content(cls, *, shop: str, agent: str, category: str, masked_text: str,
                          conversation_id: str, at: datetime, severity: str = "page",
                          link: str = "", ref: str = "") -> EventAlert:
        """Build the alert for a critical violation: pages (DOMAIN.md §5)."""
        return cls(FORBIDDEN_CONTENT, shop, agent, severity, category, at,
                   summary=f"店铺 {shop} 客服 {agent} 发送了禁止内容（{category}）",
                   text=masked_text, conversation_id=conversation_id, link=link, ref=ref,
                   extra_annotations={"timezone": _zone_name(at)})

    @classmethod
    def reply_window_breached(cls, *, shop: str, agent: str, conversation_id: str,
                              at: datetime, wait_seconds: float, kpi: str = "",
                              title: str = "", start: datetime | None = None,
                              severity: str = "warning", link: str = "") -> EventAlert:
        """Build the alert for one breached wait of a KPI: a warning (docs/alerts.md).

        ``start`` is when the buyer began to wait (default ``at`` minus the window), ``at``
        when the window ran out, both in the shop's time zone; ``title`` the KPI's name as
        users know it (default: the window's, 「5分钟回复率」 for 300 s). The pusher folds
        the breaches of one shop and KPI into one alert counting them
        (:meth:`AlertPusher.submit_nowait`): the labels name the shop and KPI only, the
        latest wait's agent and conversation are annotations.
        """
        start = start or at - timedelta(seconds=wait_seconds)
        title = title or window_title(wait_seconds)
        labels = {"title": title, **({"kpi": kpi} if kpi else {})}
        return cls(REPLY_WINDOW_BREACHED, shop, "", severity, "reply_window", at,
                   summary=f"店铺 {shop}「{title}」买家等待超时未回复",
                   conversation_id=conversation_id, link=link, extra_labels=labels,
                   extra_annotations={
                       "count": "1", "agent": agent, "timezone": _zone_name(at),
                       "waiting_since": start.isoformat(timespec="seconds"),
                       "window_end": at.isoformat(timespec="seconds")})

    def identity(self) -> tuple[tuple[str, str], ...]:
        """The labels that make this alert one alert to Alertmanager."""
        return tuple(sorted(self._labels().items()))

    def _labels(self) -> dict[str, str]:
        labels = {"alertname": self.alertname, "shop": self.shop, "agent": self.agent,
                  "severity": self.severity, "category": self.category,
                  **({"ref": self.ref} if self.ref else {}), **self.extra_labels}
        return {k: v for k, v in labels.items() if v}

    def with_board(self, base: str, ref: str) -> EventAlert:
        """A copy linked to the board at ``base``, filtered to its shop and conversation.

        The link is the alert's ``generatorURL`` (the notice's 查看详情) and its ``board_url``
        annotation.
        """
        link = board_link(base, self.shop, ref)
        runbook = runbook_url(base.rstrip("/") + RUNBOOK_PATH, self.alertname)
        return replace(self, link=link, extra_annotations={
            **self.extra_annotations, "board_url": link, "runbook_url": runbook})

    def to_api(self, ends_at: datetime) -> dict[str, Any]:
        """Return the v2 ``postableAlert`` body."""
        # The runbook as a path on the board unless linked to it (with_board): the pager
        # bridge completes the path with its own board_url.
        annotations = {"summary": self.summary, "text": self.text,
                       "conversation_id": self.conversation_id,
                       "runbook_url": runbook_url(RUNBOOK_PATH, self.alertname),
                       **self.extra_annotations}
        body: dict[str, Any] = {
            "labels": self._labels(),
            "annotations": {k: v for k, v in annotations.items() if v},
            "startsAt": _iso(self.starts_at),
            "endsAt": _iso(max(ends_at, self.starts_at + timedelta(seconds=1))),
        }
        if self.link:
            body["generatorURL"] = self.link
        return body

    def to_json(self) -> str:
        """Serialise for the spool."""
        return json.dumps({
            "alertname": self.alertname, "shop": self.shop, "agent": self.agent,
            "severity": self.severity, "category": self.category,
            "starts_at": _iso(self.starts_at), "summary": self.summary, "text": self.text,
            "conversation_id": self.conversation_id, "link": self.link,
            "extra_annotations": self.extra_annotations, "ref": self.ref,
            "extra_labels": self.extra_labels,
        }, ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str) -> EventAlert:
        """Inverse of :meth:`to_json`."""
        doc = json.loads(raw)
        doc["starts_at"] = datetime.fromisoformat(doc["starts_at"].replace("Z", "+00:00"))
        return cls(**doc)


def _zone_name(at: datetime) -> str:
    """The IANA name of ``at``'s time zone (the shop's), for the notice to show its times in."""
    return getattr(at.tzinfo, "key", None) or "UTC"


def window_title(wait_seconds: float) -> str:
    """A reply-window KPI's name as users know it: 「5分钟回复率」, 「30秒回复率」."""
    w = int(wait_seconds)
    return f"{w // 60}分钟回复率" if w % 60 == 0 else f"{w}秒回复率"


def board_link(base: str, shop: str = "", ref: str = "") -> str:
    """The supervisor's board at ``base``, filtered to ``shop`` (and a conversation ``ref``).

    ``ref`` is a masked conversation reference (``agents.pipeline.log_ref``), never an id.
    """
    query = {k: v for k, v in (("shop", shop), ("ref", ref)) if v}
    return base.rstrip("/") + "/" + (f"?{urlencode(query)}" if query else "")


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _iso(when: datetime) -> str:
    if when.tzinfo is None:
        raise ValueError(f"naive datetime {when!r}: event alerts need time-zone aware times")
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class PusherMetrics(Protocol):
    """Where the pusher reports; the worker may pass its own metrics bundle."""

    def pushed(self, outcome: str, count: int) -> None:
        """Count alerts by outcome: ``sent``, ``retried``, ``dropped`` or ``stale``."""

    def queue_depth(self, depth: int) -> None:
        """Report how many alerts wait in the spool."""


class NullMetrics:
    """Metrics that go nowhere (the default)."""

    def pushed(self, outcome: str, count: int) -> None:  # noqa: D102
        pass

    def queue_depth(self, depth: int) -> None:  # noqa: D102
        pass


@dataclass(frozen=True)
class PrometheusPusherMetrics:
    """``chatwatch_alerts_pushed_total{outcome}`` and ``chatwatch_alert_queue_depth``."""

    pushed_total: Any
    depth: Any

    @classmethod
    def create(cls, registry: Any) -> PrometheusPusherMetrics:
        """Build both metrics against ``registry`` (a ``CollectorRegistry``)."""
        from prometheus_client import Counter, Gauge

        pushed = Counter("chatwatch_alerts_pushed", "Event alerts pushed to Alertmanager",
                         ["outcome"], registry=registry)
        for outcome in OUTCOMES:
            pushed.labels(outcome=outcome)
        depth = Gauge("chatwatch_alert_queue_depth", "Event alerts waiting in the spool",
                      registry=registry)
        return cls(pushed, depth)

    def pushed(self, outcome: str, count: int) -> None:  # noqa: D102
        self.pushed_total.labels(outcome=outcome).inc(count)

    def queue_depth(self, depth: int) -> None:  # noqa: D102
        self.depth.set(depth)


class Spool:
    """An append-only SQLite queue of serialised alerts in ``directory/alerts.sqlite3``.

    WAL mode with ``synchronous=NORMAL``: an insert does not wait for fsync, and a committed
    row survives a process crash (not necessarily a power cut, which is acceptable here).
    """

    def __init__(self, directory: str | Path) -> None:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        self.path = path / "alerts.sqlite3"
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS pending "
                         "(id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL)")
        self._count = int(self._db.execute("SELECT COUNT(*) FROM pending").fetchone()[0])

    def __len__(self) -> int:
        return self._count

    def append(self, body: str) -> None:
        """Store one alert."""
        self._db.execute("INSERT INTO pending (body) VALUES (?)", (body,))
        self._count += 1

    def head(self, limit: int) -> list[tuple[int, str]]:
        """Return the oldest ``limit`` alerts as ``(id, body)``."""
        rows = self._db.execute("SELECT id, body FROM pending ORDER BY id LIMIT ?", (limit,))
        return [(int(i), str(b)) for i, b in rows.fetchall()]

    def delete(self, ids: Sequence[int]) -> None:
        """Forget delivered (or undeliverable) alerts."""
        if ids:
            self._db.executemany("DELETE FROM pending WHERE id = ?", [(i,) for i in ids])
            self._count = int(self._db.execute("SELECT COUNT(*) FROM pending").fetchone()[0])

    def close(self) -> None:
        """Close the database file."""
        self._db.close()


@dataclass
class _Tally:
    """The breaches of one shop and KPI since their alert began firing (one episode)."""

    first_at: datetime  # when the first window of the episode ran out
    latest: EventAlert
    count: int = 0
    pushed_at: datetime | None = None  # pusher clock of the last push
    live_until: datetime | None = None  # the last push's alert ends then (pusher clock)
    dirty: bool = False  # counted breaches not pushed yet

    def folded(self, worker: str) -> EventAlert:
        """The one alert of the episode: the latest wait's details and the count."""
        latest = self.latest
        title = latest.extra_labels.get("title", "")
        return replace(
            latest, starts_at=self.first_at,
            summary=f"店铺 {latest.shop}「{title}」{self.count} 次等待超时未回复",
            extra_labels={**latest.extra_labels, **({"worker": worker} if worker else {})},
            extra_annotations={**latest.extra_annotations, "count": str(self.count)})


def default_worker(spool_dir: str | Path) -> str:
    """The worker's name on the breach alerts it counts: host and a digest of its spool.

    Several workers count the breaches of one shop (its conversations are spread over all
    partitions): each pushes its own alert, and the pager adds their counts up.
    """
    digest = hashlib.blake2b(str(Path(spool_dir).resolve()).encode(), digest_size=3).hexdigest()
    return f"{socket.gethostname()}-{digest}"


class AlertPusher:
    """Queue event alerts durably and deliver them to Alertmanager (see module docstring)."""

    def __init__(
        self,
        url: str,
        spool_dir: str | Path,
        *,
        max_pending: int = 10_000,
        batch_size: int = 100,
        hold_seconds: float = 300.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        request_timeout: float = 5.0,
        metrics: PusherMetrics | None = None,
        clock: Callable[[], datetime] | None = None,
        refresh_seconds: float | None = None,
        worker: str | None = None,
    ) -> None:
        """Spool under ``spool_dir``, deliver to Alertmanager at ``url``.

        ``refresh_seconds``: how often at most a growing breach count is pushed again
        (default a minute, or a fifth of ``hold_seconds`` if that is shorter: well within the
        hold, so the alert stays firing while breaches go on); ``worker`` names this worker
        on the breach alerts (default :func:`default_worker`).
        """
        self.endpoint = url.rstrip("/") + "/api/v2/alerts"
        self.spool = Spool(spool_dir)
        self.max_pending = max_pending
        self.batch_size = batch_size
        self.hold = timedelta(seconds=hold_seconds)
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.timeout = aiohttp.ClientTimeout(total=request_timeout)
        self.metrics: PusherMetrics = metrics or NullMetrics()
        self.clock: Callable[[], datetime] = clock or _utc_now  # wall clock; tests pass their own
        self.refresh = timedelta(seconds=min(60.0, hold_seconds / 5)
                                 if refresh_seconds is None else refresh_seconds)
        self.worker = default_worker(spool_dir) if worker is None else worker
        self._tallies: dict[tuple[tuple[str, str], ...], _Tally] = {}
        self._stale_streak = 0
        self._wake = asyncio.Event()
        self._closed = False
        self._idle = asyncio.Event()
        self.metrics.queue_depth(len(self.spool))
        if len(self.spool):
            log.info("alert spool %s holds %d undelivered alerts", self.spool.path, len(self.spool))

    @property
    def pending(self) -> int:
        """Alerts accepted by :meth:`submit` and not yet delivered."""
        return len(self.spool)

    def submit_nowait(self, alert: EventAlert) -> bool:
        """Spool ``alert`` for delivery; ``False`` if it was not: stale, or the spool is full."""
        if alert.starts_at + self.hold <= self.clock():
            # Over before it was raised: it would page for an old event (see module docstring).
            self.metrics.pushed("stale", 1)
            if not self._stale_streak:
                log.info("event alert %s for shop %s at %s is older than the alert hold time "
                         "(%.0f s): not sent; replaying history? (counted as outcome=stale)",
                         alert.alertname, alert.shop, _iso(alert.starts_at),
                         self.hold.total_seconds())
            self._stale_streak += 1
            return False
        if self._stale_streak:
            log.info("%d stale event alerts not sent", self._stale_streak)
            self._stale_streak = 0
        if alert.alertname == REPLY_WINDOW_BREACHED:
            return self._count(alert)
        return self._spool(alert)

    def _count(self, alert: EventAlert) -> bool:
        """Fold a breach into its shop and KPI's alert; push it now if it is due."""
        now = self.clock()
        key = alert.identity()
        tally = self._tallies.get(key)
        if tally is None or (tally.live_until is not None and now >= tally.live_until
                             and not tally.dirty):
            tally = self._tallies[key] = _Tally(alert.starts_at, alert)
        tally.count += 1
        tally.latest = alert
        if tally.pushed_at is None or now - tally.pushed_at >= self.refresh:
            return self._push(tally, now)
        tally.dirty = True
        self._wake.set()
        return True

    def _push(self, tally: _Tally, now: datetime) -> bool:
        if not self._spool(tally.folded(self.worker)):
            tally.dirty = True
            return False
        tally.pushed_at, tally.live_until, tally.dirty = now, now + self.hold, False
        return True

    def flush_counts(self) -> datetime | None:
        """Push the grown counts that are due; forget the episodes that are over.

        Returns when the next count falls due (None: none waits). :meth:`run` calls it.
        """
        now = self.clock()
        due: datetime | None = None
        for key, tally in list(self._tallies.items()):
            if tally.dirty:
                at = (tally.pushed_at or now) + self.refresh
                if at <= now:
                    self._push(tally, now)
                    continue
                due = at if due is None else min(due, at)
            elif tally.live_until is not None and now >= tally.live_until:
                del self._tallies[key]
        return due

    def _spool(self, alert: EventAlert) -> bool:
        if len(self.spool) >= self.max_pending:
            self.metrics.pushed("dropped", 1)
            log.warning("alert spool full (%d alerts): dropped %s for shop %s",
                        self.max_pending, alert.alertname, alert.shop)
            return False
        self.spool.append(alert.to_json())
        self.metrics.queue_depth(len(self.spool))
        self._idle.clear()
        self._wake.set()
        return True

    async def submit(self, alert: EventAlert) -> bool:
        """Async form of :meth:`submit_nowait`; returns at once, never waits on the network."""
        return self.submit_nowait(alert)

    async def run(self) -> None:
        """Deliver the spool until :meth:`close`; survives any Alertmanager outage."""
        delay = self.backoff_initial
        async with aiohttp.ClientSession(timeout=self.timeout) as session:
            while not self._closed:
                due = self.flush_counts()
                batch = self.spool.head(self.batch_size)
                if not batch:
                    self._idle.set()
                    self._wake.clear()
                    wait = None if due is None else max(
                        0.0, (due - self.clock()).total_seconds())
                    try:
                        await asyncio.wait_for(self._wake.wait(), timeout=wait)
                    except TimeoutError:
                        pass
                    continue
                delivered = await self._post(session, batch)
                if delivered:
                    delay = self.backoff_initial
                    continue
                self.metrics.pushed("retried", len(batch))
                # jitter spreads the retries of several workers after a shared outage
                await self._sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self.backoff_max)

    async def _post(self, session: aiohttp.ClientSession, batch: list[tuple[int, str]]) -> bool:
        now = self.clock()
        body = [EventAlert.from_json(raw).to_api(now + self.hold) for _, raw in batch]
        ids = [i for i, _ in batch]
        try:
            async with session.post(self.endpoint, json=body) as resp:
                status = resp.status
                detail = (await resp.text())[:300] if status != 200 else ""
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("Alertmanager %s unreachable (%s); %d alerts kept for retry",
                        self.endpoint, exc.__class__.__name__, len(self.spool))
            return False
        if status == 200:
            self.spool.delete(ids)
            self.metrics.pushed("sent", len(ids))
            self.metrics.queue_depth(len(self.spool))
            return True
        if 400 <= status < 500 and status not in (408, 429):
            # Alertmanager rejected the alerts themselves: retrying cannot help.
            log.error("Alertmanager rejected %d alerts (HTTP %d: %s); dropped",
                      len(ids), status, detail)
            self.spool.delete(ids)
            self.metrics.pushed("dropped", len(ids))
            self.metrics.queue_depth(len(self.spool))
            return True
        log.warning("Alertmanager answered HTTP %d (%s); %d alerts kept for retry",
                    status, detail, len(self.spool))
        return False

    async def _sleep(self, seconds: float) -> None:
        # Woken early by close() only; new submissions do not cut a backoff short.
        try:
            await asyncio.wait_for(self._closing(), timeout=seconds)
        except TimeoutError:
            pass

    async def _closing(self) -> None:
        while not self._closed:
            self._wake.clear()
            await self._wake.wait()

    async def drained(self) -> None:
        """Wait until every spooled alert has been delivered (tests, graceful shutdown)."""
        await self._idle.wait()

    async def close(self) -> None:
        """Stop :meth:`run` and close the spool; undelivered alerts stay for the next start."""
        self._closed = True
        self._wake.set()
        await asyncio.sleep(0)

    def close_spool(self) -> None:
        """Close the spool file once :meth:`run` has returned."""
        self.spool.close()
