"""Fixtures for the alerting tests; the process helpers themselves live in ``alerts.local``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alerts.local import Running, run_prometheus

needs_prometheus = pytest.mark.requires_tools("prometheus")
needs_alertmanager = pytest.mark.requires_tools("alertmanager")


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """An empty Prometheus (no targets) for checking that queries parse."""
    workdir: Path = tmp_path_factory.mktemp("prometheus")
    with run_prometheus(workdir) as server:
        yield server
