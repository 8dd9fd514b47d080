"""The Prometheus configurations of the deployment, checked with ``promtool check config``.

Inside the containers the rule files sit at /etc/prometheus/rules; here the check points
``rule_files`` at the repository's alerts/rules/ so the rules are loaded and checked too.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import DEPLOY, K8S, REPO

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.requires_tools("promtool")
RULES = REPO / "alerts" / "rules"


def compose_config() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "prometheus" / "prometheus.compose.yml").read_text("utf-8"))


def k8s_config() -> dict[str, Any]:
    docs = yaml.safe_load_all((K8S / "prometheus-scrape-config.yaml").read_text("utf-8"))
    (cm,) = [d for d in docs if d and d["metadata"]["name"] == "chatwatch-prometheus-config"]
    return yaml.safe_load(cm["data"]["prometheus.yml"])


CONFIGS = {"compose": compose_config, "k8s": k8s_config}


def _run_promtool(config: dict[str, Any], path: Path) -> subprocess.CompletedProcess[str]:
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, "check", "config", str(path)], capture_output=True,
                          text=True, timeout=60, check=False)


def promtool_check(config: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run ``promtool check config``.

    Debian's Prometheus is built without Kubernetes service discovery, so its promtool rejects
    ``kubernetes_sd_configs`` as an unknown field. Then the check runs again with each such
    block replaced by a static target, which still checks the relabelling, rules and the rest.
    """
    # promtool reads every credentials file: the secret is mounted or written at run time,
    # so the check gets a stand-in file at the same place in the configuration
    config = copy.deepcopy(config)
    for job in config.get("scrape_configs", []):
        auth = job.get("authorization") or {}
        if "credentials_file" in auth:
            stand_in = tmp_path / f"{job['job_name']}-credentials"
            stand_in.write_text("stand-in-token", encoding="utf-8")
            auth["credentials_file"] = str(stand_in)
    result = _run_promtool(config, tmp_path / "prometheus.yml")
    if "field kubernetes_sd_configs not found" not in result.stdout + result.stderr:
        return result
    portable = copy.deepcopy(config)
    for job in portable.get("scrape_configs", []):
        if job.pop("kubernetes_sd_configs", None) is not None:
            job["static_configs"] = [{"targets": ["127.0.0.1:6066"]}]
    return _run_promtool(portable, tmp_path / "prometheus.static-sd.yml")


@pytest.mark.parametrize("name", CONFIGS)
def test_config_is_valid_without_rules(name: str, tmp_path: Path) -> None:
    config = CONFIGS[name]()
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    config["rule_files"] = []
    result = promtool_check(config, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", CONFIGS)
def test_config_loads_the_repository_rules(name: str, tmp_path: Path) -> None:
    rules = sorted(RULES.glob("*.yml"))
    assert rules, "alerts/rules/*.yml must be in the repository"
    config = CONFIGS[name]()
    config["rule_files"] = [str(RULES / "*.yml")]
    result = promtool_check(config, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rule files found" in result.stdout + result.stderr


def test_promtool_check_is_not_vacuous(tmp_path: Path) -> None:
    config = compose_config()
    config["rule_files"] = []
    config["scrape_configs"][0]["scrape_interval"] = "fifteen seconds"
    assert promtool_check(config, tmp_path).returncode != 0


@pytest.mark.parametrize("name", CONFIGS)
def test_rules_select_only_jobs_the_config_defines(name: str) -> None:
    jobs = {job["job_name"] for job in CONFIGS[name]().get("scrape_configs", [])}
    selected = {m for path in RULES.glob("*.yml")
                for m in re.findall(r'job\s*=~?\s*"([^"]+)"', path.read_text("utf-8"))}
    assert selected, "the rules select on a job label (pipeline alerts such as ChatwatchDown)"
    assert selected <= jobs, f"rules expect jobs {selected - jobs} that {name} does not scrape"
