"""The reply-window core reads no clock: time only comes in as an argument (STYLE.md §2).

Import purity (no faust, Kafka or Prometheus) is checked in ``tests/unit/content``; this adds
the other half: no wall-clock or local-time call anywhere in ``stream/core``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import stream.core

CORE = Path(stream.core.__file__).parent
CLOCK_CALLS = {"now", "utcnow", "today", "time", "time_ns", "monotonic", "monotonic_ns",
               "perf_counter", "localtime", "gmtime"}
CLOCK_MODULES = {"time", "datetime", "date", "dt", "_time"}


def _clock_calls(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "time":
            found += [f"{path.name}:{node.lineno}: from time import ..."]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
            if node.func.attr in CLOCK_CALLS and name in CLOCK_MODULES:
                found.append(f"{path.name}:{node.lineno}: {name}.{node.func.attr}()")
    return found


def test_core_reads_no_clock() -> None:
    files = [p for p in CORE.rglob("*.py") if p.name != "generate_tables.py"]
    assert {p.name for p in files} >= {"reply_window.py", "engine.py", "figures.py", "policy.py"}
    assert [hit for p in files for hit in _clock_calls(p)] == []


def test_the_check_sees_a_clock_call(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import time\nfrom datetime import datetime\n"
                     "a = time.time()\nb = datetime.now()\n", encoding="utf-8")
    assert len(_clock_calls(probe)) == 2
