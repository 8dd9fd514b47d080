"""A misspelt platform is an error naming the known ones, never the default rules in silence."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from stream.cli import cli
from stream.config import settings_from_mapping
from stream.errors import ConfigError


@pytest.mark.parametrize(("doc", "env", "key"), [
    ({"default_platform": "pinduoduo"}, {}, "default_platform"),
    ({}, {"CHATWATCH_DEFAULT_PLATFORM": "pinduoduo"}, "CHATWATCH_DEFAULT_PLATFORM"),
    ({"shops": {"s1": {"platform": "pinduoduo"}}}, {}, "shops.s1.platform"),
])
def test_an_unknown_platform_in_the_configuration_stops_start_up(doc, env, key):
    with pytest.raises(ConfigError) as caught:
        settings_from_mapping(doc, env)
    assert caught.value.key == key
    message = str(caught.value)
    assert "unknown platform 'pinduoduo'" in message
    assert "douyin, jd, kuaishou, pdd, taobao" in message


def test_a_platform_defined_in_the_configuration_is_known():
    settings = settings_from_mapping({"platforms": {"xhs": {"window_seconds": 120}},
                                      "shops": {"s1": {"platform": "xhs"}},
                                      "default_platform": "taobao"}, {})
    assert "xhs" in settings.known_platforms
    assert settings.platform_problem("xhs") is None
    assert "known platforms" in (settings.platform_problem("pinduoduo") or "")


def test_check_refuses_an_unknown_platform():
    result = CliRunner().invoke(cli, ["check", "--platform", "pinduoduo"], input="在吗\n",
                                env={"CHATWATCH_CONFIG": ""})
    assert result.exit_code == 2
    assert "unknown platform 'pinduoduo'" in result.output and "pdd" in result.output
    ok = CliRunner().invoke(cli, ["check", "--platform", "pdd"], input="加我微信abc123\n",
                            env={"CHATWATCH_CONFIG": ""})
    assert ok.exit_code == 0 and "wechat" in ok.stdout
