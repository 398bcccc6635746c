"""The chart's alerts: promtool checks the rendered rules and runs tests/chart/alerts_test.yaml on them."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.chart.chart import OPERATOR_APIS, one, render

TESTS = Path(__file__).with_name("alerts_test.yaml")


@pytest.fixture
def rules(tmp_path) -> Path:
    """The PrometheusRule of the default values, as a Prometheus rule file beside a copy of the tests."""
    spec = one(render(*OPERATOR_APIS), "PrometheusRule", "oss-cluster")["spec"]
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(spec))
    shutil.copy(TESTS, tmp_path / TESTS.name)
    return tmp_path / "rules.yaml"


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    binary = shutil.which("promtool")
    assert binary, "promtool is missing: scripts/setup.sh installs Debian's prometheus package"
    return subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_rules_are_valid(rules):
    done = promtool("check", "rules", rules.name, cwd=rules.parent)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_behaves_as_its_tests_say(rules):
    done = promtool("test", "rules", TESTS.name, cwd=rules.parent)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_test_that_fires_it_and_one_that_does_not(rules):
    alerts = {r["alert"] for g in yaml.safe_load(rules.read_text())["groups"] for r in g["rules"] if "alert" in r}
    cases = [c for t in yaml.safe_load(TESTS.read_text())["tests"] for c in t.get("alert_rule_test", [])]
    fired = {c["alertname"] for c in cases if c["exp_alerts"]}
    quiet = {c["alertname"] for c in cases if not c["exp_alerts"]}
    assert alerts == fired == quiet


def test_every_alert_links_a_runbook_that_exists(rules):
    operations = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    anchors = {line.lstrip("#").strip().lower() for line in operations.splitlines() if line.startswith("### ")}
    for group in yaml.safe_load(rules.read_text())["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                link = rule["annotations"]["runbook"]
                assert link.startswith("docs/operations.md#") and link.partition("#")[2] in anchors, rule["alert"]
