"""Bounded metric series: at most so many shops and agents get label values of their own.

Every shop used to add about 68 series to ``/metrics`` (10,000 shops: 680,000 series and an
85 s scrape). :class:`SeriesCaps` keeps the busiest ``max_shops`` shops and ``max_agents``
(shop, agent) pairs under their own label values; the rest are *folded*: their counters move
the series labelled ``shop="_other"`` (``agent="_other"``), which therefore still add up to
the worker's totals, and ``chatwatch_metrics_folded{label="shop"|"agent"}`` says how many were
folded, so an operator sees that the caps bite.

*Busiest*: the most outcomes recorded since the worker started (waits opened for a shop;
breaches, violations and paid orders for an agent). While there is room a newcomer is kept at
once; the ranking is redone at every scrape (:meth:`SeriesCaps.rerank`), where a folded shop
takes a kept one's place only when it is busier by a quarter and 8 outcomes, so two shops of
about the same size do not swap their series at every scrape. A shop no conversation of the
worker's partitions has referred to for ``FORGET_SECONDS`` (evicted after
``state_retention_hours``, or its partitions moved to another worker) is forgotten, and its
series are removed.

Label values are what the caps decide at the moment a counter moves: a shop promoted from
``_other`` starts its own counters from zero (``rate()`` reads that as a new series), and a
shop demoted keeps counting under ``_other``; no counter ever goes down.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client.metrics import MetricWrapperBase

OTHER = "_other"

# A folded shop (agent) replaces a kept one only when its score exceeds the kept one's by
# this share and this many outcomes (hysteresis against swapping at every scrape).
KEEP_BONUS_SHARE = 0.25
KEEP_BONUS = 8
# A shop no conversation refers to any more keeps its series this long (a rebalance unloads
# partitions for a moment), then they are removed.
FORGET_SECONDS = 600.0


class SeriesCaps:
    """Which shops and agents have label values of their own; ``None`` means no cap."""

    def __init__(self, max_shops: int | None = None, max_agents: int | None = None,
                 forget_seconds: float = FORGET_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_shops = max_shops
        self.max_agents = max_agents
        self.forget_seconds = forget_seconds
        self.clock = clock  # wall time, seconds (tests pass their own)
        self.missing_since: dict[str, float] = {}  # shops not live at the last rankings
        self.shop_activity: dict[str, int] = {}
        self.agent_activity: dict[tuple[str, str], int] = {}
        self.agents_of: dict[str, set[str]] = {}  # shop -> its agents in agent_activity
        self.kept_shops: set[str] = set()
        self.kept_agents: set[tuple[str, str]] = set()
        self.live: set[str] | None = None  # as of the last ranking (None: none yet)
        self.fresh: set[str] = set()  # shops first seen since then
        self.folded_shops = 0
        self.folded_agents = 0
        self.generation = 0  # moves whenever a ranking changes a kept set (caches are stale)

    @classmethod
    def from_settings(cls, settings: Any) -> SeriesCaps:
        """The caps of ``metrics_max_shops`` and ``metrics_max_agents``."""
        return cls(settings.metrics_max_shops, settings.metrics_max_agents)

    @property
    def bounded(self) -> bool:
        """Whether any cap is set."""
        return self.max_shops is not None or self.max_agents is not None

    # -- label values (the hot path: called once per new key, then cached) ------------------

    def shop(self, shop: str) -> str:
        """The label value of ``shop``: itself when kept (or while there is room), else _other."""
        if shop not in self.shop_activity:
            self.shop_activity[shop] = 0
            self.fresh.add(shop)
        if self.max_shops is None or shop in self.kept_shops:
            return shop
        if len(self.kept_shops) < self.max_shops:
            self.kept_shops.add(shop)
            return shop
        return OTHER

    def agent(self, shop: str, agent: str) -> tuple[str, str]:
        """The (shop, agent) label values: an agent of a folded shop is folded too."""
        label = self.shop(shop)
        pair = (shop, agent)
        if pair not in self.agent_activity:
            self.agent_activity[pair] = 0
            self.agents_of.setdefault(shop, set()).add(agent)
        if label == OTHER:
            return OTHER, OTHER
        if self.max_agents is None or pair in self.kept_agents:
            return label, agent
        if len(self.kept_agents) < self.max_agents:
            self.kept_agents.add(pair)
            return label, agent
        return label, OTHER

    def shop_allowed(self, label: str) -> bool:
        """Whether a series with this shop label value may stay (a live shop, kept)."""
        if label == OTHER:
            return True
        if label not in self.shop_activity:  # forgotten: evicted, or its partitions moved
            return False
        return self.max_shops is None or label in self.kept_shops

    def agent_allowed(self, shop: str, agent: str) -> bool:
        """Whether a series with these (shop, agent) label values may stay."""
        if not self.shop_allowed(shop):
            return False
        return (self.max_agents is None or agent == OTHER or shop == OTHER
                or (shop, agent) in self.kept_agents)

    # -- ranking ------------------------------------------------------------------------------

    def rerank(self, live: Iterable[str]) -> bool:
        """Forget shops not in ``live``; keep the busiest; count the folded ones.

        Shops first seen since the previous ranking count as live (their first conversation
        may have arrived while the caller was reading ``live``). True when label values
        changed: the callers then drop their cached children and remove what is not allowed.
        Set operations throughout: tens of thousands of shops take milliseconds.
        """
        live = (live if isinstance(live, set) else set(live)) | self.fresh
        self.fresh = set()
        before_shops, before_agents = self.kept_shops, self.kept_agents
        activity = self.shop_activity
        # A shop missing from live is forgotten only once it has been missing FORGET_SECONDS:
        # during a rebalance a worker's partitions are briefly not loaded, and removing their
        # shops' counters then would restart them from zero for nothing.
        now = self.clock()
        missing = activity.keys() - live
        for shop in self.missing_since.keys() - missing:
            del self.missing_since[shop]
        gone = []
        for shop in missing:
            since = self.missing_since.setdefault(shop, now)
            if now - since >= self.forget_seconds:
                gone.append(shop)
        for shop in gone:
            del activity[shop]
            del self.missing_since[shop]
            for agent in self.agents_of.pop(shop, ()):
                self.agent_activity.pop((shop, agent), None)
        for shop in live - activity.keys():
            activity[shop] = 0
        self.live = live
        if self.max_shops is None:
            self.folded_shops = 0
        else:
            self.kept_shops = set(_top(self.max_shops, activity, before_shops))
            self.folded_shops = len(activity) - len(self.kept_shops)
        if self.max_agents is None:
            self.folded_agents = 0
        else:
            shops = activity.keys() if self.max_shops is None else self.kept_shops
            eligible = {(shop, agent): self.agent_activity.get((shop, agent), 0)
                        for shop in shops for agent in self.agents_of.get(shop, ())}
            self.kept_agents = set(_top(self.max_agents, eligible, before_agents))
            self.folded_agents = len(self.agent_activity) - len(self.kept_agents)
        changed = bool(gone) or (self.kept_shops != before_shops
                                 or self.kept_agents != before_agents)
        if changed:
            self.generation += 1
        return changed


def _top(n: int, scores: dict[Any, int], kept: set[Any]) -> list[Any]:
    """The ``n`` best keys by score, the ones kept before with a head start; ties by key.

    Only the kept ones and the ``2n`` best by plain score can be among them (a head start
    only raises a score): those are ranked exactly, the rest not at all.
    """
    def key(k: Any) -> tuple[float, Any]:
        score = scores[k]
        if k in kept:
            return (-(score + score * KEEP_BONUS_SHARE + KEEP_BONUS), k)
        return (-float(score), k)

    if len(scores) <= n:
        return list(scores)
    candidates = set(heapq.nlargest(2 * n, scores, key=scores.__getitem__))
    candidates.update(k for k in kept if k in scores)
    return sorted(candidates, key=key)[:n]


class Children(dict[Any, Any]):
    """The labelled children of one metric, each looked up with ``labels()`` only once.

    ``children[shop]`` or ``children[shop, agent, ...]``; for hot paths, where ``labels()``
    (about a microsecond: validation, a lock, a dict) would run several times per event.
    ``fold`` turns a key into label values (the caps' ``shop``/``agent``); the children made
    are remembered so that :meth:`prune` can remove those the caps no longer allow.
    """

    def __init__(self, metric: MetricWrapperBase,
                 fold: Callable[[Any], tuple[str, ...]] | None = None,
                 allowed: Callable[[tuple[str, ...]], bool] | None = None) -> None:
        super().__init__()
        self.metric = metric
        self.fold = fold
        self.allowed = allowed
        self.made: set[tuple[str, ...]] = set()

    def __missing__(self, key: Any) -> Any:
        if self.fold is not None:
            labels = self.fold(key)
        else:
            labels = key if isinstance(key, tuple) else (key,)
        child = self.metric.labels(*labels)
        self.made.add(labels)
        self[key] = child
        return child

    def prune(self) -> None:
        """Forget the cached children and remove the series the caps no longer allow."""
        self.clear()
        if self.allowed is None:
            return
        for labels in [lv for lv in self.made if not self.allowed(lv)]:
            self.made.discard(labels)
            try:
                self.metric.remove(*labels)
            except KeyError:
                pass
