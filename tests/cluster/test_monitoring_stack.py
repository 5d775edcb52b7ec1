"""docker/: Prometheus scrapes the pipeline the compose stack runs, Grafana gets the
datasource and the dashboard, and every metric the dashboard queries is one streaminfer
exports (checked against real registries, not a list)."""

from __future__ import annotations

import json
import re
from collections import Counter as Tally
from pathlib import Path
from typing import Any

import yaml

from streaminfer.operators import metric_names
from tests.fixtures.exported import SUFFIXES, endpoint_text, sample_names

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"


def _yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def _dashboard() -> dict[str, Any]:
    data = json.loads((DOCKER / "grafana" / "dashboards" / "streaminfer.json").read_text())
    assert isinstance(data, dict)
    return data


def test_prometheus_scrapes_the_port_of_the_config_compose_runs() -> None:
    services = _yaml(DOCKER / "compose.yaml")["services"]
    config = services["streaminfer"]["command"].split()[2]
    port = _yaml(REPO / config)["metrics"]["port"]
    scrape = _yaml(DOCKER / "prometheus" / "prometheus.yml")["scrape_configs"]
    assert scrape[0]["static_configs"][0]["targets"] == [f"localhost:{port}"]
    for name in ("prometheus", "grafana"):  # the driver's endpoint binds loopback
        assert services[name]["network_mode"] == "service:kafka"
    assert "./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in \
        services["prometheus"]["volumes"]


def test_grafana_is_provisioned_with_the_datasource_and_dashboard() -> None:
    grafana = _yaml(DOCKER / "compose.yaml")["services"]["grafana"]
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in grafana["volumes"])
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    provider = _yaml(DOCKER / "grafana/provisioning/dashboards/streaminfer.yml")["providers"][0]
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    (source,) = _yaml(DOCKER / "grafana/provisioning/datasources/prometheus.yml")["datasources"]
    dashboard = _dashboard()
    uids = Tally(p["datasource"]["uid"] for p in dashboard["panels"])
    assert set(uids) == {source["uid"]}


def test_every_queried_metric_is_exported() -> None:
    exprs = [t["expr"] for p in _dashboard()["panels"] for t in p["targets"]]
    queried = {name for e in exprs for name in re.findall(r"\b(streaminfer_[a-z_]+)", e)}
    assert queried, exprs
    missing = queried - sample_names(endpoint_text())
    assert not missing, missing
    assert queried - {n + suffix for n in metric_names.ALL for suffix in ("", *SUFFIXES)} == \
        set(), "the dashboard names a metric operators/metric_names.py does not"
    assert all("__name__" not in e for e in exprs), "a metric is named by a pattern"
    assert any(metric_names.LIVE_QUALITY in e and "$version" in e for e in exprs)
    assert any("streaminfer_drift_psi" in e and "$version" in e for e in exprs)
