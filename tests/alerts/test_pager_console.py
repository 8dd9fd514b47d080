"""The pager bridge's ``console`` target: notices written to a file, deduplicated like robots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from alerts.errors import PagerConfigError
from alerts.pager import create_app, load_pager_config
from tests.alerts.test_pager import LINE, TITLE, TOKEN, payload

NOW = 1_700_000_000.5   # 2023-11-15 06:13:20 +08:00


def test_console_target_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "pager.yml"
    path.write_text("token: t\ntargets:\n  - {name: local, kind: console, path: notices.log}\n"
                    "  - {name: out, kind: console}\n", encoding="utf-8")
    config = load_pager_config(path, environ={})
    local, out = config.targets
    assert (local.kind, local.path, local.url) == ("console", "notices.log", "")
    assert out.path is None


def test_console_path_must_be_text(tmp_path: Path) -> None:
    path = tmp_path / "pager.yml"
    path.write_text("token: t\ntargets:\n  - {kind: console, path: [a]}\n", encoding="utf-8")
    with pytest.raises(PagerConfigError, match=r"targets\[0\]\.path"):
        load_pager_config(path, environ={})


async def test_console_writes_firing_then_resolved_once_each(tmp_path: Path) -> None:
    log = tmp_path / "notices.log"
    cfg = tmp_path / "pager.yml"
    cfg.write_text(f"token: {TOKEN}\ntargets:\n  - {{name: local, kind: console, path: '{log}'}}\n",
                   encoding="utf-8")
    app = create_app(load_pager_config(cfg, environ={}), clock=lambda: NOW)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        statuses: list[Any] = []
        for body in (payload(), payload(), payload("resolved")):
            resp = await client.post("/alerts", json=body, headers=headers)
            statuses.append(resp.status)
    assert statuses == [200, 200, 200]
    blocks = log.read_text(encoding="utf-8").split("\n\n")
    assert blocks[0] == ("--- 2023-11-15 06:13:20 Asia/Shanghai firing severity=page\n"
                         f"{TITLE}\n{LINE}\n详情：http://chatwatch.example/conversations/c-42")
    assert blocks[1].startswith("--- 2023-11-15 06:13:20 Asia/Shanghai resolved severity=page\n"
                                "【已恢复】禁止内容 · 店铺 shop-a\n")
    assert blocks[2:] == [""]   # the repeated firing notice was deduplicated


async def test_unwritable_console_file_answers_502(tmp_path: Path) -> None:
    cfg = tmp_path / "pager.yml"
    cfg.write_text(f"token: {TOKEN}\ntargets:\n  - {{name: local, kind: console, "
                   f"path: '{tmp_path / 'missing-dir' / 'n.log'}'}}\n", encoding="utf-8")
    app = create_app(load_pager_config(cfg, environ={}), clock=lambda: NOW)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        resp = await client.post("/alerts", json=payload(),
                                 headers={"Authorization": f"Bearer {TOKEN}"})
        assert resp.status == 502
        assert await resp.json() == {"failed": ["local"]}
