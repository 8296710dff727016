"""The Grafana dashboard and the alert rules parse, and the PromQL reader finds names.

Whether every expression runs against the worker's real metrics: tests/integration/
test_operations.py (a real Prometheus)."""

from __future__ import annotations

import pytest

from tests.infra.dashboards import (
    alert_rules,
    dashboard,
    dashboard_expressions,
    metric_names,
    panels,
    readme_alerts,
    substitute,
    variable_metrics,
)


def test_every_panel_has_a_query_and_a_unique_id() -> None:
    board = dashboard()
    ids = [panel["id"] for panel in panels(board)]
    assert len(ids) == len(set(ids)), ids
    for panel in panels(board):
        if panel["type"] != "row":
            assert panel["targets"], panel["title"]
            assert all(t["expr"].strip() and t["refId"] for t in panel["targets"]), panel
    assert board["uid"] and board["title"]
    assert {i["name"] for i in board["__inputs"]} == {"DS_PROMETHEUS"}
    assert variable_metrics(board) == {"badges_build_info"}


def test_every_expression_uses_only_known_grafana_variables() -> None:
    for expression in dashboard_expressions(dashboard()):
        assert "$" not in substitute(expression), expression
    with pytest.raises(KeyError):
        substitute("rate(x[$__typo])")


def test_alert_rules_have_an_expression_and_a_summary() -> None:
    rules = alert_rules()
    assert len({rule["alert"] for rule in rules}) == len(rules) >= 5
    assert all(rule["expr"] and rule["annotations"]["summary"] for rule in rules)


def test_the_readme_shows_the_alert_rules_as_they_are() -> None:
    assert readme_alerts() == {rule["alert"]: rule["expr"] for rule in alert_rules()}


@pytest.mark.parametrize(("expression", "names"), [
    ('sum by (type, code) (rate(badges_commands_total{outcome="error"}[1m]))',
     {"badges_commands_total"}),
    ("histogram_quantile(0.99, sum by (le) (rate(a_bucket[5m]))) > 1e3", {"a_bucket"}),
    ("sum by (code) (rate(a[10m])) / ignoring (code) group_left sum(rate(b[10m])) > 0.1",
     {"a", "b"}),
    ('x and on (job) y{le="+Inf", q=\'by (z)\'} offset 5m or bool up', {"x", "y", "up"}),
])
def test_metric_names_of_an_expression(expression: str, names: set[str]) -> None:
    assert metric_names(expression) == names
