"""Issue 34: POST /check's checks run in a process of their own, a bounded number at a time
(agents/check_pool.py), with the same answers as the check on the loop had."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from agents.check_pool import CheckPool
from stream.check import check_text
from stream.config import load_settings


def test_slots_are_bounded_and_given_back() -> None:
    settings = load_settings(environ={})
    pool = CheckPool(settings.content, settings.policies, concurrency=2, processes=1)
    with pool.slot() as first, pool.slot() as second, pool.slot() as third:
        assert (first, second, third) == (True, True, False)
        assert pool.in_flight == 2
    assert pool.in_flight == 0
    with pool.slot() as again:
        assert again


def test_checks_run_in_another_process_with_the_same_answers() -> None:
    settings = load_settings(environ={})
    pool = CheckPool(settings.content, settings.policies, concurrency=4, processes=1)
    text = "加我微信 abc123，电话 13812345678"
    body = json.dumps({"text": text, "platform": "pdd"}).encode()

    async def main() -> tuple[list[tuple[int, dict[str, Any]]], int]:
        answers = await asyncio.gather(pool.check(body), pool.check(b'{"txt": 1}'),
                                       pool.check(b"[" * 100))
        [pid] = {p.pid for p in (pool._executor._processes or {}).values()}  # type: ignore[union-attr]
        return list(answers), pid

    try:
        answers, pid = asyncio.run(main())
    finally:
        pool.close()
    assert pid != os.getpid()
    expected = check_text(settings.content.guard(), settings.policies, text, "pdd")
    assert answers[0] == (200, expected) and expected["total"] >= 2
    assert answers[1][0] == 400 and "`text`" in answers[1][1]["error"]
    assert answers[2][0] == 400 and "nests deeper" in answers[2][1]["error"]
