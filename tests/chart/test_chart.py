"""The Helm chart, rendered by the real helm: lint, Kubernetes schemas, and what its objects must agree on."""

import base64
import json
import shutil
import subprocess
import sys

import kubernetes_validate
import pytest
import yaml
from ray.autoscaler._private.kuberay.autoscaling_config import _derive_autoscaling_config_from_ray_cr

from cluster.gateway.tenants import Tenants, hash_key
from tests.chart.chart import CHART, EXAMPLES, OPERATOR_APIS, by_kind, helm, one, render

# The oldest Kubernetes the chart supports (Chart.yaml's kubeVersion) and the newest schemas at hand.
KUBERNETES_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
CUSTOM_KINDS = {"RayCluster", "ServiceMonitor", "PrometheusRule"}  # their schemas come with their operators


@pytest.fixture(params=sorted(EXAMPLES), scope="module")
def example(request) -> tuple[str, list[dict]]:
    return request.param, render(*EXAMPLES[request.param], *OPERATOR_APIS)


def pod_specs(objects: list[dict]) -> dict[str, dict]:
    """Every pod template: the Deployments' and the RayCluster's head and worker groups."""
    specs = {name: d["spec"]["template"] for name, d in by_kind(objects, "Deployment").items()}
    for cluster in by_kind(objects, "RayCluster").values():
        specs["head"] = cluster["spec"]["headGroupSpec"]["template"]
        for group in cluster["spec"]["workerGroupSpecs"]:
            specs[group["groupName"]] = group["template"]
    return specs


def matches(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_lint_strict(name):
    done = helm("lint", "--strict", str(CHART), *EXAMPLES[name])
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_object_and_pod_template_meets_the_kubernetes_schemas(example):
    _, objects = example
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "Service", "ConfigMap", "Secret", "NetworkPolicy", "PodDisruptionBudget",
            "HorizontalPodAutoscaler", "RayCluster", "ServiceMonitor", "PrometheusRule"} <= kinds
    pod_templates = [{"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": name}, "template": spec}
                     for name, spec in pod_specs(objects).items()]
    for version in KUBERNETES_VERSIONS:
        for obj in [o for o in objects if o["kind"] not in CUSTOM_KINDS] + pod_templates:
            kubernetes_validate.validate(obj, version, strict=True)  # raises, naming the field


def test_the_rendered_cluster_yaml_passes_the_projects_validator(example, tmp_path):
    _, objects = example
    config = yaml.safe_load(one(objects, "ConfigMap", "-config")["data"]["cluster.yaml"])
    # The model and the tenants file exist only in the pods: point them at stand-ins here.
    if config["model"].get("path"):
        (tmp_path / "model").mkdir()
        (tmp_path / "model" / "config.json").write_text('{"architectures": ["GptOssForCausalLM"]}')
        config["model"]["path"] = str(tmp_path / "model")
    assert config["gateway"]["tenants_file"] == "/etc/oss-cluster/tenants/tenants.yaml"
    (tmp_path / "tenants.yaml").write_text(one(objects, "Secret", "-tenants")["stringData"]["tenants.yaml"])
    config["gateway"]["tenants_file"] = str(tmp_path / "tenants.yaml")
    assert config["gateway"]["audit_log"] == "-"
    (tmp_path / "cluster.yaml").write_text(yaml.safe_dump(config))
    done = subprocess.run([sys.executable, "-m", "cluster.cli", "validate-config", str(tmp_path / "cluster.yaml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_ports_agree_between_config_containers_services_and_probes(example):
    _, objects = example
    config = yaml.safe_load(one(objects, "ConfigMap", "-config")["data"]["cluster.yaml"])
    gateway = one(objects, "Deployment", "-gateway")["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in gateway["ports"]}
    g = config["gateway"]
    assert (g["host"], ports) == ("0.0.0.0", {"grpc": g["grpc_port"], "http": g["http_port"],
                                             "metrics": g["metrics_port"]})
    service = one(objects, "Service", "-gateway")
    assert {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]} == {
        name: (port, name) for name, port in ports.items()}
    # probes use the admin listener, plain HTTP whatever the APIs' TLS
    assert gateway["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert gateway["livenessProbe"]["httpGet"] == gateway["startupProbe"]["httpGet"] == {"path": "/healthz",
                                                                                         "port": "metrics"}
    controller = one(objects, "Deployment", "-controller")["spec"]["template"]["spec"]["containers"][0]
    assert controller["ports"] == [{"name": "metrics", "containerPort": config["controller"]["metrics_port"]}]
    assert config["controller"]["host"] == "0.0.0.0" and not config.get("ray_address")


def test_the_gateways_grace_period_covers_prestop_and_its_drain(example):
    _, objects = example
    config = yaml.safe_load(one(objects, "ConfigMap", "-config")["data"]["cluster.yaml"])
    pod = one(objects, "Deployment", "-gateway")["spec"]["template"]["spec"]
    pre_stop = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod["terminationGracePeriodSeconds"] > pre_stop + config["gateway"]["shutdown_grace_s"]


def test_selectors_match_the_labels_of_the_pods_they_mean(example):
    _, objects = example
    pods = pod_specs(objects)
    for name, deployment in by_kind(objects, "Deployment").items():
        assert matches(deployment["spec"]["selector"]["matchLabels"], pods[name]["metadata"]["labels"]), name
    gateway_labels = one(objects, "Deployment", "-gateway")["spec"]["template"]["metadata"]["labels"]
    assert matches(one(objects, "Service", "-gateway")["spec"]["selector"], gateway_labels)
    assert matches(one(objects, "PodDisruptionBudget", "-gateway")["spec"]["selector"]["matchLabels"], gateway_labels)
    controller_labels = one(objects, "Deployment", "-controller")["spec"]["template"]["metadata"]["labels"]
    assert matches(one(objects, "Service", "-controller")["spec"]["selector"], controller_labels)
    # Every pod of the release is selected by the policy that lets Ray's processes reach each other.
    ray_policy = one(objects, "NetworkPolicy", "-ray")["spec"]
    assert all(matches(ray_policy["podSelector"]["matchLabels"], p["metadata"]["labels"]) for p in pods.values())
    assert ray_policy["ingress"] == [{"from": [{"podSelector": ray_policy["podSelector"]}]}]
    for monitor in by_kind(objects, "ServiceMonitor").values():
        services = [s for s in by_kind(objects, "Service").values()
                    if matches(monitor["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])]
        assert [p["name"] for s in services for p in s["spec"]["ports"] if p["name"] == "metrics"] == ["metrics"]
    hpa = one(objects, "HorizontalPodAutoscaler", "-gateway")["spec"]["scaleTargetRef"]
    assert hpa["name"] in by_kind(objects, "Deployment")


def test_secrets_are_referenced_not_inlined(example):
    _, objects = example
    secrets = by_kind(objects, "Secret")
    config_text = one(objects, "ConfigMap", "-config")["data"]["cluster.yaml"]
    gateway = one(objects, "Deployment", "-gateway")["spec"]["template"]["spec"]
    (tenants,) = [v for v in gateway["volumes"] if v["name"] == "tenants"]
    assert tenants["secret"]["secretName"] in secrets
    assert all(v not in config_text for s in secrets.values() for v in s.get("data", {}).values())
    # the generated key is stored whole only in its own Secret; the tenants file holds its hash
    key = base64.b64decode(one(objects, "Secret", "-api-key")["data"]["api-key"]).decode()
    tenants_file = one(objects, "Secret", "-tenants")["stringData"]["tenants.yaml"]
    assert len(key) == 40 and key not in tenants_file and hash_key(key) in tenants_file
    for name, pod in pod_specs(objects).items():
        env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
        assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] in secrets, name


def test_an_existing_tenants_secret_is_used_and_nothing_is_generated():
    objects = render("--set", "tenants.existingSecret=team-tenants", "--set", "tenants.secretKey=teams.yaml")
    gateway = one(objects, "Deployment", "-gateway")["spec"]["template"]["spec"]
    (tenants,) = [v for v in gateway["volumes"] if v["name"] == "tenants"]
    assert tenants["secret"] == {"secretName": "team-tenants", "items": [{"key": "teams.yaml", "path": "tenants.yaml"}]}
    mount = [m for m in gateway["containers"][0]["volumeMounts"] if m["name"] == "tenants"]
    assert mount == [{"name": "tenants", "mountPath": "/etc/oss-cluster/tenants", "readOnly": True}]  # no subPath:
    assert list(by_kind(objects, "Secret")) == ["rel-oss-cluster-ray-token"]  # a Secret's updates reach the pod


def test_the_generated_tenant_gets_the_limits_asked_for(tmp_path):
    objects = render("--set", "tenants.generated.name=platform", "--set", "tenants.generated.tokens_per_minute=90000",
                     "--set", "tenants.generated.max_concurrent=16")
    path = tmp_path / "tenants.yaml"
    path.write_text(one(objects, "Secret", "-tenants")["stringData"]["tenants.yaml"])
    key = base64.b64decode(one(objects, "Secret", "-api-key")["data"]["api-key"]).decode()
    tenant = Tenants(str(path)).authenticate(f"Bearer {key}")
    assert (tenant.name, tenant.limits.tokens_per_minute, tenant.limits.max_concurrent,
            tenant.limits.requests_per_minute) == ("platform", 90000, 16, 0)


def test_workers_get_the_gpus_shared_memory_and_the_model_volume():
    objects = render(*EXAMPLES["gpt-oss-120b"])
    (group,) = by_kind(objects, "RayCluster")["rel-oss-cluster"]["spec"]["workerGroupSpecs"]
    pod = group["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 8
    assert container["resources"]["requests"]["nvidia.com/gpu"] == 8
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["dshm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "128Gi"}
    assert volumes["model"]["persistentVolumeClaim"] == {"claimName": "gpt-oss-120b", "readOnly": True}
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["model"] == {"name": "model", "mountPath": "/models", "readOnly": True}
    assert mounts["dshm"]["mountPath"] == "/dev/shm"
    cpu = render(*EXAMPLES["cpu"])
    (cpu_group,) = by_kind(cpu, "RayCluster")["rel-oss-cluster"]["spec"]["workerGroupSpecs"]
    assert "nvidia.com/gpu" not in cpu_group["template"]["spec"]["containers"][0]["resources"]["limits"]


def test_pods_run_as_non_root_with_a_read_only_root_filesystem(example):
    _, objects = example
    for name, pod in pod_specs(objects).items():
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True, name
        for container in pod["spec"]["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
            assert container["resources"]["limits"] and container["resources"]["requests"], name


def test_kuberays_autoscaler_derives_the_expected_node_types(example):
    name, objects = example
    (cluster,) = by_kind(objects, "RayCluster").values()
    cluster["metadata"]["namespace"] = "serving"
    derived = _derive_autoscaling_config_from_ray_cr(cluster)
    group = cluster["spec"]["workerGroupSpecs"][0]
    worker = derived["available_node_types"][group["groupName"]]
    gpus = {"default": 8, "gpt-oss-120b": 8, "cpu": 0}[name]
    assert (worker["min_workers"], worker["max_workers"]) == (group["minReplicas"], group["maxReplicas"])
    assert worker["resources"].get("GPU", 0) == gpus
    assert worker["resources"]["CPU"] > 0
    head = derived["available_node_types"]["headgroup"]
    assert head["resources"].get("CPU", 0) == 0 and head["resources"].get("GPU", 0) == 0  # no replica on the head
    assert derived["max_workers"] == group["maxReplicas"]
    assert derived["idle_timeout_minutes"] == pytest.approx(600 / 60)


@pytest.mark.parametrize("setting, named", [
    ("gateway.ports.grpc=70000", "/gateway/ports/grpc"),
    ("image.flavor=rocm", "/image/flavor"),
    ("ray.workers.gpus=-1", "/ray/workers/gpus"),
    ("monitoring.rules.ttftSloSeconds=3", "/monitoring/rules/ttftSloSeconds"),
    ("gateway.drainSecond=10", "drainSecond"),  # a misspelt key
    ("config.ray_address=10.0.0.1:6379", "/config/ray_address"),
])
def test_bad_values_are_refused_naming_the_value(setting, named):
    done = helm("template", "rel", str(CHART), "--set", setting)
    assert done.returncode != 0
    assert named in done.stderr, done.stderr


def test_operator_objects_render_only_where_the_operator_is_installed():
    plain = {o["kind"] for o in render()}
    assert not plain & {"ServiceMonitor", "PrometheusRule"}
    assert {"ServiceMonitor", "PrometheusRule"} <= {o["kind"] for o in render(*OPERATOR_APIS)}


def test_the_committed_dashboard_is_what_its_builder_writes(tmp_path):
    built = CHART / "dashboards" / "oss-cluster.json"
    copy = tmp_path / "build.py"
    shutil.copy(CHART / "dashboards" / "build.py", copy)
    done = subprocess.run([sys.executable, "-c", "import build; print(build.render(), end='')"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == built.read_text(), "run deploy/helm/oss-cluster/dashboards/build.py and commit its output"
    objects = render()
    board = json.loads(one(objects, "ConfigMap", "-dashboard")["data"]["oss-cluster.json"])
    assert board == json.loads(built.read_text())


def test_optional_parts_can_be_turned_off():
    objects = render("--set", "tenants.enabled=false", "--set", "gateway.auditLog=false",
                     "--set", "networkPolicy.enabled=false",
                     "--set", "gateway.autoscaling.enabled=false", "--set", "gateway.podDisruptionBudget.enabled=false",
                     "--set", "monitoring.dashboard.enabled=false", "--set", "gateway.replicas=3")
    kinds = {o["kind"] for o in objects}
    assert not kinds & {"NetworkPolicy", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    gateway = one(objects, "Deployment", "-gateway")
    assert gateway["spec"]["replicas"] == 3  # without the HPA the chart sets the count
    assert not [v for v in gateway["spec"]["template"]["spec"]["volumes"] if v["name"] == "tenants"]
    config = yaml.safe_load(one(objects, "ConfigMap", "-config")["data"]["cluster.yaml"])
    assert "tenants_file" not in config["gateway"] and "audit_log" not in config["gateway"]
    assert list(by_kind(objects, "Secret")) == ["rel-oss-cluster-ray-token"]
    assert list(by_kind(objects, "ConfigMap")) == ["rel-oss-cluster-config"]
    with_hpa = one(render(), "Deployment", "-gateway")
    assert "replicas" not in with_hpa["spec"]  # the HPA owns the count


def test_tls_from_a_secret_reaches_both_apis_and_mutual_tls_adds_its_ca(tmp_path):
    objects = render("--set", "gateway.tls.secretName=gw-tls", "--set", "gateway.tls.requireClientCert=true")
    config = yaml.safe_load(one(objects, "ConfigMap", "-config")["data"]["cluster.yaml"])["gateway"]
    assert (config["tls_cert_file"], config["tls_key_file"], config["tls_client_ca_file"]) == (
        "/etc/oss-cluster/tls/tls.crt", "/etc/oss-cluster/tls/tls.key", "/etc/oss-cluster/tls/ca.crt")
    pod = one(objects, "Deployment", "-gateway")["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "tls"]
    assert volume["secret"]["secretName"] == "gw-tls"
    mounts = pod["containers"][0]["volumeMounts"]
    assert {"name": "tls", "mountPath": "/etc/oss-cluster/tls", "readOnly": True} in mounts
    plain = yaml.safe_load(one(render(), "ConfigMap", "-config")["data"]["cluster.yaml"])["gateway"]
    assert not {"tls_cert_file", "tls_client_ca_file"} & set(plain)
    failed = helm("template", "rel", str(CHART), "--set", "gateway.tls.requireClientCert=true")
    assert failed.returncode != 0 and "gateway.tls.requireClientCert needs gateway.tls.secretName" in failed.stderr


def test_expert_parallel_groups_pack_onto_worker_pods_of_the_gpus_they_have(tmp_path):
    for values, gpus in ((["--set", "config.layout=dep8"], 8),
                         (["--set", "config.layout=dep4", "--set", "ray.workers.gpus=4"], 4),
                         (["--set", "config.layout=dep16", "--set", "config.gpus_per_node=4"], 4)):  # config says
        objects = render(*EXAMPLES["gpt-oss-120b"], *values)
        config = yaml.safe_load(one(objects, "ConfigMap", "-config")["data"]["cluster.yaml"])
        assert (config["layout"], config["gpus_per_node"]) == (values[1].split("=")[1], gpus)
    cpu = yaml.safe_load(one(render(*EXAMPLES["cpu"]), "ConfigMap", "-config")["data"]["cluster.yaml"])
    assert "gpus_per_node" not in cpu
