r"""Request builders for each robot kind: ``(url, json_body)`` from a notice, the target and now.

Signatures follow the robots' documentation:

* DingTalk: ``sign = urlencode(base64(HMAC-SHA256(key=secret, msg=f"{ts_ms}\\n{secret}")))``,
  sent as ``&timestamp=<ms>&sign=<sign>`` on the webhook URL;
* Feishu: ``sign = base64(HMAC-SHA256(key=f"{ts_s}\\n{secret}", msg=b""))``, sent in the body
  with ``timestamp`` in seconds.

Builders are pure (time is an argument) so tests assert exact signatures.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse
from collections.abc import Callable
from typing import Any

from alerts.pager.config import Target
from alerts.pager.render import Notice

Request = tuple[str, dict[str, Any]]


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """Return the URL-encoded DingTalk signature for ``timestamp_ms``."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return urllib.parse.quote_plus(base64.b64encode(digest.digest()).decode())


def feishu_sign(secret: str, timestamp_s: int) -> str:
    r"""Return the Feishu signature for ``timestamp_s`` (the key is ``timestamp\\nsecret``)."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def _append_query(url: str, extra: str) -> str:
    return url + ("&" if "?" in url else "?") + extra


def dingtalk(notice: Notice, target: Target, now: float) -> Request:
    """Build a DingTalk robot markdown message, signed when the target has a secret."""
    url = target.url
    if target.secret:
        ts = int(now * 1000)
        url = _append_query(url, f"timestamp={ts}&sign={dingtalk_sign(target.secret, ts)}")
    return url, {"msgtype": "markdown",
                 "markdown": {"title": notice.title, "text": notice.markdown("\n\n")}}


def wecom(notice: Notice, target: Target, now: float) -> Request:
    """Build a WeCom (企业微信) group robot markdown message."""
    return target.url, {"msgtype": "markdown", "markdown": {"content": notice.markdown("\n")}}


def feishu(notice: Notice, target: Target, now: float) -> Request:
    """Build a Feishu robot text message, signed when the target has a secret."""
    body: dict[str, Any] = {"msg_type": "text", "content": {"text": notice.plain()}}
    if target.secret:
        ts = int(now)
        body = {"timestamp": str(ts), "sign": feishu_sign(target.secret, ts), **body}
    return target.url, body


def slack(notice: Notice, target: Target, now: float) -> Request:
    """Build a Slack incoming-webhook message."""
    return target.url, {"text": notice.plain()}


def webhook(notice: Notice, target: Target, now: float) -> Request:
    """Build the generic JSON notice: rendered text plus the raw alerts."""
    return target.url, {
        "version": "1", "status": notice.status, "severity": notice.severity,
        "alertname": notice.alertname, "shop": notice.shop, "agents": list(notice.agents),
        "title": notice.title, "text": notice.plain(), "link": notice.link,
        "alerts": [{k: a.get(k) for k in ("fingerprint", "status", "labels", "annotations",
                                           "startsAt", "endsAt")} for a in notice.alerts],
    }


BUILDERS: dict[str, Callable[[Notice, Target, float], Request]] = {
    "dingtalk": dingtalk, "wecom": wecom, "feishu": feishu, "slack": slack, "webhook": webhook,
}


def accepted(kind: str, status: int, body: Any) -> bool:
    """Whether a robot's answer means the message was delivered.

    DingTalk and WeCom answer HTTP 200 with ``errcode`` != 0 on failure, Feishu with ``code``.
    """
    if not 200 <= status < 300:
        return False
    if isinstance(body, dict):
        if kind in ("dingtalk", "wecom"):
            return body.get("errcode", 0) == 0
        if kind == "feishu":
            return body.get("code", body.get("StatusCode", 0)) == 0
    return True
