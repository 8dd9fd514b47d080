"""The errors chatwatch raises. Each says what is wrong and how to fix it."""

from __future__ import annotations


class ChatwatchError(Exception):
    """Root of every error chatwatch raises on purpose."""


class ConfigError(ChatwatchError):
    """A configuration key has a bad value: fix the named key in the file or environment."""

    def __init__(self, key: str, value: object, fix: str) -> None:
        self.key = key
        self.value = value
        self.fix = fix
        super().__init__(f"bad configuration {key}={value!r}: {fix}")


class BrokerError(ChatwatchError):
    """The Kafka broker cannot be started or reached: the message names the address and the fix."""


class InputError(ChatwatchError):
    """An input file cannot be read (replay, backfill): the message names the file and line."""
