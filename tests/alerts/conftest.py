"""Fixtures for the alerting tests; the process helpers themselves live in ``alerts.testing``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alerts.testing import Running, have_tool, run_prometheus

needs_prometheus = pytest.mark.skipif(not have_tool("prometheus"),
                                      reason="prometheus not installed (make tools)")
needs_alertmanager = pytest.mark.skipif(not have_tool("alertmanager"),
                                        reason="alertmanager not installed (make tools)")


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """An empty Prometheus (no targets) for checking that queries parse."""
    workdir: Path = tmp_path_factory.mktemp("prometheus")
    with run_prometheus(workdir) as server:
        yield server
