"""The PromQL the operators' artefacts hold (the Grafana dashboard, the alert rules), as a
Prometheus would run it, and the metric names each expression reads."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
README = DEPLOY / "README.md"
DASHBOARD = DEPLOY / "grafana" / "badges.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"

# What Grafana puts in place of its variables: its built-in intervals, and the test
# Prometheus' job for $job (a value, not the `.*` of "All", so the selectors must match).
GRAFANA_VALUES = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h",
                  "job": "badges"}
_VARIABLE = re.compile(r"\$\{?(\w+)\}?")

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_BRACES = re.compile(r"\{[^}]*\}|\[[^\]]*\]")  # label matchers, ranges and subqueries
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
# A name not glued to a number (1e3, 5m) or to another name.
_NAME = re.compile(r"(?<![\w.:])[A-Za-z_:][\w:]*")
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
             "or", "unless", "offset", "inf", "nan"}
_LABEL_VALUES = re.compile(r"label_values\(\s*([A-Za-z_:][\w:]*)\s*,")


def substitute(expression: str) -> str:
    """The expression with Grafana's variables replaced; KeyError for an unknown one."""
    return _VARIABLE.sub(lambda m: GRAFANA_VALUES[m.group(1)], expression)


def metric_names(expression: str) -> set[str]:
    """The metric names a PromQL expression selects (not functions, keywords or labels)."""
    text = _LABEL_LIST.sub(" ", _BRACES.sub(" ", _STRING.sub(" ", expression)))
    return {m.group() for m in _NAME.finditer(text)
            if m.group().lower() not in _KEYWORDS and not text[m.end():].lstrip().startswith("(")}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_expressions(board: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in panels(board) for target in panel.get("targets", [])]


def variable_metrics(board: dict[str, Any]) -> set[str]:
    """The metrics the dashboard's query variables read (label_values(metric, label))."""
    names = set()
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            text = query["query"] if isinstance(query, dict) else query
            found = _LABEL_VALUES.search(text)
            assert found, f"variable {variable['name']}: not label_values(metric, label): {text}"
            names.add(found.group(1))
    return names


def alert_rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load(ALERTS.read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def readme_alerts() -> dict[str, str]:
    """{alert: expression} of deploy/README.md's alert table (section "### Alerts")."""
    text = README.read_text()
    section = text[text.index("### Alerts\n"):]
    section = section[:section.index("\n### ", 1)]
    rows = re.findall(r"^\| `(\w+)` \| `([^`]+)` \|", section, re.MULTILINE)
    return dict(rows)
