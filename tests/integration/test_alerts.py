"""Every alert of deploy/prometheus/alerts.yml fires on series that call for it and stays
quiet on series that do not: `promtool test rules` on deploy/prometheus/alerts.test.yml,
and every alert has a case of each kind there."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.infra.prometheus import binary

pytestmark = pytest.mark.integration

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
PROMTOOL_TIMEOUT = 120


def cases(tests: dict[str, object]) -> dict[str, set[bool]]:
    """alertname -> the kinds of case it has: True fires, False stays quiet."""
    found: dict[str, set[bool]] = {}
    for test in tests["tests"]:  # type: ignore[attr-defined]
        for case in test["alert_rule_test"]:
            found.setdefault(case["alertname"], set()).add(bool(case["exp_alerts"]))
    return found


def test_every_alert_fires_and_stays_quiet_under_promtool() -> None:
    promtool = Path(binary()).with_name("promtool")  # Debian's package ships both
    done = subprocess.run([str(promtool), "test", "rules", "alerts.test.yml"], cwd=RULES,
                          capture_output=True, text=True, timeout=PROMTOOL_TIMEOUT,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    alerts = {rule["alert"] for group in yaml.safe_load((RULES / "alerts.yml").read_text())
              ["groups"] for rule in group["rules"]}
    covered = cases(yaml.safe_load((RULES / "alerts.test.yml").read_text()))
    assert {a: covered.get(a, set()) for a in alerts} == {a: {True, False} for a in alerts}


def test_an_alert_without_a_quiet_case_is_reported() -> None:
    tests = {"tests": [{"alert_rule_test": [{"alertname": "A", "exp_alerts": [{}]}]}]}
    assert cases(tests) == {"A": {True}}
