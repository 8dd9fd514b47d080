"""The domain core compiled with mypyc, beside its pure-Python source (issue 19).

    python -m stream.native build     # compile stream/core into stream/core/_native/
    python -m stream.native status    # which core this interpreter imports, and why
    python -m stream.native clean     # remove the compiled core

The core is typed under ``mypy --strict``, so mypyc compiles it as it is: same modules, same
names, C extensions instead of bytecode. The build goes to ``stream/core/_native/`` with a
manifest of the source hashes it was built from; ``stream.core`` puts that folder ahead of its
own only while every hash still matches (``stream.core.native_status``). An edited source,
another Python, a missing compiler at install time or ``CHATWATCH_PURE_PYTHON=1`` all give
the pure-Python core, which is the reference: both run the same tests
(``tests/unit/test_native.py``).

Not compiled: the package ``__init__`` files (they choose the implementation),
``stream/core/rows.py`` (msgspec reads the row types' annotations to decode changelog rows,
and a compiled class keeps only their erased forms), the table generator under ``data/``, and
the modules that write ints into rows, ``reply_window.py``, ``orders.py`` and ``unpaid.py``
(an order's reminder state and day). Compiled
code holds ints unboxed and boxes a new object each time it stores one in a row, so the day
numbers every open conversation shares (``reply_window._day_number``, the inquiry marks) would
be copies: +163 bytes per open conversation in-process with them compiled (785 against 622
pure), +35 without them (657); they cost 3 of the 11.5 us per event that compiling saves.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import click

import stream.core
from stream.core import MANIFEST, NATIVE_DIR, NOT_COMPILED, SOURCE_ROOT, source_hashes

GROUP = "stream.core._native.lib"  # the shared library: stream/core/_native/lib__mypyc.*.so


def compiled_sources() -> list[Path]:
    """The core's modules that mypyc compiles, in a stable order."""
    return sorted(p for p in SOURCE_ROOT.rglob("*.py")
                  if p.relative_to(SOURCE_ROOT).as_posix() not in NOT_COMPILED
                  and p.name != "__init__.py" and "data" not in p.relative_to(SOURCE_ROOT).parts)


def build(jobs: int | None = None, verbose: bool = False) -> Path:
    """Compile the core into ``NATIVE_DIR`` (replacing what was there); return it."""
    from mypyc.build import mypycify  # mypy ships mypyc; imported here: only a build needs it
    from setuptools import Distribution
    from setuptools.command.build_ext import build_ext

    sources = compiled_sources()
    hashes = source_hashes()
    with tempfile.TemporaryDirectory(prefix="chatwatch-native-") as tmp:
        work = Path(tmp)
        here = os.getcwd()
        os.chdir(work)  # mypy's cache and the generated C stay in the temporary folder
        try:
            extensions = mypycify(["--ignore-missing-imports", *map(str, sources)],
                                  opt_level="3", multi_file=True,
                                  group_name=GROUP, target_dir=str(work / "c"),
                                  verbose=verbose)
            for ext in extensions:  # the group's headers are generated beside its library
                ext.include_dirs.append(str(work / "c" / Path(*GROUP.split(".")[:-1])))
            command = build_ext(Distribution({"name": "chatwatch-native",
                                              "ext_modules": extensions}))
            command.build_lib = str(work / "lib")
            command.build_temp = str(work / "tmp")
            command.parallel = jobs or os.cpu_count() or 1
            command.ensure_finalized()
            command.run()
        finally:
            os.chdir(here)
        built = work / "lib" / "stream" / "core"
        clean()
        NATIVE_DIR.mkdir()
        for so in built.rglob("*.so"):
            rel = so.relative_to(built)
            # stream/core/_native/lib__mypyc.so is the shared library; the rest are the
            # modules, laid out as stream/core is.
            dest = NATIVE_DIR / (rel.relative_to("_native") if rel.parts[0] == "_native" else rel)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(so, dest)
    (NATIVE_DIR / MANIFEST).write_text(json.dumps({
        "python": sys.implementation.cache_tag,
        "sources": hashes,
    }, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return NATIVE_DIR


def clean() -> None:
    """Remove the compiled core (the pure-Python one is used from then on)."""
    shutil.rmtree(NATIVE_DIR, ignore_errors=True)


@click.group()
def main() -> None:
    """The compiled core: build, status, clean."""


@main.command("build")
@click.option("--jobs", type=int, default=None, help="C compiler processes (default: cores)")
@click.option("--verbose", is_flag=True)
@click.option("--if-possible", is_flag=True,
              help="On a machine without a C compiler or mypyc, say so and exit 0: the pure-"
                   "Python core is used.")
def build_command(jobs: int | None, verbose: bool, if_possible: bool) -> None:
    """Compile stream/core with mypyc into stream/core/_native/."""
    try:
        where = build(jobs, verbose)
    except Exception as exc:  # noqa: BLE001 - any build failure means "pure Python"
        if not if_possible:
            raise
        clean()
        click.echo(f"compiled core not built ({type(exc).__name__}: {exc}); chatwatch runs its "
                   f"pure-Python core. To compile it: install gcc and the Python headers, "
                   f"then run python -m stream.native build", err=True)
        return
    n = len(compiled_sources())
    click.echo(f"compiled {n} core modules into {where.relative_to(SOURCE_ROOT.parent.parent)}")


@main.command("status")
def status_command() -> None:
    """Say which core this interpreter imports (compiled or pure Python) and why."""
    click.echo(stream.core.native_status())


@main.command("clean")
def clean_command() -> None:
    """Remove the compiled core."""
    clean()


if __name__ == "__main__":
    main()
