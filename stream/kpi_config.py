"""The KPI part of the configuration (DOMAIN.md §3, "Platform KPIs"), validated at start-up.

```yaml
session_gap_seconds: 600          # a gap this long starts a new session (session_first)
kpis:                             # define a KPI, or change fields of a built-in one
  pdd_3min_human: {target: 0.6}
  my_2min: {window_seconds: 120, replies: human, unit: round, counted_from: "09:00",
            counted_until: "22:00", target: 0.8, min_volume: 10, at_risk_share: 0.75}
  jd_30s_first: {gate: {days: 30, min_rate: 0.80}}  # the 热情掌柜 badge, as an example
  taobao_3min_human: {score_days: 30}               # the platform's rolling window
platforms:
  pdd: {kpis: [pdd_5min, pdd_3min_human, my_2min]}   # a platform's list
shops:
  s1:
    kpis: [pdd_3min_human]                            # this shop's list
    kpi_overrides: {pdd_3min_human: {target: 0.55}}   # fields of a KPI, for this shop only
```

:func:`extract` takes these keys out of the document (the rest goes on to the policy
parsing) and returns the :class:`~stream.core.kpi.KpiCatalog`; a bad value raises
:class:`~stream.errors.ConfigError` naming the key and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import time
from typing import Any

from stream.core.kpi import (
    BUILTIN_KPIS,
    BUILTIN_PLATFORM_KPIS,
    DEFAULT_SESSION_GAP_SECONDS,
    END_OF_DAY,
    KPI_FIELDS,
    MAX_SCORE_DAYS,
    REPLIES,
    SESSION_FIRST,
    UNITS,
    Gate,
    Kpi,
    KpiCatalog,
)
from stream.errors import ConfigError

TOP_KEYS = frozenset({"kpis", "session_gap_seconds"})


def _field(where: str, key: str, value: Any) -> Any:
    if key in ("counted_from", "counted_until"):
        if key == "counted_until" and str(value) in ("24:00", "24:00:00"):
            return END_OF_DAY  # counted to midnight
        try:
            return time.fromisoformat(str(value))
        except ValueError as exc:
            raise ConfigError(where, value, "a local time such as 08:00") from exc
    if key == "replies":
        if value not in REPLIES:
            raise ConfigError(where, value, "any (agent or bot replies, where the platform "
                                            "lets bots close waits) or human (agents only)")
        return value
    if key == "unit":
        if value not in UNITS:
            raise ConfigError(where, value, "buyer, round or session_first")
        return value
    if key == "label":
        if not isinstance(value, str):
            raise ConfigError(where, value, "a name to show, e.g. 3分钟人工回复率")
        return value
    if key == "gate":
        return _gate(where, value)
    if key == "score_days":
        return _days(where, value, "the rolling window of the score, today included, e.g. 30")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(where, value, "a number")
    if key == "window_seconds":
        if value != int(value) or value <= 0:
            raise ConfigError(where, value, "a whole number of seconds above 0, e.g. 180")
        return int(value)
    if key == "min_volume":
        if value != int(value) or value < 0:
            raise ConfigError(where, value, "a whole number of units, 0 or more, e.g. 20")
        return int(value)
    if key == "target":
        if not 0 <= value <= 1:
            raise ConfigError(where, value, "a fraction between 0 and 1, e.g. 0.70")
        return float(value)
    # at_risk_share
    if not 0 < value <= 1:
        raise ConfigError(where, value, "a share of the window above 0 and at most 1, e.g. 0.8")
    return float(value)


def _days(where: str, value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SCORE_DAYS:
        raise ConfigError(where, value, f"a whole number of days, 1-{MAX_SCORE_DAYS}: {what}")
    return value


def _gate(where: str, value: Any) -> Gate | None:
    if value is None:
        return None  # no gate (a built-in one removed)
    if not isinstance(value, Mapping) or set(value) != {"days", "min_rate"}:
        raise ConfigError(where, value, "{days: 3, min_rate: 0.50} (every one of the last "
                                        "`days` days at `min_rate` or above), or null")
    rate = value["min_rate"]
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
        raise ConfigError(f"{where}.min_rate", rate, "a fraction between 0 and 1, e.g. 0.50")
    return Gate(_days(f"{where}.days", value["days"], "the days judged, today included"),
                float(rate))


def _fields(where: str, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigError(where, raw, f"a mapping of KPI fields ({', '.join(sorted(KPI_FIELDS))})")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in KPI_FIELDS:
            raise ConfigError(f"{where}.{key}", value,
                              f"unknown KPI field; use one of {', '.join(sorted(KPI_FIELDS))}")
        out[str(key)] = _field(f"{where}.{key}", str(key), value)
    return out


def check_kpi(where: str, kpi: Kpi, gap_seconds: int) -> None:
    """Refuse a definition that cannot be judged."""
    if kpi.counted_from >= kpi.counted_until:
        raise ConfigError(f"{where}.counted_until", kpi.counted_until.isoformat(),
                          f"must be later than counted_from ({kpi.counted_from.isoformat()})")
    if kpi.unit == SESSION_FIRST and kpi.window_seconds >= gap_seconds:
        raise ConfigError(f"{where}.window_seconds", kpi.window_seconds,
                          f"a session_first window must be shorter than session_gap_seconds "
                          f"({gap_seconds})")


def _names(where: str, raw: Any, known: Mapping[str, Kpi]) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw or not all(isinstance(n, str) for n in raw):
        raise ConfigError(where, raw, "a non-empty list of KPI names, e.g. [pdd_5min]")
    for name in raw:
        if name not in known:
            raise ConfigError(where, name, f"unknown KPI; define it under kpis: or use one of "
                                           f"{', '.join(sorted(known))}")
    return tuple(raw)


def extract(doc: Mapping[str, Any]) -> tuple[KpiCatalog, dict[str, Any]]:
    """The KPI catalogue of a configuration document, and the document without its KPI keys."""
    rest = {k: v for k, v in doc.items() if k not in TOP_KEYS}
    gap = doc.get("session_gap_seconds", DEFAULT_SESSION_GAP_SECONDS)
    if isinstance(gap, bool) or not isinstance(gap, int) or gap <= 0:
        raise ConfigError("session_gap_seconds", gap,
                          "a whole number of seconds above 0 (default 600)")
    definitions = dict(BUILTIN_KPIS)
    section = doc.get("kpis") or {}
    if not isinstance(section, Mapping):
        raise ConfigError("kpis", section, "a mapping of KPI name -> fields")
    for name, raw in section.items():
        where = f"kpis.{name}"
        fields = _fields(where, raw)
        base = definitions.get(str(name))
        if base is None:
            if "window_seconds" not in fields:
                raise ConfigError(f"{where}.window_seconds", None,
                                  "a new KPI needs window_seconds (and replies, unit, ...)")
            kpi = Kpi(str(name), **fields)
        else:
            kpi = replace(base, **fields)
        check_kpi(where, kpi, gap)
        definitions[str(name)] = kpi
    for name, kpi in definitions.items():
        check_kpi(f"kpis.{name}", kpi, gap)
    platform_lists = dict(BUILTIN_PLATFORM_KPIS)
    platforms = doc.get("platforms")
    if isinstance(platforms, Mapping):
        rest["platforms"] = cleaned = {}
        for platform, raw in platforms.items():
            if isinstance(raw, Mapping) and "kpis" in raw:
                raw = dict(raw)
                platform_lists[str(platform)] = _names(f"platforms.{platform}.kpis",
                                                       raw.pop("kpis"), definitions)
            cleaned[platform] = raw
    shop_lists: dict[str, tuple[str, ...]] = {}
    shop_overrides: dict[str, dict[str, dict[str, Any]]] = {}
    shops = doc.get("shops")
    if isinstance(shops, Mapping):
        rest["shops"] = kept = {}
        for shop, raw in shops.items():
            if isinstance(raw, Mapping):
                raw = dict(raw)
                if "kpis" in raw:
                    shop_lists[str(shop)] = _names(f"shops.{shop}.kpis", raw.pop("kpis"),
                                                   definitions)
                overrides = raw.pop("kpi_overrides", None)
                if overrides is not None:
                    shop_overrides[str(shop)] = _overrides(f"shops.{shop}.kpi_overrides",
                                                           overrides, definitions, gap)
            kept[shop] = raw
    return KpiCatalog(definitions, platform_lists, shop_lists, shop_overrides, gap), rest


def _overrides(where: str, raw: Any, known: Mapping[str, Kpi],
               gap: int) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, Mapping):
        raise ConfigError(where, raw, "a mapping of KPI name -> fields to change")
    out: dict[str, dict[str, Any]] = {}
    for name, fields in raw.items():
        if name not in known and name != "reply_rate":
            raise ConfigError(f"{where}.{name}", fields,
                              f"unknown KPI; use one of {', '.join(sorted(known))}")
        out[str(name)] = _fields(f"{where}.{name}", fields)
        if name in known:
            check_kpi(f"{where}.{name}", replace(known[name], **out[str(name)]), gap)
    return out
