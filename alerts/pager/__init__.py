"""Pager bridge: Alertmanager webhooks to DingTalk, WeCom, Feishu, Slack and generic webhooks."""

from alerts.pager.config import PagerConfig, Target, load_pager_config
from alerts.pager.server import create_app

__all__ = ["PagerConfig", "Target", "create_app", "load_pager_config"]
