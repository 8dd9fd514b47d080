"""The Dockerfile and .dockerignore, checked by reading them (no Docker engine here)."""

from __future__ import annotations

import fnmatch
import json
import re

from tests.deploy.conftest import REPO, SECRET_NAME

DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")


def instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs, continuation lines joined, comments dropped."""
    lines = [ln for ln in DOCKERFILE.splitlines() if not ln.lstrip().startswith("#")]
    text = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in text.splitlines():
        if line.strip():
            keyword, _, args = line.strip().partition(" ")
            out.append((keyword.upper(), " ".join(args.split())))
    return out


def dockerignore() -> list[str]:
    text = (REPO / ".dockerignore").read_text(encoding="utf-8")
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def ignored(path: str) -> bool:
    """Whether .dockerignore keeps ``path`` (or a directory above it) out of the context."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for pattern in dockerignore():
        if pattern.startswith("**/"):
            # **/P matches P at any depth.
            tails = ["/".join(parts[i:j]) for i in range(len(parts))
                     for j in range(i + 1, len(parts) + 1)]
            if any(fnmatch.fnmatch(t, pattern[3:]) for t in tails):
                return True
        elif any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes):
            return True
    return False


def test_every_stage_uses_python_311_slim() -> None:
    stages = [args for keyword, args in instructions() if keyword == "FROM"]
    assert stages and all(s.split()[0] == "python:3.11-slim" for s in stages)


def test_installs_the_project_with_rocksdb() -> None:
    runs = " ".join(args for keyword, args in instructions() if keyword == "RUN")
    assert re.search(r"pip install [^&]*\"\.\[rocksdb\]\"", runs)


def test_runs_as_a_non_root_user_with_chatwatch_as_entrypoint() -> None:
    steps = instructions()
    final = steps[max(i for i, (k, _) in enumerate(steps) if k == "FROM"):]
    users = [args for keyword, args in final if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    (entrypoint,) = [json.loads(args) for keyword, args in final if keyword == "ENTRYPOINT"]
    assert entrypoint == ["chatwatch"]
    (cmd,) = [json.loads(args) for keyword, args in final if keyword == "CMD"]
    assert cmd == ["worker"]


def test_state_directory_is_a_volume_owned_by_the_user() -> None:
    steps = instructions()
    env = " ".join(args for keyword, args in steps if keyword == "ENV")
    data_dir = re.search(r"CHATWATCH_DATA_DIR=(\S+)", env).group(1)
    (volume,) = [json.loads(args) for keyword, args in steps if keyword == "VOLUME"]
    assert volume == [data_dir]
    assert re.search(rf"chown 10001:10001 {re.escape(data_dir)}", DOCKERFILE)


def test_no_secret_is_baked_into_the_image() -> None:
    for keyword, args in instructions():
        if keyword in ("ENV", "ARG", "LABEL"):
            for name in re.findall(r"([A-Za-z_][A-Za-z0-9_.-]*)=", args):
                assert not SECRET_NAME.search(name), f"{keyword} {name} would bake a secret"


def test_copied_sources_exist_and_are_not_ignored() -> None:
    for keyword, args in instructions():
        if keyword == "COPY" and "--from=" not in args:
            for source in args.split()[:-1]:
                assert (REPO / source).exists(), f"COPY {source}: no such file"
                assert not ignored(source), f"COPY {source} is excluded by .dockerignore"


def test_build_context_leaves_out_local_state_and_secrets() -> None:
    for path in (".git", ".venv", "data", "deploy/.env", ".env", "tests", "x/__pycache__"):
        assert ignored(path), f"{path} would be sent to the Docker build"


def test_the_image_ships_the_compiled_core_built_with_the_pinned_mypy() -> None:
    runs = " ".join(args for keyword, args in instructions() if keyword == "RUN")
    build = runs.index("-m stream.native build")
    assert runs.index("pip install") < build < runs.index('stream.native status | grep -q "^core: compiled"')
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    (pin,) = re.findall(r'"(mypy==[^"]+)"', pyproject)
    assert f'"{pin}"' in runs  # mypyc is the one the tests ran against
    assert re.search(r"apt-get install [^&]*\bgcc\b", runs)


def test_the_image_builds_the_engine_crate_before_the_project() -> None:
    runs = " ".join(args for keyword, args in instructions() if keyword == "RUN")
    copies = [args for keyword, args in instructions() if keyword == "COPY"]
    assert "engine ./engine" in copies
    assert ignored("engine/target/release/x") and not ignored("engine/src/lib.rs")
    built = runs.index("pip install ./engine")
    assert runs.index("sh.rustup.rs") < built < runs.index('".[rocksdb]"')
    assert 'python -c "import chatwatch_engine"' in runs
