"""The ``console`` target: notices written to a file or standard output instead of a robot.

``chatwatch run`` uses it so a newcomer sees, in ``run/pager-notices.log``, the Chinese notices
the bridge would post to a DingTalk or WeCom group, without any robot configured.
"""

from __future__ import annotations

import sys
from datetime import datetime
from zoneinfo import ZoneInfo

from alerts.pager.config import Target
from alerts.pager.render import Notice


def format_notice(notice: Notice, now: float, timezone: str = "Asia/Shanghai") -> str:
    """One notice as a text block: a stamped header line, the plain text, a blank line.

    The stamp is in the notice's time zone (its shop's), else ``timezone``, and names it.
    """
    zone = notice.timezone or timezone
    stamp = datetime.fromtimestamp(now, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")
    return (f"--- {stamp} {zone} {notice.status} severity={notice.severity}\n"
            f"{notice.plain()}\n\n")


def write_notice(notice: Notice, target: Target, now: float,
                 timezone: str = "Asia/Shanghai") -> None:
    """Append ``notice`` to ``target.path`` (standard output when unset or ``-``).

    Raises ``OSError`` when the file cannot be written; the bridge then answers 502 and
    Alertmanager retries, as for an unreachable robot.
    """
    text = format_notice(notice, now, timezone)
    if not target.path or target.path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    with open(target.path, "a", encoding="utf-8") as out:
        out.write(text)
