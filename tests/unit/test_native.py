"""The compiled core (stream/native.py): used when it matches the sources, and the same code.

``make test`` builds it (``make native``) before the suite runs, so the suite tests what a
worker runs; these tests check that it is in use, that it gives exactly what the pure-Python
core gives on a whole backfill, and that a stale or foreign build is never imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import stream.core
import stream.core.content.detector
import stream.core.engine
from bench.gen_log import write_log


def test_the_suite_runs_the_compiled_core_that_make_builds() -> None:
    if os.environ.get("CHATWATCH_PURE_PYTHON"):
        assert not stream.core.NATIVE
        return
    assert stream.core.NATIVE, (f"{stream.core.native_status()}: `make test` compiles the core "
                                f"first; after editing it by hand run `make native`")
    for module in (stream.core.engine, stream.core.content.detector):
        assert Path(module.__file__ or "").suffix == ".so", module
        assert Path(module.__file__ or "").is_relative_to(stream.core.NATIVE_DIR)


def _backfill(log: Path, out: Path, pure: bool) -> dict[str, bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATWATCH_")}
    if pure:
        env["CHATWATCH_PURE_PYTHON"] = "1"
    out.mkdir()
    files = {"report": "daily.jsonl", "kpi": "kpi.jsonl", "breaches": "breaches.jsonl",
             "violations": "violations.jsonl", "metrics": "metrics.om"}
    proc = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "stream", "backfill", "--input", str(log), "--by", "agent",
         "--violations", "--report", files["report"], "--kpi-report", files["kpi"],
         "--breach-records", files["breaches"], "--violation-records", files["violations"],
         "--openmetrics", files["metrics"], "--no-progress"],
        cwd=out, env=env, capture_output=True, timeout=300, check=True)
    status = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "stream.native", "status"], env=env, capture_output=True,
        timeout=60, check=True).stdout.decode()
    return {"stderr": proc.stderr, "status": status.encode(),
            **{k: (out / name).read_bytes() for k, name in files.items()}}


def test_compiled_and_pure_cores_backfill_a_log_byte_for_byte_alike(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    write_log(str(log), 30_000, seed=7, orders=0.45)
    compiled = _backfill(log, tmp_path / "compiled", pure=False)
    pure = _backfill(log, tmp_path / "pure", pure=True)
    assert pure.pop("status").startswith(b"core: pure Python")
    expected = b"core: pure" if os.environ.get("CHATWATCH_PURE_PYTHON") else b"core: compiled"
    assert compiled.pop("status").startswith(expected)
    for name in pure:
        assert compiled[name] == pure[name], name
    assert pure["breaches"].count(b"\n") > 100 and pure["violations"].count(b"\n") > 10
    assert pure["report"].count(b"\n") > 10 and b"rows written" in pure["stderr"]


@pytest.fixture
def build_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(stream.core, "NATIVE_DIR", tmp_path)
    monkeypatch.delenv("CHATWATCH_PURE_PYTHON", raising=False)
    return tmp_path


def _manifest(where: Path, **fields: object) -> None:
    data = {"python": sys.implementation.cache_tag, "sources": stream.core.source_hashes()}
    (where / stream.core.MANIFEST).write_text(json.dumps({**data, **fields}), encoding="utf-8")


def test_a_build_of_the_current_sources_for_this_python_is_used(build_dir: Path) -> None:
    _manifest(build_dir)
    assert stream.core._why_not_native() is None


def test_a_stale_foreign_or_missing_build_is_not_used(build_dir: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    assert "not built" in (stream.core._why_not_native() or "")
    stale = dict(stream.core.source_hashes(), **{"engine.py": "0" * 64})
    _manifest(build_dir, sources=stale)
    assert "sources changed" in (stream.core._why_not_native() or "")
    _manifest(build_dir, python="cpython-99")
    assert "built for cpython-99" in (stream.core._why_not_native() or "")
    (build_dir / stream.core.MANIFEST).write_text("{", encoding="utf-8")
    assert "unreadable" in (stream.core._why_not_native() or "")
    _manifest(build_dir)
    monkeypatch.setenv("CHATWATCH_PURE_PYTHON", "1")
    assert "CHATWATCH_PURE_PYTHON" in (stream.core._why_not_native() or "")


def test_every_core_source_is_in_the_hashes_a_build_is_checked_against() -> None:
    hashes = stream.core.source_hashes()
    sources = {p.relative_to(stream.core.SOURCE_ROOT).as_posix()
               for p in stream.core.SOURCE_ROOT.rglob("*.py") if "_native" not in p.parts}
    assert set(hashes) == sources and {"engine.py", "rows.py", "content/detector.py"} <= sources
