"""The production manifests (deploy/k8s) render with kustomize and every object validates offline.

Core kinds are checked against the Kubernetes JSON schemas that kubernetes-validate ships
(strict: an unknown field fails, as `kubectl apply --validate=strict` would); the KEDA and
Prometheus Operator kinds against the CRD schemas kept in deploy/k8s/schemas. A kind with no
schema fails. Then the manifests are checked against what the worker really reads: its
settings, its topic names and consumer group, its probes' port. No containers needed.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from badges_schemas import Topics
from service.settings import Settings

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
RENDER = K8S / "render.sh"
# The Kubernetes API version the core kinds must be valid for (one kubernetes-validate ships).
KUBERNETES_VERSION = "1.33.0"
# The first render builds kustomize from the Go module proxy (about 3 minutes on a fresh
# machine); later ones take well under a second.
RENDER_TIMEOUT_SECONDS = 600

Manifest = dict[str, Any]
# KEDA's kafka scaler names for the worker's BADGES_KAFKA_SASL_MECHANISM values.
KEDA_SASL = {"PLAIN": "plaintext", "SCRAM-SHA-256": "scram_sha256",
             "SCRAM-SHA-512": "scram_sha512"}

# The first render includes building kustomize: more than the default per-test timeout.
pytestmark = pytest.mark.timeout(RENDER_TIMEOUT_SECONDS + 60)


class ManifestError(Exception):
    """An object that the cluster would refuse (or that no schema here describes)."""


def _strict(schema: Any) -> Any:
    """The schema with unknown fields refused wherever the CRD lists the fields.

    A CRD schema prunes unknown fields silently; `kubectl apply` (strict field validation,
    the default since Kubernetes 1.27) refuses them. Objects left open on purpose (no
    `properties`, or a map's `additionalProperties`) stay open.
    """
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: _strict(value) for key, value in schema.items()}
    if ("properties" in schema and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")):
        strict["additionalProperties"] = False
    return strict


def _crd_schemas() -> dict[tuple[str, str], Any]:
    found = {}
    for path in sorted((K8S / "schemas").glob("*.json")):
        doc = json.loads(path.read_text())
        found[(doc["apiVersion"], doc["kind"])] = _strict(doc["openAPIV3Schema"])
    return found


CRD_SCHEMAS = _crd_schemas()


def validate(obj: Manifest) -> None:
    """Raise ManifestError unless `obj` is valid for its kind's pinned schema."""
    key = (obj.get("apiVersion", ""), obj.get("kind", ""))
    name = f"{key[1]} {obj.get('metadata', {}).get('name')!r} ({key[0]})"
    if key in CRD_SCHEMAS:
        try:
            jsonschema.validate(obj, CRD_SCHEMAS[key])
        except jsonschema.ValidationError as exc:
            raise ManifestError(f"{name}: {exc.message} at {exc.json_path}") from None
        # A CRD's schema leaves metadata to the API server: check it as Kubernetes' ObjectMeta.
        obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": obj.get("metadata")}
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        raise ManifestError(f"{name}: no schema for this kind") from None
    except kubernetes_validate.ValidationError as exc:
        raise ManifestError(f"{name}: {exc.message} at {exc.json_path}") from None


def render(directory: Path = K8S) -> list[Manifest]:
    done = subprocess.run([str(RENDER), str(directory)], capture_output=True, text=True,
                          timeout=RENDER_TIMEOUT_SECONDS, check=False)
    assert done.returncode == 0, f"render.sh failed ({done.returncode}):\n{done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc is not None]


@pytest.fixture(scope="module")
def rendered() -> list[Manifest]:
    return render()


WORKER = "badges-worker"
GATEWAY = "badges-gateway"
GATEWAY_METRICS = "badges-gateway-metrics"  # the Service Prometheus scrapes the gateway by
EXPORTER = "badges-lag-exporter"
GATEWAY_USERS_PATH = "/etc/badges/gateway-users.json"  # the contract's mount point


def one(objects: list[Manifest], kind: str, name: str = WORKER) -> Manifest:
    """The object of that kind and name: the worker's, unless another name is given."""
    found = [obj for obj in objects
             if obj["kind"] == kind and obj["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def only(objects: list[Manifest], kind: str) -> Manifest:
    found = [obj for obj in objects if obj["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def container(objects: list[Manifest], name: str) -> Manifest:
    """The container `name` ("worker" or "gateway") of the Deployment badges-<name>."""
    spec = one(objects, "Deployment", f"badges-{name}")["spec"]["template"]["spec"]
    return next(c for c in spec["containers"] if c["name"] == name)


def worker_container(objects: list[Manifest]) -> Manifest:
    return container(objects, "worker")


def configured(objects: list[Manifest], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The worker's settings as the ConfigMap sets them (secrets replaced by placeholders)."""
    for name in list(Settings.model_fields):
        monkeypatch.delenv(f"BADGES_{name.upper()}", raising=False)
    for key, value in only(objects, "ConfigMap")["data"].items():
        monkeypatch.setenv(key, value)
    return Settings(kafka_sasl_username="u", kafka_sasl_password="p", mongo_url="mongodb://h")


def test_every_rendered_object_validates(rendered: list[Manifest]) -> None:
    for obj in rendered:
        validate(obj)
    assert sorted((obj["kind"], obj["metadata"]["name"]) for obj in rendered) == sorted([
        ("ConfigMap", only(rendered, "ConfigMap")["metadata"]["name"]),
        *((kind, name) for kind in ("Deployment", "PodDisruptionBudget", "Service",
                                    "ServiceMonitor", "NetworkPolicy")
          for name in (WORKER, GATEWAY)),
        ("ScaledObject", WORKER), ("TriggerAuthentication", f"{WORKER}-kafka"),
        ("PrometheusRule", "badges"), ("Service", GATEWAY_METRICS),
        *((kind, EXPORTER) for kind in ("Deployment", "Service", "ServiceMonitor",
                                        "NetworkPolicy"))])


def test_the_example_secret_validates_and_holds_no_real_value() -> None:
    secret = yaml.safe_load((K8S / "secret.example.yaml").read_text())
    validate(secret)
    data = secret["stringData"]
    # Every key the manifests read is there, and each secret value is a placeholder.
    assert set(data) == {"kafka-sasl-username", "kafka-sasl-password", "mongo-url"}
    assert "<placeholder>" in data["kafka-sasl-password"]
    assert "<placeholder>" in data["mongo-url"]


def _deployment_typo(obj: Manifest) -> None:
    obj["spec"]["replica"] = 2


def _probe_typo(obj: Manifest) -> None:
    obj["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["paht"] = "/"


def _scaled_object_unknown_field(obj: Manifest) -> None:
    obj["spec"]["maxReplicas"] = 3


def _scaled_object_without_triggers(obj: Manifest) -> None:
    del obj["spec"]["triggers"]


def _trigger_metadata_not_a_string(obj: Manifest) -> None:
    obj["spec"]["triggers"][0]["metadata"]["lagThreshold"] = 100


def _auth_ref_without_key(obj: Manifest) -> None:
    del obj["spec"]["secretTargetRef"][0]["key"]


def _monitor_bad_interval(obj: Manifest) -> None:
    obj["spec"]["endpoints"][0]["interval"] = "30 seconds"


def _monitor_endpoint_typo(obj: Manifest) -> None:
    obj["spec"]["endpoints"][0]["pth"] = "/metrics"


def _metadata_typo(obj: Manifest) -> None:
    obj["metadata"]["label"] = {"a": "b"}


def _rule_typo(obj: Manifest) -> None:
    obj["spec"]["groups"][0]["rules"][0]["fro"] = "10m"


def _rule_bad_duration(obj: Manifest) -> None:
    obj["spec"]["groups"][0]["rules"][0]["for"] = "ten minutes"


def _policy_port_typo(obj: Manifest) -> None:
    obj["spec"]["ingress"][0]["ports"][0]["prot"] = 80


def _budget_bad_policy(obj: Manifest) -> None:
    obj["spec"]["unhealthyPodEvictionPolicy"] = 1


@pytest.mark.parametrize(("kind", "spoil"), [
    ("Deployment", _deployment_typo),
    ("Deployment", _probe_typo),
    ("ScaledObject", _scaled_object_unknown_field),
    ("ScaledObject", _scaled_object_without_triggers),
    ("ScaledObject", _trigger_metadata_not_a_string),
    ("TriggerAuthentication", _auth_ref_without_key),
    ("ServiceMonitor", _monitor_bad_interval),
    ("ServiceMonitor", _monitor_endpoint_typo),
    ("ScaledObject", _metadata_typo),
    ("PrometheusRule", _rule_typo),
    ("PrometheusRule", _rule_bad_duration),
    ("NetworkPolicy", _policy_port_typo),
    ("PodDisruptionBudget", _budget_bad_policy),
])
def test_an_invalid_object_fails(rendered: list[Manifest], kind: str,
                                 spoil: Callable[[Manifest], None]) -> None:
    first = next(obj for obj in rendered if obj["kind"] == kind)
    obj = json.loads(json.dumps(first))  # a deep copy
    spoil(obj)
    with pytest.raises(ManifestError, match=kind):
        validate(obj)


@pytest.mark.parametrize("obj", [
    {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
    # A known kind under an API version with no schema here.
    {"apiVersion": "keda.sh/v1beta1", "kind": "ScaledObject", "metadata": {"name": "s"},
     "spec": {}},
    {"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor", "metadata": {"name": "p"},
     "spec": {}},
])
def test_an_object_of_a_kind_with_no_schema_fails(obj: Manifest) -> None:
    with pytest.raises(ManifestError, match="no schema"):
        validate(obj)


def test_the_config_map_holds_valid_settings_and_no_secret(
        rendered: list[Manifest], monkeypatch: pytest.MonkeyPatch) -> None:
    data = only(rendered, "ConfigMap")["data"]
    known = {f"BADGES_{name.upper()}" for name in Settings.model_fields}
    assert set(data) <= known, f"unknown settings: {set(data) - known}"
    assert not {"BADGES_KAFKA_SASL_PASSWORD", "BADGES_MONGO_URL"} & set(data)
    configured(rendered, monkeypatch)  # raises if a value does not validate


@pytest.mark.parametrize("name", ["worker", "gateway"])
def test_secrets_come_from_secret_references(rendered: list[Manifest], name: str) -> None:
    env = {e["name"]: e for e in container(rendered, name)["env"]}
    for variable in ("BADGES_KAFKA_SASL_PASSWORD", "BADGES_MONGO_URL",
                     "BADGES_KAFKA_SASL_USERNAME"):
        assert "value" not in env[variable]
        assert env[variable]["valueFrom"]["secretKeyRef"]["name"] == "badges-worker-secrets"
    assert not [obj for obj in rendered if obj["kind"] == "Secret"]


def test_the_example_gateway_users_secret_validates_and_holds_no_real_value() -> None:
    secret = yaml.safe_load((K8S / "gateway-users.example.yaml").read_text())
    validate(secret)
    assert secret["metadata"]["name"] == "badges-gateway-users"
    assert secret["stringData"] == {"gateway-users.json": "<placeholder>"}


def test_the_deployment_runs_the_worker_safely(
        rendered: list[Manifest], monkeypatch: pytest.MonkeyPatch) -> None:
    settings = configured(rendered, monkeypatch)
    pod = one(rendered, "Deployment")["spec"]["template"]["spec"]
    container = worker_container(rendered)
    assert container["image"] == f"localhost/badges-worker:{version('badges-service')}"
    assert container["command"] == ["python", "-m", "service", "worker"]
    assert pod["terminationGracePeriodSeconds"] > settings.stop_timeout_seconds
    port = only(rendered, "ConfigMap")["data"]["BADGES_HTTP_PORT"]
    assert {"name": "http", "containerPort": int(port), "protocol": "TCP"} in container["ports"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert {"requests", "limits"} <= set(container["resources"])
    # KEDA owns the replica count; a fixed one would fight it on every apply.
    assert "replicas" not in one(rendered, "Deployment")["spec"]


def test_the_gateway_deployment_serves_its_api_safely(
        rendered: list[Manifest], monkeypatch: pytest.MonkeyPatch) -> None:
    deployment = one(rendered, "Deployment", GATEWAY)
    pod = deployment["spec"]["template"]["spec"]
    gateway = container(rendered, "gateway")
    assert gateway["image"] == f"localhost/badges-worker:{version('badges-service')}"
    assert gateway["command"] == ["python", "-m", "service", "gateway"]
    assert deployment["spec"]["replicas"] == 2
    # The worker's settings plus the gateway's own, which must validate as settings too.
    assert gateway["envFrom"] == [
        {"configMapRef": {"name": only(rendered, "ConfigMap")["metadata"]["name"]}}]
    env = {e["name"]: e.get("value") for e in gateway["env"]}
    configured(rendered, monkeypatch)
    for key in ("BADGES_GATEWAY_HOST", "BADGES_GATEWAY_PORT", "BADGES_GATEWAY_USERS_FILE"):
        monkeypatch.setenv(key, env[key])
    settings = Settings(kafka_sasl_username="u", kafka_sasl_password="p",
                        mongo_url="mongodb://h")
    assert settings.gateway_host == "0.0.0.0"  # reachable by the Service and the probes
    assert {"name": "http", "containerPort": settings.gateway_port,
            "protocol": "TCP"} in gateway["ports"]
    assert gateway["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert gateway["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    # A request taken just before SIGTERM is answered (or times out) before the SIGKILL.
    pause = gateway["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod["terminationGracePeriodSeconds"] > pause + settings.gateway_timeout_seconds
    # The users file is the Secret's key, mounted read-only where the setting points.
    assert settings.gateway_users_file == GATEWAY_USERS_PATH
    folder, _, file = GATEWAY_USERS_PATH.rpartition("/")
    mount = next(m for m in gateway["volumeMounts"] if m["mountPath"] == folder)
    assert mount["readOnly"] is True
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["secretName"] == "badges-gateway-users"
    assert volume["secret"]["items"] == [{"key": file, "path": file}]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert gateway["securityContext"]["readOnlyRootFilesystem"] is True
    assert gateway["securityContext"]["allowPrivilegeEscalation"] is False
    assert {"requests", "limits"} <= set(gateway["resources"])


def test_the_gateway_service_takes_port_80_to_the_pods(rendered: list[Manifest]) -> None:
    service = one(rendered, "Service", GATEWAY)["spec"]
    assert service["ports"] == [{"name": "http", "port": 80, "targetPort": "http",
                                 "protocol": "TCP"}]
    assert service.get("clusterIP") != "None"  # one address for the callers, load-balanced
    assert one(rendered, "PodDisruptionBudget", GATEWAY)["spec"]["maxUnavailable"] == 1


def test_keda_scales_on_the_worker_group_lag_within_the_partitions(
        rendered: list[Manifest], monkeypatch: pytest.MonkeyPatch) -> None:
    settings = configured(rendered, monkeypatch)
    scaled = one(rendered, "ScaledObject")["spec"]
    auth = only(rendered, "TriggerAuthentication")
    assert scaled["scaleTargetRef"]["name"] == one(rendered, "Deployment")["metadata"]["name"]
    assert scaled["scaleTargetRef"]["envSourceContainerName"] == "worker"
    assert worker_container(rendered)["envFrom"] == [
        {"configMapRef": {"name": only(rendered, "ConfigMap")["metadata"]["name"]}}]
    assert 1 <= scaled["minReplicaCount"] <= scaled["maxReplicaCount"]
    assert scaled["maxReplicaCount"] <= settings.topic_partitions
    triggers = scaled["triggers"]
    assert {t["metadata"]["topic"] for t in triggers} == set(
        Topics(settings.topic_prefix).commands.values())
    for trigger in triggers:
        meta = trigger["metadata"]
        assert trigger["type"] == "kafka"
        assert meta["consumerGroup"] == settings.app_id
        # KEDA resolves it in the worker container's environment, from the ConfigMap.
        assert meta["bootstrapServersFromEnv"] == "BADGES_KAFKA_BOOTSTRAP_SERVERS"
        assert int(meta["lagThreshold"]) > 0
        # KEDA logs in the way the worker's settings say the brokers want.
        assert meta["sasl"] == KEDA_SASL[settings.kafka_sasl_mechanism]
        assert meta["tls"] == ("enable" if "SSL" in settings.kafka_security_protocol
                               else "disable")
        # As the worker's consumer starts a new group (service/worker/app.py).
        assert meta["offsetResetPolicy"] == "earliest"
        assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    # KEDA logs in as the worker does: the same Secret keys.
    env = {e["name"]: e.get("valueFrom", {}).get("secretKeyRef") for e in
           worker_container(rendered)["env"]}
    refs = {r["parameter"]: {"name": r["name"], "key": r["key"]}
            for r in auth["spec"]["secretTargetRef"]}
    assert refs == {"username": env["BADGES_KAFKA_SASL_USERNAME"],
                    "password": env["BADGES_KAFKA_SASL_PASSWORD"]}


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


@pytest.mark.parametrize("name", [WORKER, GATEWAY])
def test_the_selectors_reach_their_own_pods_only(rendered: list[Manifest], name: str) -> None:
    pods = {n: one(rendered, "Deployment", n)["spec"]["template"]["metadata"]["labels"]
            for n in (WORKER, GATEWAY, EXPORTER)}
    service = one(rendered, "Service", name)
    budget = one(rendered, "PodDisruptionBudget", name)["spec"]["selector"]["matchLabels"]
    for selector in (service["spec"]["selector"], budget):
        assert [n for n, labels in pods.items() if selects(selector, labels)] == [name]
    # The worker's Service has its one port, the gateway's public one only `http`: the
    # gateway serves /metrics on another port, never to its callers.
    assert [p["name"] for p in service["spec"]["ports"]] == ["http"]


# (Deployment, the Service its ServiceMonitor scrapes, the container port it names)
SCRAPED = [(WORKER, WORKER, "http"), (GATEWAY, GATEWAY_METRICS, "metrics"),
           (EXPORTER, EXPORTER, "metrics")]


@pytest.mark.parametrize(("name", "scraped", "port"), SCRAPED)
def test_each_service_monitor_scrapes_its_own_pods_metrics_port(
        rendered: list[Manifest], name: str, scraped: str, port: str) -> None:
    pods = {n: one(rendered, "Deployment", n)["spec"]["template"]["metadata"]["labels"]
            for n, _, _ in SCRAPED}
    service = one(rendered, "Service", scraped)
    assert [n for n, labels in pods.items() if selects(service["spec"]["selector"], labels)] \
        == [name]
    monitor = one(rendered, "ServiceMonitor", name)["spec"]
    services = [s for s in rendered if s["kind"] == "Service"]
    assert [s["metadata"]["name"] for s in services
            if selects(monitor["selector"]["matchLabels"], s["metadata"]["labels"])] == [scraped]
    assert monitor["endpoints"] == [{"port": port, "path": "/metrics", "interval": "30s",
                                     "scrapeTimeout": "10s"}]
    assert [(p["name"], p["targetPort"]) for p in service["spec"]["ports"]] == [(port, port)]
    container = one(rendered, "Deployment", name)["spec"]["template"]["spec"]["containers"][0]
    assert port in {p["name"] for p in container["ports"]}


def test_the_gateway_serves_metrics_on_the_port_its_monitor_scrapes(
        rendered: list[Manifest]) -> None:
    container = one(rendered, "Deployment", GATEWAY)["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert env["BADGES_GATEWAY_METRICS_PORT"] == str(ports["metrics"])
    assert env["BADGES_GATEWAY_PORT"] == str(ports["http"]) != env["BADGES_GATEWAY_METRICS_PORT"]



@pytest.fixture
def overlay(tmp_path: Path) -> Path:
    """An overlay of the base, as a deployment repository would write one."""
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": [os.path.relpath(K8S, tmp_path)],  # kustomize refuses absolute ones
        "images": [{"name": "localhost/badges-worker", "newName": "registry.test/badges",
                    "newTag": "9.9.9"}],
    }))
    return tmp_path


def test_an_overlay_sets_the_image(overlay: Path) -> None:
    objects = render(overlay)
    assert worker_container(objects)["image"] == "registry.test/badges:9.9.9"
    assert container(objects, "gateway")["image"] == "registry.test/badges:9.9.9"


def test_the_prometheus_rule_is_the_alert_file(rendered: list[Manifest]) -> None:
    alerts = yaml.safe_load((REPO / "deploy" / "prometheus" / "alerts.yml").read_text())
    assert only(rendered, "PrometheusRule")["spec"]["groups"] == alerts["groups"]


@pytest.mark.parametrize("name", [WORKER, GATEWAY])
def test_drains_and_failures_take_one_replica_at_a_time(rendered: list[Manifest],
                                                        name: str) -> None:
    budget = one(rendered, "PodDisruptionBudget", name)["spec"]
    # Unready pods (all of them, in an outage) may be evicted: a drain never hangs on them.
    assert budget["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    pod = one(rendered, "Deployment", name)["spec"]["template"]
    spread = pod["spec"]["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in spread} == {"kubernetes.io/hostname",
                                                  "topology.kubernetes.io/zone"}
    for constraint in spread:
        assert constraint["maxSkew"] == 1
        assert selects(constraint["labelSelector"]["matchLabels"], pod["metadata"]["labels"])


@pytest.mark.parametrize("name", [WORKER, GATEWAY])
def test_each_component_has_a_network_policy_for_its_own_ports(
        rendered: list[Manifest], monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    settings = configured(rendered, monkeypatch)
    pod = one(rendered, "Deployment", name)["spec"]["template"]
    policies = [p for p in rendered if p["kind"] == "NetworkPolicy"
                and selects(p["spec"]["podSelector"]["matchLabels"], pod["metadata"]["labels"])]
    assert len(policies) == 1
    spec = policies[0]["spec"]
    assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
    served = {p["name"] for c in pod["spec"]["containers"] for p in c["ports"]}
    assert {port["port"] for rule in spec["ingress"] for port in rule["ports"]} <= served
    reached = {(p["port"], p["protocol"]) for rule in spec["egress"] for p in rule["ports"]}
    brokers = {int(server.rsplit(":", 1)[1])
               for server in settings.kafka_bootstrap_servers.split(",")}
    assert {(53, "UDP"), (53, "TCP"), *((b, "TCP") for b in brokers),
            (27017, "TCP")} == reached


def test_keda_scales_out_on_seconds_of_backlog_a_few_pods_at_a_time(
        rendered: list[Manifest]) -> None:
    scaled = one(rendered, "ScaledObject")["spec"]
    behavior = scaled["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert [p["value"] for p in behavior["scaleUp"]["policies"] if p["type"] == "Pods"] == [2]
    assert all(p["type"] == "Pods" for p in behavior["scaleUp"]["policies"])
    # Several seconds of a worker's work (~1,600/s of the mix, ~600/s of group commands
    # alone), not a fraction of one: a scale step is a rebalance of the whole group.
    thresholds = {t["metadata"]["topic"].split(".")[1]: int(t["metadata"]["lagThreshold"])
                  for t in scaled["triggers"]}
    assert thresholds["badge-claims"] >= 5 * 1_600
    assert min(thresholds.values()) >= 5 * 600
