"""Configuration is validated at start-up; every error names the bad key and value."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Any

import pytest

from stream.config import load_settings, settings_from_mapping
from stream.errors import ConfigError


def _error(doc: dict[str, Any] | None = None, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        settings_from_mapping(doc or {}, env or {})
    return info.value


BAD_ENV = [
    ("CHATWATCH_PARTITIONS", "eight"),
    ("CHATWATCH_WEB_PORT", "http"),
    ("CHATWATCH_CLOCK_SKEW_SECONDS", "half"),
    ("CHATWATCH_SESSION_TIMEOUT_SECONDS", "10s"),
    ("CHATWATCH_REPLICATION_FACTOR", "three"),
]


@pytest.mark.parametrize(("var", "value"), BAD_ENV)
def test_unparsable_environment_values_name_the_variable(var: str, value: str) -> None:
    err = _error(env={var: value})
    assert err.key == var
    assert err.value == value
    assert var in str(err) and repr(value) in str(err)


BAD_ENV_RANGES = [
    ("CHATWATCH_PARTITIONS", "0"),
    ("CHATWATCH_REPLICATION_FACTOR", "0"),
    ("CHATWATCH_REPLICATION_FACTOR", "-3"),
    ("CHATWATCH_WEB_PORT", "70000"),
    ("CHATWATCH_CLOCK_SKEW_SECONDS", "-1"),
    ("CHATWATCH_CLOCK_SKEW_SECONDS", "61"),
    ("CHATWATCH_SWEEP_INTERVAL_SECONDS", "0"),
    ("CHATWATCH_SWEEP_INTERVAL_SECONDS", "5"),
    ("CHATWATCH_SESSION_TIMEOUT_SECONDS", "1"),
    ("CHATWATCH_REBALANCE_TIMEOUT_SECONDS", "1000"),
    ("CHATWATCH_STORE", "redis://"),
    ("CHATWATCH_LOG_LEVEL", "loud"),
    ("KAFKA_BROKER", "localhost:9092"),
    ("KAFKA_BROKER", "kafka://"),
    ("CHATWATCH_ALERTMANAGER_URL", "alertmanager:9093"),
    ("CHATWATCH_APP_ID", "chat watch"),
]


@pytest.mark.parametrize(("var", "raw"), BAD_ENV_RANGES)
def test_out_of_range_environment_values_name_the_variable(var: str, raw: str) -> None:
    err = _error(env={var: raw})
    assert err.key == var  # the variable the operator set, not the internal field name
    assert raw in str(err.value)
    assert err.fix  # says how to fix it


def test_same_value_in_the_file_names_the_file_key() -> None:
    assert _error({"partitions": 0}).key == "partitions"
    assert _error(env={"CHATWATCH_TIMEZONE": "Mars/Olympus"}).key == "default_timezone"


BAD_FILE = [
    ({"partitons": 8}, "partitons"),  # a typo is not silently ignored
    ({"partitions": "8"}, "partitions"),
    ({"partitions": True}, "partitions"),
    ({"partitions": 2.5}, "partitions"),
    ({"web_port": -1}, "web_port"),
    ({"replication_factor": 0}, "replication_factor"),
    ({"replication_factor": "3"}, "replication_factor"),
    ({"replication_factor": 2.5}, "replication_factor"),
    ({"replication_factor": True}, "replication_factor"),
    ({"events_topic": ""}, "events_topic"),
    ({"events_topic": 5}, "events_topic"),
    ({"dlq_topic": "dead letters!"}, "dlq_topic"),
    ({"violations_topic": "x" * 250}, "violations_topic"),
    ({"app_id": None, "data_dir": ["a"]}, "data_dir"),
    ({"platforms": {"pdd": {"window_seconds": -5}}}, "platforms.pdd.window_seconds"),
    ({"platforms": {"pdd": {"window_seconds": 0.5}}}, "platforms.pdd.window_seconds"),
    ({"platforms": {"pdd": {"window_seconds": "300"}}}, "platforms.pdd.window_seconds"),
    ({"platforms": {"pdd": {"reply_rate_target": 1.5}}}, "platforms.pdd.reply_rate_target"),
    ({"platforms": {"pdd": {"counted_from": "25:00"}}}, "platforms.pdd.counted_from"),
    ({"platforms": {"pdd": {"counted_from": "23:30"}}}, "platforms.pdd.counted_until"),
    ({"platforms": {"pdd": {"bot_replies_close_wait": "yes"}}},
     "platforms.pdd.bot_replies_close_wait"),
    ({"platforms": {"pdd": {"content_mode": "strict"}}}, "platforms.pdd.content_mode"),
    ({"platforms": {"pdd": {"window": 300}}}, "platforms.pdd.window"),
    ({"platforms": {"jd": 300}}, "platforms.jd"),
    ({"shops": {"s1": {"timezone": "Asia/Nowhere"}}}, "shops.s1.timezone"),
    ({"shops": {"s1": {"supervisors": "http://x"}}}, "shops.s1.supervisors"),
    ({"shops": {"s1": {"slow_threshold_seconds": 0}}}, "shops.s1.slow_threshold_seconds"),
    ({"shops": {"s1": "pdd"}}, "shops.s1"),
    ({"content": {"words": {"critical": "微信"}}}, "content.words.critical"),
    ({"content": {"words": {"urgent": ["x"]}}}, "content.words.urgent"),
    ({"content": {"allow": "95188"}}, "content.allow"),
    ({"kafka": {"sasl_passwd": "x"}}, "kafka.sasl_passwd"),
]


@pytest.mark.parametrize(("doc", "key"), BAD_FILE)
def test_bad_file_values_name_the_key(doc: dict[str, Any], key: str) -> None:
    err = _error(doc)
    assert err.key == key
    assert str(err).startswith(f"bad configuration {key}=")


BAD_SECURITY = [
    ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "KAFKA_SASL_MECHANISM"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "GSSAPI"},
     "KAFKA_SASL_MECHANISM"),
    ({"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "PLAIN",
      "KAFKA_SASL_USERNAME": "svc"}, "KAFKA_SASL_USERNAME"),
    ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": "/nonexistent/ca.pem"},
     "KAFKA_SSL_CAFILE"),
]


@pytest.mark.parametrize(("env", "key"), BAD_SECURITY)
def test_bad_kafka_security_settings(env: dict[str, str], key: str) -> None:
    assert _error(env=env).key == key


def test_password_never_shown_in_settings_repr() -> None:
    env = {"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "PLAIN",
           "KAFKA_SASL_USERNAME": "svc", "KAFKA_SASL_PASSWORD": "hunter2",
           "CHATWATCH_CHECK_TOKEN": "s3cret"}
    settings = settings_from_mapping({}, env)
    assert settings.security.sasl_password == "hunter2"
    assert "hunter2" not in repr(settings)
    assert "s3cret" not in repr(settings)


def test_good_values_and_precedence(tmp_path: Path) -> None:
    path = tmp_path / "chatwatch.yml"
    path.write_text("partitions: 12\nweb_port: 7000\nevents_topic: shop.chat-events_v2\n"
                    "platforms:\n  pdd:\n    window_seconds: 180\n    counted_from: '09:00'\n"
                    "shops:\n  s1:\n    timezone: Europe/Berlin\n    reply_rate_target: 0.8\n",
                    encoding="utf-8")
    settings = load_settings(path, environ={"CHATWATCH_WEB_PORT": "7100",
                                            "CHATWATCH_CLOCK_SKEW_SECONDS": "2"})
    assert settings.partitions == 12
    assert settings.web_port == 7100  # the environment wins over the file
    assert settings.clock_skew_seconds == 2.0
    assert settings.events_topic == "shop.chat-events_v2"
    pdd = settings.policies.platforms["pdd"]
    assert pdd.window_seconds == 180 and pdd.counted_from == time(9, 0)
    assert settings.policies.shops["s1"].overrides == {"reply_rate_target": 0.8}


def test_integer_seconds_in_the_file_become_floats() -> None:
    settings = settings_from_mapping({"session_timeout_seconds": 4}, {})
    assert settings.session_timeout_seconds == 4.0
    assert isinstance(settings.session_timeout_seconds, float)


def test_replication_factor_default_file_and_environment(tmp_path: Path) -> None:
    assert settings_from_mapping({}, {}).replication_factor == 1
    assert settings_from_mapping({"replication_factor": 3}, {}).replication_factor == 3
    path = tmp_path / "chatwatch.yml"
    path.write_text("replication_factor: 2\n", encoding="utf-8")
    assert load_settings(path, environ={}).replication_factor == 2
    settings = load_settings(path, environ={"CHATWATCH_REPLICATION_FACTOR": "3"})
    assert settings.replication_factor == 3  # the environment wins over the file
    err = _error(env={"CHATWATCH_REPLICATION_FACTOR": "0"})
    assert "number of brokers" in err.fix


def test_replication_factor_reaches_faust_internal_topics() -> None:
    from agents.app import create_app

    settings = settings_from_mapping({"replication_factor": 3}, {})
    app = create_app(settings, "kafka://localhost:9092").app
    assert app.conf.topic_replication_factor == 3
    # faust creates the changelog with the topic's own replicas, else the app's setting
    changelog = app.tables["conversations"].changelog_topic
    assert (changelog.replicas or app.conf.topic_replication_factor) == 3


def test_empty_environment_values_mean_unset() -> None:
    settings = settings_from_mapping({}, {"CHATWATCH_PARTITIONS": "", "KAFKA_BROKER": ""})
    assert settings.partitions == 8 and settings.broker is None


@pytest.mark.parametrize(("text", "fix"), [
    ("partitions: [8\n", "not valid YAML"),
    ("- a\n- b\n", "mapping at top level"),
])
def test_bad_config_files(tmp_path: Path, text: str, fix: str) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert info.value.key == "CHATWATCH_CONFIG" and fix in str(info.value)


def test_missing_config_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yml"
    with pytest.raises(ConfigError) as info:
        load_settings(environ={"CHATWATCH_CONFIG": str(missing)})
    assert info.value.key == "CHATWATCH_CONFIG"
    assert str(missing) in str(info.value)


def test_a_command_line_override_is_checked_like_the_configuration() -> None:
    from click.testing import CliRunner

    from stream.cli import cli
    from stream.errors import ConfigError

    settings = load_settings(environ={})
    with pytest.raises(ConfigError, match="partitions=0"):
        settings.with_overrides(partitions=0)
    with pytest.raises(ConfigError, match="web_port"):
        settings.with_overrides(web_port=70000)
    assert settings.with_overrides(partitions=4).partitions == 4
    result = CliRunner().invoke(cli, ["worker", "--partitions", "0"])
    assert isinstance(result.exception, ConfigError) and "partitions=0" in str(result.exception)
