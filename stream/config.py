"""Configuration: one frozen :class:`Settings`, read in one place from YAML and the environment.

Precedence: built-in defaults < the YAML file (``--config`` or ``CHATWATCH_CONFIG``) <
environment variables. Every value is validated here, at start-up, and a bad one raises
:class:`~stream.errors.ConfigError` naming the key, the value and the fix.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from stream import kpi_config
from stream.core.content import Detector
from stream.core.guard import ContentGuard, GuardLimits
from stream.core.limits import RowLimits
from stream.core.policy import (
    BUILTIN_POLICIES,
    DEFAULT_PLATFORM,
    DEFAULT_TIMEZONE,
    POLICY_FIELDS,
    Policy,
    PolicyBook,
    ShopProfile,
)
from stream.errors import ConfigError
from stream.schema import (
    DEFAULT_EARLIEST_EVENT_TIME,
    DEFAULT_MAX_FUTURE_SECONDS,
    TimeBounds,
    parse_instant,
)


@dataclass(frozen=True)
class KafkaSecurity:
    """SASL/SSL settings for a production broker (all from the environment)."""

    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None


@dataclass(frozen=True)
class ContentSettings:
    """Configured word lists and allow-lists for the content detector, and its bounds."""

    words: dict[str, tuple[str, ...]] = field(default_factory=dict)
    allow: tuple[str, ...] = ()
    platform_domains: tuple[str, ...] = ()
    limits: GuardLimits = field(default_factory=GuardLimits)

    def guard(self) -> ContentGuard:
        """The content guard these settings describe (build once, share)."""
        return ContentGuard(Detector.from_settings(self), self.limits)


@dataclass(frozen=True)
class Settings:
    """Everything a chatwatch process needs to know, validated."""

    app_id: str = "chatwatch"
    broker: str | None = None
    security: KafkaSecurity = field(default_factory=KafkaSecurity)
    partitions: int = 8
    # Copies the brokers keep of each partition of the topics chatwatch creates: its own four
    # and faust's internal ones (the conversations changelog). 1 suits one broker; a cluster
    # of three or more brokers wants 3, or one broker's loss loses state.
    replication_factor: int = 1
    store: str = "memory://"
    data_dir: str = "data"
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    clock_skew_seconds: float = 0.5
    # Believable event times (stream.schema.TimeBounds): an event stamped before the earliest
    # time, or further ahead of the driver's clock than max_future_seconds, is dead-lettered.
    max_future_seconds: float = DEFAULT_MAX_FUTURE_SECONDS
    earliest_event_time: str = DEFAULT_EARLIEST_EVENT_TIME
    sweep_interval_seconds: float = 0.1
    # Consumer-group timings. A short rebalance timeout keeps joins fast (the embedded broker
    # waits half of it for members to join); the session timeout is how long a killed
    # worker's partitions stay orphaned before they move.
    session_timeout_seconds: float = 10.0
    rebalance_timeout_seconds: float = 6.0
    # Conversations idle (no open wait) this long in event time are dropped from state, and
    # business days this old from the live figures; older history is for backfill.
    state_retention_hours: float = 48.0
    # /health answers 503 (not ready) while the worker lags more than this behind the events.
    health_max_lag_seconds: float = 60.0
    # Series caps of /metrics (agents.series): the busiest shops and (shop, agent) pairs keep
    # label values of their own, the rest are folded into shop="_other" / agent="_other".
    metrics_max_shops: int = 500
    metrics_max_agents: int = 2000
    # How often the worker compares the log it has read with what the broker still holds; a
    # log that became shorter (a blank broker restart, a recreated topic) stops the worker
    # with a message, so its supervisor restarts it on the log as it is now.
    log_check_seconds: float = 5.0
    check_token: str | None = field(default=None, repr=False)
    # POST /check runs in checker processes, never on the event loop: at most
    # check_concurrency requests at a time (beyond: 429), in check_processes processes.
    check_concurrency: int = 8
    check_processes: int = 1
    # /metrics wants this bearer token when set (Prometheus: authorization.credentials_file).
    metrics_token: str | None = field(default=None, repr=False)
    # The supervisor's board (agents.board): its public address, put in alerts and notices,
    # and its credentials (board_token falls back to check_token; basic auth is user:password).
    board_url: str | None = None
    board_token: str | None = field(default=None, repr=False)
    board_basic_auth: str | None = field(default=None, repr=False)
    alertmanager_url: str | None = None
    # Event alerts are points in time: each resolves this long after it is pushed.
    alert_hold_seconds: float = 300.0
    events_topic: str = "chat.events"
    dlq_topic: str = "chat.events.dlq"
    breaches_topic: str = "chat.breaches"
    violations_topic: str = "chat.violations"
    policies: PolicyBook = field(default_factory=PolicyBook)
    content: ContentSettings = field(default_factory=ContentSettings)
    log_level: str = "info"

    @property
    def time_bounds(self) -> TimeBounds:
        """The event-time bounds every driver applies."""
        return TimeBounds(int(self.max_future_seconds * 1000),
                          parse_instant(self.earliest_event_time))

    @property
    def default_platform(self) -> str:
        """The platform assumed for events that do not name one."""
        return self.policies.default_platform

    @property
    def known_platforms(self) -> tuple[str, ...]:
        """The platforms whose rules chatwatch knows (built in or configured), sorted."""
        return known_platforms(self.policies)

    def platform_problem(self, name: str) -> str | None:
        """Why ``name`` (a command's platform option) is not a known platform, or None."""
        return unknown_platform(self.policies, name)

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some fields replaced (tests and CLI flags), checked as loading checks.

        A value the configuration file or the environment could not set (``--partitions 0``)
        is refused here too, naming the field.
        """
        _check_scalars(dict(changes))
        return replace(self, **changes)


# Environment variable -> (settings field, parser)
_ENV_SCALARS: dict[str, tuple[str, type]] = {
    "CHATWATCH_APP_ID": ("app_id", str),
    "KAFKA_BROKER": ("broker", str),
    "CHATWATCH_PARTITIONS": ("partitions", int),
    "CHATWATCH_REPLICATION_FACTOR": ("replication_factor", int),
    "CHATWATCH_STORE": ("store", str),
    "CHATWATCH_DATA_DIR": ("data_dir", str),
    "CHATWATCH_WEB_HOST": ("web_host", str),
    "CHATWATCH_WEB_PORT": ("web_port", int),
    "CHATWATCH_CLOCK_SKEW_SECONDS": ("clock_skew_seconds", float),
    "CHATWATCH_MAX_FUTURE_SECONDS": ("max_future_seconds", float),
    "CHATWATCH_EARLIEST_EVENT_TIME": ("earliest_event_time", str),
    "CHATWATCH_SWEEP_INTERVAL_SECONDS": ("sweep_interval_seconds", float),
    "CHATWATCH_SESSION_TIMEOUT_SECONDS": ("session_timeout_seconds", float),
    "CHATWATCH_REBALANCE_TIMEOUT_SECONDS": ("rebalance_timeout_seconds", float),
    "CHATWATCH_STATE_RETENTION_HOURS": ("state_retention_hours", float),
    "CHATWATCH_STATE_MAX_LIVE_ORDERS": ("state_max_live_orders", int),
    "CHATWATCH_STATE_MAX_SETTLED_ORDERS": ("state_max_settled_orders", int),
    "CHATWATCH_STATE_MAX_DAYS": ("state_max_days", int),
    "CHATWATCH_HEALTH_MAX_LAG_SECONDS": ("health_max_lag_seconds", float),
    "CHATWATCH_METRICS_MAX_SHOPS": ("metrics_max_shops", int),
    "CHATWATCH_METRICS_MAX_AGENTS": ("metrics_max_agents", int),
    "CHATWATCH_LOG_CHECK_SECONDS": ("log_check_seconds", float),
    "CHATWATCH_CHECK_TOKEN": ("check_token", str),
    "CHATWATCH_CHECK_CONCURRENCY": ("check_concurrency", int),
    "CHATWATCH_CHECK_PROCESSES": ("check_processes", int),
    "CHATWATCH_METRICS_TOKEN": ("metrics_token", str),
    "CHATWATCH_BOARD_URL": ("board_url", str),
    "CHATWATCH_BOARD_TOKEN": ("board_token", str),
    "CHATWATCH_BOARD_BASIC_AUTH": ("board_basic_auth", str),
    "CHATWATCH_ALERTMANAGER_URL": ("alertmanager_url", str),
    "CHATWATCH_ALERT_HOLD_SECONDS": ("alert_hold_seconds", float),
    "CHATWATCH_LOG_LEVEL": ("log_level", str),
}
_ENV_SECURITY = {
    "KAFKA_SECURITY_PROTOCOL": "security_protocol",
    "KAFKA_SASL_MECHANISM": "sasl_mechanism",
    "KAFKA_SASL_USERNAME": "sasl_username",
    "KAFKA_SASL_PASSWORD": "sasl_password",
    "KAFKA_SSL_CAFILE": "ssl_cafile",
    "KAFKA_SSL_CERTFILE": "ssl_certfile",
    "KAFKA_SSL_KEYFILE": "ssl_keyfile",
}
_FILE_SCALARS = {name for name, _ in _ENV_SCALARS.values()} | {
    "events_topic", "dlq_topic", "breaches_topic", "violations_topic",
}
_FILE_SECTIONS = {"platforms", "shops", "content", "default_platform", "default_timezone", "kafka"}
_SECURITY_PROTOCOLS = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}
_SASL_MECHANISMS = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}


def load_settings(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build :class:`Settings` from an optional YAML file and the environment."""
    env = os.environ if environ is None else environ
    path = path or env.get("CHATWATCH_CONFIG") or None
    doc: dict[str, Any] = {}
    if path is not None:
        doc = _read_yaml(Path(path))
    return settings_from_mapping(doc, env)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("CHATWATCH_CONFIG", str(path), f"cannot read it ({exc.strerror}); "
                          "give the path of a readable YAML file") from exc
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError("CHATWATCH_CONFIG", str(path), f"not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise ConfigError("CHATWATCH_CONFIG", str(path), "the file must hold a mapping at top level")
    return doc


def settings_from_mapping(doc: Mapping[str, Any], env: Mapping[str, str]) -> Settings:
    """Validate a parsed YAML document plus environment into :class:`Settings`."""
    kpi_catalog, doc = kpi_config.extract(doc)  # the KPI keys (stream/kpi_config.py)
    unknown = set(doc) - _FILE_SCALARS - _FILE_SECTIONS
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(key, doc[key], "unknown key; see the configuration reference in README.md")
    values: dict[str, Any] = {}
    for key in _FILE_SCALARS & set(doc):
        values[key] = doc[key]
    from_env: dict[str, str] = {}
    for var, (name, parse) in _ENV_SCALARS.items():
        raw = env.get(var)
        if raw is None or raw == "":
            continue
        try:
            values[name] = parse(raw)
        except ValueError as exc:
            raise ConfigError(var, raw, f"must be a {parse.__name__}") from exc
        from_env[name] = var
    try:
        _check_scalars(values)
    except ConfigError as exc:  # name the knob the operator actually turned
        if exc.key not in from_env:
            raise
        raise ConfigError(from_env[exc.key], exc.value, exc.fix) from None

    security = _security(doc.get("kafka") or {}, env)
    default_platform = str(env.get("CHATWATCH_DEFAULT_PLATFORM") or doc.get("default_platform")
                           or DEFAULT_PLATFORM)
    default_timezone = str(env.get("CHATWATCH_TIMEZONE") or doc.get("default_timezone")
                           or DEFAULT_TIMEZONE)
    _check_timezone("default_timezone", default_timezone)
    platforms = _platforms(doc.get("platforms") or {})
    shops = _shops(doc.get("shops") or {}, default_timezone)
    # the row caps live with the policies, where every driver's engine finds them
    limits = RowLimits(**{name.removeprefix("state_"): values.pop(name) for name in
                          ("state_max_live_orders", "state_max_settled_orders", "state_max_days")
                          if name in values})
    policies = PolicyBook(platforms=platforms, shops=shops, default_platform=default_platform,
                          default_timezone=default_timezone, kpi_catalog=kpi_catalog,
                          limits=limits)
    _check_platforms(policies, "CHATWATCH_DEFAULT_PLATFORM"
                     if env.get("CHATWATCH_DEFAULT_PLATFORM") else "default_platform")
    content = _content(doc.get("content") or {}, env)
    return Settings(security=security, policies=policies, content=content, **values)


def known_platforms(policies: PolicyBook) -> tuple[str, ...]:
    """The platforms with rules of their own: built in, or under ``platforms:``/KPI lists."""
    return tuple(sorted(set(policies.platforms) | set(policies.kpi_catalog.platform_lists)))


def unknown_platform(policies: PolicyBook, name: str) -> str | None:
    """Why ``name`` is not a known platform (a misspelling silently weakens the rules)."""
    known = known_platforms(policies)
    if name in known:
        return None
    return (f"unknown platform {name!r}; known platforms: {', '.join(known)} (a new one is "
            f"defined under platforms: in the configuration)")


def _check_platforms(policies: PolicyBook, default_from: str) -> None:
    """The default platform and every shop's platform must be known ones."""
    problem = unknown_platform(policies, policies.default_platform)
    if problem is not None:
        raise ConfigError(default_from, policies.default_platform, problem)
    for shop_id, profile in policies.shops.items():
        if profile.platform is not None:
            problem = unknown_platform(policies, profile.platform)
            if problem is not None:
                raise ConfigError(f"shops.{shop_id}.platform", profile.platform, problem)


def _check_scalars(values: dict[str, Any]) -> None:
    broker = values.get("broker")
    if broker is not None:
        if not isinstance(broker, str) or not broker.startswith("kafka://") or len(broker) <= 8:
            raise ConfigError("KAFKA_BROKER", broker,
                              "use kafka://HOST:PORT (several: kafka://h1:9092;h2:9092), "
                              "or leave it unset to start the embedded broker")
    checks: list[tuple[str, Any, type, Any]] = [
        ("partitions", values.get("partitions"), int, lambda v: v >= 1),
        ("replication_factor", values.get("replication_factor"), int, lambda v: v >= 1),
        ("web_port", values.get("web_port"), int, lambda v: 0 <= v <= 65535),
        ("check_concurrency", values.get("check_concurrency"), int, lambda v: 1 <= v <= 1024),
        ("check_processes", values.get("check_processes"), int, lambda v: 1 <= v <= 64),
        ("clock_skew_seconds", values.get("clock_skew_seconds"), float, lambda v: 0 <= v <= 60),
        ("max_future_seconds", values.get("max_future_seconds"), float,
         lambda v: 1 <= v <= 7 * 86400),
        ("sweep_interval_seconds", values.get("sweep_interval_seconds"), float,
         lambda v: 0.01 <= v <= 1),
        ("state_retention_hours", values.get("state_retention_hours"), float,
         lambda v: 1 <= v <= 24 * 90),
        ("state_max_live_orders", values.get("state_max_live_orders"), int,
         lambda v: 1 <= v <= 4096),
        ("state_max_settled_orders", values.get("state_max_settled_orders"), int,
         lambda v: 0 <= v <= 65536),
        ("state_max_days", values.get("state_max_days"), int, lambda v: 1 <= v <= 400),
        ("session_timeout_seconds", values.get("session_timeout_seconds"), float,
         lambda v: 3 <= v <= 300),
        ("rebalance_timeout_seconds", values.get("rebalance_timeout_seconds"), float,
         lambda v: 2 <= v <= 600),
        ("alert_hold_seconds", values.get("alert_hold_seconds"), float,
         lambda v: 1 <= v <= 86400),
        ("health_max_lag_seconds", values.get("health_max_lag_seconds"), float,
         lambda v: 1 <= v <= 86400),
        ("metrics_max_shops", values.get("metrics_max_shops"), int,
         lambda v: 1 <= v <= 100_000),
        ("metrics_max_agents", values.get("metrics_max_agents"), int,
         lambda v: 1 <= v <= 1_000_000),
        ("log_check_seconds", values.get("log_check_seconds"), float,
         lambda v: 0.5 <= v <= 3600),
    ]
    for name, value, kind, ok in checks:
        if value is None:
            continue
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = values[name] = float(value)
        if not isinstance(value, kind) or isinstance(value, bool) or not ok(value):
            raise ConfigError(name, value, _HINTS[name])
    for name in ("app_id", "events_topic", "dlq_topic", "breaches_topic", "violations_topic",
                 "data_dir", "web_host", "check_token", "alertmanager_url", "store", "log_level",
                 "board_url", "board_token", "board_basic_auth", "metrics_token"):
        value = values.get(name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(name, value, "a non-empty string")
    for name in ("app_id", "events_topic", "dlq_topic", "breaches_topic", "violations_topic"):
        value = values.get(name)
        if value is not None and not _TOPIC_NAME.fullmatch(value):
            raise ConfigError(name, value, "a Kafka name: up to 249 of a-z A-Z 0-9 . _ -")
    earliest = values.get("earliest_event_time")
    if earliest is not None:
        try:
            parse_instant(str(earliest))
        except ValueError as exc:
            raise ConfigError("earliest_event_time", earliest,
                              f"{exc}; events stamped before it are dead-lettered "
                              f"(default {DEFAULT_EARLIEST_EVENT_TIME})") from None
        values["earliest_event_time"] = str(earliest)
    url = values.get("alertmanager_url")
    if url is not None and not url.startswith(("http://", "https://")):
        raise ConfigError("alertmanager_url", url,
                          "the Alertmanager base URL, e.g. http://alertmanager:9093")
    board = values.get("board_url")
    if board is not None and not board.startswith(("http://", "https://")):
        raise ConfigError("board_url", board,
                          "the board's public base URL, e.g. https://chatwatch.example.com")
    basic = values.get("board_basic_auth")
    if basic is not None and ":" not in basic:
        raise ConfigError("board_basic_auth", "***", "user:password")
    store = values.get("store")
    if store is not None and store not in ("memory://", "rocksdb://"):
        raise ConfigError("store", store, "use memory:// (tests) or rocksdb:// (production)")
    level = values.get("log_level")
    if level is not None and str(level).lower() not in ("debug", "info", "warning", "error"):
        raise ConfigError("log_level", level, "use debug, info, warning or error")


_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")

_HINTS = {
    "partitions": "the number of partitions of chat.events: a whole number of at least 1",
    "replication_factor": "copies the brokers keep of each topic partition: a whole number "
                          "from 1 to the number of brokers (1 for a single broker, 3 for a "
                          "production cluster; default 1)",
    "web_port": "a TCP port 0-65535 (0 picks a free one)",
    "check_concurrency": "POST /check requests served at a time, 1-1024 (default 8); more "
                         "are answered 429 with Retry-After",
    "check_processes": "processes that run POST /check's content checks, 1-64 (default 1)",
    "clock_skew_seconds": "seconds of producer clock skew to tolerate, 0-60 (default 0.5)",
    "max_future_seconds": "seconds an event may be stamped ahead of the worker's clock before "
                          "it is dead-lettered, 1-604800 (default 300)",
    "sweep_interval_seconds": "how often breaches are swept, 0.01-1 s (default 0.1)",
    "session_timeout_seconds": "Kafka consumer session timeout, 3-300 s (default 10)",
    "state_retention_hours": "hours of event time idle conversations are kept, 1-2160 "
                             "(default 48)",
    "state_max_live_orders": "orders per conversation kept whole while they can still change a "
                             "figure, 1-4096 (default 128; beyond, the oldest is settled and "
                             "counted)",
    "state_max_settled_orders": "settled orders per conversation remembered to spot repeats, "
                                "0-65536 (default 1024)",
    "state_max_days": "business days per conversation whose contributions its row keeps, "
                      "1-400 (default 32; keep it above state_retention_hours / 24 + 1)",
    "rebalance_timeout_seconds": "Kafka rebalance timeout, 2-600 s (default 6)",
    "alert_hold_seconds": "seconds an event alert stays firing before it resolves, 1-86400 "
                          "(default 300)",
    "log_check_seconds": "seconds between checks that the log read is still on the broker, "
                         "0.5-3600 (default 5)",
    "health_max_lag_seconds": "event lag in seconds beyond which /health says not ready, "
                              "1-86400 (default 60)",
    "metrics_max_shops": "shops with series of their own in /metrics, 1-100000 (default "
                         "500); the rest are folded into shop=\"_other\"",
    "metrics_max_agents": "(shop, agent) pairs with series of their own in /metrics, "
                          "1-1000000 (default 2000); the rest are folded into "
                          "agent=\"_other\"",
}


def _security(section: Mapping[str, Any], env: Mapping[str, str]) -> KafkaSecurity:
    values: dict[str, Any] = {}
    for key, value in section.items():
        if key not in KafkaSecurity.__dataclass_fields__:
            raise ConfigError(f"kafka.{key}", value, "unknown key; see README.md")
        values[key] = value
    for var, name in _ENV_SECURITY.items():
        if env.get(var):
            values[name] = env[var]
    security = KafkaSecurity(**values)
    if security.security_protocol not in _SECURITY_PROTOCOLS:
        raise ConfigError("KAFKA_SECURITY_PROTOCOL", security.security_protocol,
                          f"use one of {', '.join(sorted(_SECURITY_PROTOCOLS))}")
    if security.security_protocol.startswith("SASL"):
        if security.sasl_mechanism not in _SASL_MECHANISMS:
            raise ConfigError("KAFKA_SASL_MECHANISM", security.sasl_mechanism,
                              f"use one of {', '.join(sorted(_SASL_MECHANISMS))}")
        if not security.sasl_username or not security.sasl_password:
            raise ConfigError("KAFKA_SASL_USERNAME", security.sasl_username,
                              "SASL needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD")
    for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        value = getattr(security, name)
        if value and not Path(value).is_file():
            raise ConfigError(f"KAFKA_{name.upper()}", value, "no such file")
    return security


def _policy_overrides(where: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in POLICY_FIELDS:
            raise ConfigError(f"{where}.{key}", value,
                              f"unknown policy key; use one of {', '.join(sorted(POLICY_FIELDS))}")
        out[key] = _policy_value(f"{where}.{key}", key, value)
    return out


def _policy_value(where: str, key: str, value: Any) -> Any:
    default = getattr(Policy(), key)
    if isinstance(default, time):
        try:
            return time.fromisoformat(str(value))
        except ValueError as exc:
            raise ConfigError(where, value, "a local time such as 08:00") from exc
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(where, value, "true or false")
        return value
    if key == "content_mode":
        if value not in ("mention", "handover"):
            raise ConfigError(where, value, "mention (PDD rules) or handover")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(where, value, "a number")
    if isinstance(default, int) and value != int(value):
        raise ConfigError(where, value, "a whole number of seconds")
    if key == "reply_rate_target" and not 0 <= value <= 1:
        raise ConfigError(where, value, "a fraction between 0 and 1, e.g. 0.70")
    if key == "conversion_window_hours" and not 0 < value <= 24 * 90:
        raise ConfigError(where, value, "hours after a buyer's first wait of a day in which a "
                                        "payment converts that day, 0-2160 (default 24)")
    if key == "unpaid_reminder_minutes" and not 0 < value <= 60 * 24 * 90:
        raise ConfigError(where, value, "minutes after an order is created, unpaid, before it "
                                        "awaits payment (催付), 0-129600 (default 30)")
    if key == "unpaid_expiry_hours" and not 0 < value <= 24 * 90:
        raise ConfigError(where, value, "hours after an order is created until it no longer "
                                        "awaits payment, 0-2160 (default 24)")
    if key != "reply_rate_target" and value <= 0:
        raise ConfigError(where, value, "a positive number of seconds")
    return type(default)(value)


def _platforms(section: Mapping[str, Any]) -> dict[str, Policy]:
    platforms = dict(BUILTIN_POLICIES)
    for name, raw in section.items():
        if not isinstance(raw, Mapping):
            raise ConfigError(f"platforms.{name}", raw, "a mapping of policy keys")
        base = platforms.get(name, Policy())
        policy = replace(base, **_policy_overrides(f"platforms.{name}", raw))
        if policy.counted_from >= policy.counted_until:
            raise ConfigError(f"platforms.{name}.counted_until", policy.counted_until.isoformat(),
                              f"must be later than counted_from "
                              f"({policy.counted_from.isoformat()})")
        platforms[str(name)] = policy
    return platforms


def _check_timezone(where: str, name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(where, name, "an IANA time zone such as Asia/Shanghai") from exc


def _shops(section: Mapping[str, Any], default_timezone: str) -> dict[str, ShopProfile]:
    shops: dict[str, ShopProfile] = {}
    for shop_id, raw in section.items():
        where = f"shops.{shop_id}"
        if not isinstance(raw, Mapping):
            raise ConfigError(where, raw, "a mapping (timezone, platform, policy keys, supervisors)")
        raw = dict(raw)
        timezone = str(raw.pop("timezone", default_timezone))
        _check_timezone(f"{where}.timezone", timezone)
        platform = raw.pop("platform", None)
        supervisors = raw.pop("supervisors", []) or []
        if not isinstance(supervisors, list) or not all(isinstance(s, str) for s in supervisors):
            raise ConfigError(f"{where}.supervisors", supervisors, "a list of receiver URLs")
        shops[str(shop_id)] = ShopProfile(
            timezone=timezone,
            platform=str(platform) if platform else None,
            overrides=_policy_overrides(where, raw),
            supervisors=tuple(supervisors),
        )
    return shops


def _content(section: Mapping[str, Any], env: Mapping[str, str]) -> ContentSettings:
    words = section.get("words") or {}
    if not isinstance(words, Mapping):
        raise ConfigError("content.words", words, "a mapping of severity -> list of words")
    out: dict[str, tuple[str, ...]] = {}
    for severity, items in words.items():
        if severity not in ("critical", "warning", "info"):
            raise ConfigError(f"content.words.{severity}", items, "critical, warning or info")
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ConfigError(f"content.words.{severity}", items, "a list of strings")
        out[severity] = tuple(items)
    allow = section.get("allow") or []
    domains = section.get("platform_domains") or []
    for key, value in (("allow", allow), ("platform_domains", domains)):
        if not isinstance(value, list) or not all(isinstance(i, str) for i in value):
            raise ConfigError(f"content.{key}", value, "a list of strings")
    unknown = set(section) - {"words", "allow", "platform_domains", *_LIMITS}
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(f"content.{key}", section[key], "unknown key; see README.md")
    limits: dict[str, int] = {}
    for key, (low, high, hint) in _LIMITS.items():
        value = env.get(f"CHATWATCH_CONTENT_{key.upper()}") or section.get(key)
        if value is None:
            continue
        where = f"CHATWATCH_CONTENT_{key.upper()}" if env.get(
            f"CHATWATCH_CONTENT_{key.upper()}") else f"content.{key}"
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ConfigError(where, value, hint) from None
        if isinstance(value, bool) or not low <= number <= high:
            raise ConfigError(where, value, hint)
        limits[key] = number
    return ContentSettings(words=out, allow=tuple(allow), platform_domains=tuple(domains),
                           limits=GuardLimits(**limits))


# content.<key> / CHATWATCH_CONTENT_<KEY>: (lowest, highest, hint)
_LIMITS = {
    "per_category": (1, 1000, "findings kept per category of one message, 1-1000 "
                              "(default 20); the rest are counted"),
    "budget_chars": (1000, 1_000_000, "characters of one message checked, 1000-1000000 "
                                      "(default 20000); longer texts are flagged oversized"),
    "text_chars": (100, 20_000, "characters of masked text a violation record carries, "
                                "100-20000 (default 2000)"),
}
