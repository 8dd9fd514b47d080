"""``stream.core`` must stay pure: no faust, Kafka or Prometheus, no heavy table libraries."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("faust", "aiokafka", "prometheus_client", "mode", "pypinyin", "opencc")


def test_core_imports_no_driver_libraries() -> None:
    code = (
        "import sys, importlib, pkgutil, stream.core\n"
        "for m in pkgutil.walk_packages(stream.core.__path__, 'stream.core.'):\n"
        "    if not m.name.endswith('generate_tables'): importlib.import_module(m.name)\n"
        f"bad = [n for n in sys.modules if n.split('.')[0] in {FORBIDDEN!r}]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
