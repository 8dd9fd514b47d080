"""A busy port is one line that says which setting and how to pick another, not a traceback."""

from __future__ import annotations

import socket

import pytest
from click.testing import CliRunner

from stream.cli import cli
from stream.errors import ConfigError
from stream.listen import check_listen


@pytest.fixture
def busy_port():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        yield busy.getsockname()[1]


def test_a_port_in_use_names_the_port_setting_and_the_fix(busy_port: int) -> None:
    with pytest.raises(ConfigError) as caught:
        check_listen("127.0.0.1", busy_port)
    message = str(caught.value)
    assert f"CHATWATCH_WEB_PORT={busy_port}" in message and "in use" in message
    assert "--web-port" in message and "\n" not in message


def test_worker_on_a_busy_port_stops_before_starting_anything(busy_port: int) -> None:
    result = CliRunner().invoke(cli, ["worker", "--web-port", str(busy_port)],
                                env={"CHATWATCH_CONFIG": "", "KAFKA_BROKER": "",
                                     "CHATWATCH_WEB_HOST": "127.0.0.1"})
    assert isinstance(result.exception, ConfigError)
    assert f"port {busy_port} is in use" in str(result.exception)
