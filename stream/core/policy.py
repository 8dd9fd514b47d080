"""Platform policies (DOMAIN.md §3 and §4), resolved per platform and per shop.

Pure data: no I/O, no wall clock. ``stream.config`` builds a :class:`PolicyBook` from the YAML
file and the environment; the engine, the detector and the alert generator read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo

from stream.core.kpi import KpiCatalog, KpiSet
from stream.core.limits import RowLimits

DEFAULT_TIMEZONE = "Asia/Shanghai"
DEFAULT_PLATFORM = "pdd"


@dataclass(frozen=True, slots=True)
class Policy:
    """How one platform (or one shop) is scored and what counts as forbidden content.

    ``content_mode`` is ``"mention"`` where any mention of a contact channel is critical (PDD:
    "一概不能提起") and ``"handover"`` where only handing over a contact is critical.
    """

    window_seconds: int = 300
    counted_from: time = time(8, 0)
    counted_until: time = time(23, 0)
    bot_replies_close_wait: bool = False
    reply_rate_target: float = 0.70
    slow_threshold_seconds: float = 15.0
    at_risk_seconds: int = 240
    content_mode: str = "handover"
    # How long after a buyer's first wait of a day a payment still converts that day (§7).
    conversion_window_hours: float = 24.0
    # An order created and neither paid nor cancelled this long after is awaiting payment
    # (催付) until paid, cancelled or unpaid_expiry_hours after its creation (§7).
    unpaid_reminder_minutes: float = 30.0
    unpaid_expiry_hours: float = 24.0

    @property
    def window_ms(self) -> int:
        """The reply window in milliseconds, the unit event times are kept in."""
        return self.window_seconds * 1000

    @property
    def conversion_window_ms(self) -> int:
        """The conversion window (DOMAIN.md §7) in milliseconds."""
        return round(self.conversion_window_hours * 3_600_000)

    @property
    def unpaid_reminder_ms(self) -> int:
        """How long after ``created`` an unpaid order becomes awaiting payment, in ms."""
        return round(self.unpaid_reminder_minutes * 60_000)

    @property
    def unpaid_expiry_ms(self) -> int:
        """How long after ``created`` an order stops awaiting payment, in ms."""
        return round(self.unpaid_expiry_hours * 3_600_000)

    def is_counted(self, local_time: time) -> bool:
        """Whether a wait starting at this local time of day counts toward the KPI."""
        return self.counted_from <= local_time < self.counted_until


# The §3 table. "any other" platform gets Policy() itself.
BUILTIN_POLICIES: dict[str, Policy] = {
    "pdd": Policy(bot_replies_close_wait=True, content_mode="mention"),
    "taobao": Policy(bot_replies_close_wait=False),
}

POLICY_FIELDS = frozenset(Policy.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class ShopProfile:
    """Per-shop settings: its platform (if fixed), time zone and policy overrides."""

    timezone: str = DEFAULT_TIMEZONE
    platform: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    supervisors: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicyBook:
    """Resolves the policy and time zone for a (platform, shop) pair, with caching."""

    platforms: dict[str, Policy] = field(default_factory=lambda: dict(BUILTIN_POLICIES))
    shops: dict[str, ShopProfile] = field(default_factory=dict)
    default_platform: str = DEFAULT_PLATFORM
    default_timezone: str = DEFAULT_TIMEZONE
    kpi_catalog: KpiCatalog = field(default_factory=KpiCatalog)
    # How much one conversation row may hold (every driver's engine reads them from here, so
    # live and backfill cap alike).
    limits: RowLimits = field(default_factory=RowLimits)
    _cache: dict[tuple[str, str], tuple[Policy, ZoneInfo]] = field(
        default_factory=dict, repr=False, compare=False
    )
    _kpi_cache: dict[tuple[str, str], KpiSet] = field(default_factory=dict, repr=False,
                                                      compare=False)

    def platform_policy(self, platform: str) -> Policy:
        """The policy of a platform before shop overrides."""
        return self.platforms.get(platform) or Policy()

    def platform_of(self, platform: str | None, shop_id: str) -> str:
        """The platform a shop's messages are judged under.

        Its configured one, else the given one, else the default: the one answer for every
        path (the engine's content check, ``/check``).
        """
        profile = self.shops.get(shop_id)
        if profile is not None and profile.platform:
            return profile.platform
        return platform or self.default_platform

    def resolve(self, platform: str, shop_id: str) -> tuple[Policy, ZoneInfo]:
        """The effective policy and time zone of one shop on one platform."""
        key = (platform, shop_id)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        profile = self.shops.get(shop_id)
        if profile is None:
            resolved = (self.platform_policy(platform), ZoneInfo(self.default_timezone))
        else:
            policy = self.platform_policy(profile.platform or platform)
            if profile.overrides:
                policy = replace(policy, **profile.overrides)
            resolved = (policy, ZoneInfo(profile.timezone))
        self._cache[key] = resolved
        return resolved

    def policy(self, platform: str, shop_id: str) -> Policy:
        """The effective policy of one shop on one platform."""
        return self.resolve(platform, shop_id)[0]

    def kpis(self, platform: str, shop_id: str) -> KpiSet:
        """The KPIs of one shop on one platform (DOMAIN.md §3, "Platform KPIs"); cached."""
        hit = self._kpi_cache.get((platform, shop_id))
        if hit is not None:
            return hit
        policy = self.resolve(platform, shop_id)[0]
        profile = self.shops.get(shop_id)
        effective = profile.platform if profile is not None and profile.platform else platform
        found = self._kpi_cache[(platform, shop_id)] = self.kpi_catalog.resolve(
            effective, shop_id, policy)
        return found
