"""The domain core: pure Python, optionally compiled with mypyc (``python -m stream.native``).

When ``_native/`` holds a build whose manifest matches every source here (and this Python),
its folder goes first on this package's path, so ``stream.core.engine`` and the rest import
as C extensions; otherwise, or with ``CHATWATCH_PURE_PYTHON=1``, the sources here are used.
Both are the same code: the compiled one is only faster. ``native_status()`` says which.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

SOURCE_ROOT = Path(__file__).parent
NATIVE_DIR = SOURCE_ROOT / "_native"
MANIFEST = "manifest.json"
# Left as Python (stream/native.py says why): the row types, and the modules writing ints into rows.
NOT_COMPILED = frozenset({"rows.py", "reply_window.py", "orders.py", "unpaid.py"})


def source_hashes() -> dict[str, str]:
    """SHA-256 of every source of the core, by path relative to the package."""
    return {p.relative_to(SOURCE_ROOT).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(SOURCE_ROOT.rglob("*.py")) if "_native" not in p.parts}


def _why_not_native() -> str | None:
    """None when the compiled core can be used, else the reason it is not."""
    if os.environ.get("CHATWATCH_PURE_PYTHON", "") not in ("", "0"):
        return "CHATWATCH_PURE_PYTHON is set"
    try:
        manifest = json.loads((NATIVE_DIR / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "not built (python -m stream.native build)"
    except (OSError, ValueError) as exc:
        return f"unreadable build manifest ({exc}); rebuild: python -m stream.native build"
    if manifest.get("python") != sys.implementation.cache_tag:
        return (f"built for {manifest.get('python')}, this is {sys.implementation.cache_tag}; "
                f"rebuild: python -m stream.native build")
    if manifest.get("sources") != source_hashes():
        return "the sources changed since the build; rebuild: python -m stream.native build"
    return None


_REASON = _why_not_native()
NATIVE = _REASON is None
if NATIVE:
    __path__.insert(0, str(NATIVE_DIR))


def native_status() -> str:
    """One line: which core is imported, and why not the compiled one when it is not."""
    if NATIVE:
        return f"core: compiled (mypyc, {NATIVE_DIR})"
    return f"core: pure Python ({_REASON})"
