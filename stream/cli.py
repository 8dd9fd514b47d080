"""The ``chatwatch`` command line."""

from __future__ import annotations

import logging
import sys

import click

from stream.config import Settings, load_settings
from stream.errors import ChatwatchError


class Context:
    """What every sub-command receives: validated settings, loaded lazily."""

    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        """The validated settings; a bad configuration stops the command with a clear message."""
        if self._settings is None:
            self._settings = load_settings(self.config_path)
        return self._settings


@click.group()
@click.option("--config", "config_path", envvar="CHATWATCH_CONFIG", type=click.Path(),
              help="YAML configuration file (also CHATWATCH_CONFIG).")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """chatwatch: reply-window and forbidden-content monitoring for customer-service chat."""
    ctx.obj = Context(config_path)


def main() -> None:
    """Console-script entry point: chatwatch errors become one clear line and exit code 2."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cli(standalone_mode=True)
    except ChatwatchError as exc:
        click.echo(f"chatwatch: {exc}", err=True)
        sys.exit(2)


# --- sub-commands: each lives in its own module and is registered here ---------------------
def _register() -> None:
    from stream.backfill import backfill_command

    cli.add_command(backfill_command)
    from agents.worker import broker_command, worker_command

    cli.add_command(worker_command)
    cli.add_command(broker_command)
    from stream.check import check

    cli.add_command(check)
    from alerts.amconfig import alertmanager_config
    cli.add_command(alertmanager_config)
    from alerts.pager.server import pager
    cli.add_command(pager)
    from stream.simulate import simulate_command
    cli.add_command(simulate_command)
    from stream.replay import replay_command
    cli.add_command(replay_command)
    from stream.run import run_command
    cli.add_command(run_command)
    from stream.board import board_command
    cli.add_command(board_command)
    from stream.plan import plan_command
    cli.add_command(plan_command)
    from stream.dsr import dsr_command
    cli.add_command(dsr_command)


_register()
