"""Platform KPIs (DOMAIN.md §3, "Platform KPIs"): definitions and their resolution per shop.

A KPI is a reply-window measure with its own window, its own rule on which replies close a
wait (``any``: agent, or bot where the platform policy lets bots close waits; ``human``: agent
messages only), its own unit (``buyer``, ``round``, ``session_first``) and counted hours.
Every field is configuration (``stream.kpi_config`` reads it); this module is pure data.

One KPI of a conversation may coincide with the platform policy's own wait (the §3 default
figures: same window, same closing rule, same counted hours, unit ``buyer``). That KPI is the
*mirror*: it is judged by the base wait itself (``stream.core.reply_window``) instead of a
second copy of the same state, and its breach records keep the base record's id. The other
KPIs run their own waits (``stream.core.kpi_state``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stream.core.policy import Policy

ANY = "any"
HUMAN = "human"
REPLIES = (ANY, HUMAN)
BUYER_UNIT = "buyer"
ROUND = "round"
SESSION_FIRST = "session_first"
UNITS = (BUYER_UNIT, ROUND, SESSION_FIRST)
DEFAULT_SESSION_GAP_SECONDS = 600
DEFAULT_AT_RISK_SHARE = 0.8
# The name of the policy's own KPI where a platform lists none, and of the base wait's
# breaches where no listed KPI mirrors it.
POLICY_KPI = "reply_rate"
# ``counted_until`` of a KPI counted to the end of the day ("24:00"): a time cannot be 24:00,
# and the last microsecond before midnight stands for it.
END_OF_DAY = time.max


@dataclass(frozen=True, slots=True)
class Gate:
    """A qualification on a KPI: every one of the last ``days`` days at ``min_rate`` or above."""

    days: int
    min_rate: float


# The longest score window or gate a KPI may have: the days a worker keeps per shop and KPI.
MAX_SCORE_DAYS = 90


@dataclass(frozen=True, slots=True)
class Kpi:
    """One reply KPI. ``at_risk_share``: the share of the window after which a wait is at risk.

    ``score_days``: the rolling window of the platform's score, in business days, today
    included; ``gate``: a qualification judged on each day of its window (DOMAIN.md §3,
    "Platform score").
    """

    name: str
    window_seconds: int
    replies: str = HUMAN
    unit: str = BUYER_UNIT
    counted_from: time = time(8, 0)
    counted_until: time = time(23, 0)
    target: float = 0.70
    min_volume: int = 20
    at_risk_share: float = DEFAULT_AT_RISK_SHARE
    label: str = ""
    score_days: int = 1
    gate: Gate | None = None

    @property
    def window_ms(self) -> int:
        """The window in milliseconds."""
        return self.window_seconds * 1000

    @property
    def title(self) -> str:
        """The Chinese name shown in notices and on the board, e.g. 「3分钟人工回复率」."""
        if self.label:
            return self.label
        w = self.window_seconds
        window = f"{w // 60}分钟" if w % 60 == 0 else f"{w}秒"
        who = "人工" if self.replies == HUMAN else ""
        what = "首次响应率" if self.unit == SESSION_FIRST else "回复率"
        return f"{window}{who}{what}"

    def is_counted(self, local_time: time) -> bool:
        """Whether a wait (session) starting at this local time counts toward the KPI."""
        return self.counted_from <= local_time and (
            local_time < self.counted_until or self.counted_until == END_OF_DAY)


KPI_FIELDS = frozenset(Kpi.__dataclass_fields__) - {"name"}

# The DOMAIN.md table.
BUILTIN_KPIS: dict[str, Kpi] = {k.name: k for k in (
    Kpi("pdd_5min", 300, ANY, BUYER_UNIT, target=0.70, min_volume=20,
        gate=Gate(3, 0.50)),  # promotions: >= 50 % on each of the last 3 days
    Kpi("pdd_3min_human", 180, HUMAN, BUYER_UNIT, target=0.50, min_volume=100),
    Kpi("taobao_3min_human", 180, HUMAN, ROUND, counted_until=END_OF_DAY,  # 08-24
        score_days=30),
    Kpi("jd_30s_first", 30, HUMAN, SESSION_FIRST, counted_from=time(9, 0), score_days=30),
    Kpi("douyin_3min_human", 180, HUMAN, ROUND),
    Kpi("kuaishou_3min_human", 180, HUMAN, BUYER_UNIT),
)}
BUILTIN_PLATFORM_KPIS: dict[str, tuple[str, ...]] = {
    "pdd": ("pdd_5min", "pdd_3min_human"),
    "taobao": ("taobao_3min_human",),
    "jd": ("jd_30s_first",),
    "douyin": ("douyin_3min_human",),
    "kuaishou": ("kuaishou_3min_human",),
}


def policy_kpi(policy: Policy) -> Kpi:
    """The KPI of a platform that lists none: the policy's own window as a ``buyer`` KPI."""
    return Kpi(POLICY_KPI, policy.window_seconds, ANY, BUYER_UNIT, policy.counted_from,
               policy.counted_until, policy.reply_rate_target, 20,
               min(1.0, policy.at_risk_seconds / policy.window_seconds))


def reply_rate_kpi(kset: KpiSet, policy: Policy) -> Kpi:
    """The KPI a shop's §3 reply rate is: the listed one its base wait judges, or the policy's."""
    return kset.kpis[kset.mirror] if kset.mirror >= 0 else policy_kpi(policy)


def score_window(kpi: Kpi) -> int:
    """How many days (today included) the KPI's score and gate look back."""
    return max(kpi.score_days, kpi.gate.days if kpi.gate else 1)


def closes_on_bot(kpi: Kpi, policy: Policy) -> bool:
    """Whether a bot message closes this KPI's waits under the platform policy."""
    return kpi.replies == ANY and policy.bot_replies_close_wait


def mirrors(kpi: Kpi, policy: Policy) -> bool:
    """Whether the KPI judges exactly the policy's own waits (and counts buyers)."""
    return (kpi.unit == BUYER_UNIT and kpi.window_seconds == policy.window_seconds
            and kpi.counted_from == policy.counted_from
            and kpi.counted_until == policy.counted_until
            and closes_on_bot(kpi, policy) == policy.bot_replies_close_wait)


@dataclass(frozen=True, slots=True)
class KpiSet:
    """The KPIs of one (platform, shop), ready for the hot path.

    ``mirror`` is the index of the KPI judged by the base wait (-1: none); ``runs`` the
    indices of the KPIs with waits of their own, in the order of their state slots;
    ``bot_closes[i]`` whether a bot reply counts for KPI ``i``.
    """

    kpis: tuple[Kpi, ...]
    mirror: int
    runs: tuple[int, ...]
    bot_closes: tuple[bool, ...]
    session_gap_ms: int

    @property
    def names(self) -> tuple[str, ...]:
        """The KPI names, in list order."""
        return tuple(k.name for k in self.kpis)

    @property
    def base_name(self) -> str:
        """The KPI named on the base wait's breach records."""
        return self.kpis[self.mirror].name if self.mirror >= 0 else POLICY_KPI


def kpi_set(kpis: tuple[Kpi, ...], policy: Policy, session_gap_seconds: int) -> KpiSet:
    """Resolve a KPI list against the policy it runs under."""
    mirror = next((i for i, k in enumerate(kpis) if mirrors(k, policy)), -1)
    return KpiSet(kpis, mirror, tuple(i for i in range(len(kpis)) if i != mirror),
                  tuple(closes_on_bot(k, policy) for k in kpis), session_gap_seconds * 1000)


@dataclass(frozen=True)
class KpiCatalog:
    """Every KPI definition, the lists per platform and shop, and per-shop field overrides.

    ``platform_lists[p]`` names the KPIs of platform ``p`` (absent: the built-in list, or the
    policy's own KPI); ``shop_lists[s]`` replaces the list for shop ``s``; ``shop_overrides``
    changes fields of a KPI for one shop only.
    """

    definitions: dict[str, Kpi] = field(default_factory=lambda: dict(BUILTIN_KPIS))
    platform_lists: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: dict(BUILTIN_PLATFORM_KPIS))
    shop_lists: dict[str, tuple[str, ...]] = field(default_factory=dict)
    shop_overrides: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    session_gap_seconds: int = DEFAULT_SESSION_GAP_SECONDS
    _cache: dict[tuple[str, str, int], KpiSet] = field(default_factory=dict, repr=False,
                                                      compare=False)

    def names_for(self, platform: str, shop_id: str) -> tuple[str, ...] | None:
        """The configured KPI names of a shop on a platform (None: the policy's own KPI)."""
        listed = self.shop_lists.get(shop_id)
        return listed if listed is not None else self.platform_lists.get(platform)

    def resolve(self, platform: str, shop_id: str, policy: Policy) -> KpiSet:
        """The KPIs of a shop on a platform under its resolved policy (cached)."""
        key = (platform, shop_id, id(policy))
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        names = self.names_for(platform, shop_id)
        overrides = self.shop_overrides.get(shop_id, {})
        if names is None:
            kpis: tuple[Kpi, ...] = (policy_kpi(policy),)
        else:
            kpis = tuple(self.definitions[n] for n in names)
        kpis = tuple(replace(k, **overrides[k.name]) if k.name in overrides else k for k in kpis)
        resolved = self._cache[key] = kpi_set(kpis, policy, self.session_gap_seconds)
        return resolved
