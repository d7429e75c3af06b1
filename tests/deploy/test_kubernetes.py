"""Kubernetes manifests: every object passes its API schema, and says what the deployment says.

Core kinds are checked with ``kubernetes_validate`` (strict: unknown fields
fail) for an old, the default and the newest Kubernetes it ships; the KServe
kinds against the schema shipped in ``dockyard/deploy/schemas``, whose core
types resolve to the same Kubernetes definitions; metadata of every object
against the ObjectMeta definition and the name and label rules the API
server applies (which no schema spells out).
"""

from __future__ import annotations

import copy
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version
from referencing import Registry, Resource

from dockyard.deploy.kubernetes import (
    DEFAULT_IMAGE,
    KUBERNETES_VERSION,
    render,
    validate_manifests,
    write_manifests,
)
from dockyard.entities.deployment import Deployment, DeploymentSpec, Resources, Route, Scaling
from dockyard.errors import InvalidArgument

VERSIONS = ("1.27", KUBERNETES_VERSION, latest_version())
STORAGE = "s3://models/{name}/{version}"
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
QUALIFIED = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
KSERVE_KINDS = {"InferenceService", "ServingRuntime"}


def spec(**changes: Any) -> DeploymentSpec:
    base: dict[str, Any] = dict(
        name="churn", environment="prod", target="kubernetes",
        routes=[Route(model_name="churn", version="3")],
        scaling=Scaling(min_replicas=2, max_replicas=6, target_concurrency=8))
    return DeploymentSpec(**{**base, **changes})


def canary(weight: int = 10, **changes: Any) -> DeploymentSpec:
    return spec(routes=[Route(model_name="churn", version="3", weight=100 - weight),
                        Route(model_name="churn", version="4", weight=weight, role="canary"),
                        Route(model_name="churn", version="5", weight=0, role="shadow")],
                **changes)


def record(**changes: Any) -> Deployment:
    return Deployment(**canary().model_dump(), revision=7, observed_revision=6,
                      created_at=1, updated_at=2, **changes)


def rendered(deployment: DeploymentSpec, kind: str, **options: Any) -> dict[tuple[str, str], dict]:
    if kind == "kserve":
        options.setdefault("storage_uri", STORAGE)
    return {(o["kind"], o["metadata"]["name"]): o for o in render(deployment, kind=kind, **options)}


def check_metadata(obj: dict) -> None:
    """The rules the API server applies to metadata, written out here independently."""
    meta = obj["metadata"]
    name_rule = DNS_1035 if obj["kind"] in {"Service", *KSERVE_KINDS} else DNS_LABEL
    assert name_rule.fullmatch(meta["name"]) and len(meta["name"]) <= 63, meta["name"]
    assert DNS_LABEL.fullmatch(meta["namespace"]) and len(meta["namespace"]) <= 63
    for field in ("labels", "annotations"):
        for key, value in meta.get(field, {}).items():
            prefix, _, short = key.rpartition("/")
            assert not prefix or (SUBDOMAIN.fullmatch(prefix) and len(prefix) <= 253), key
            assert QUALIFIED.fullmatch(short) and len(short) <= 63, key
            assert isinstance(value, str), (key, value)
            if field == "labels":
                assert value == "" or (QUALIFIED.fullmatch(value) and len(value) <= 63), value


def object_meta_validator(version: str) -> jsonschema.Draft202012Validator:
    root = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")
    folder = next(f for f in root.iterdir() if f.name.startswith(f"v{version.split('.')[0]}."
                                                                 f"{version.split('.')[1]}.")
                  and f.name.endswith("-local-strict"))
    definitions = json.loads(folder.joinpath("_definitions.json").read_text())
    registry = Registry().with_resource(definitions["$id"], Resource.from_contents(definitions))
    return jsonschema.Draft202012Validator(
        {"$ref": f"{definitions['$id']}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
        registry=registry)


# -- every object against its schema ---------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("kind", ["kserve", "plain"])
@pytest.mark.parametrize("deployment", [spec(), canary(), record(), canary(weight=50),
                                        spec(resources=Resources(cpu="500m", memory="2Gi", gpu=1),
                                             scaling=Scaling(min_replicas=0, max_replicas=3),
                                             config={"namespace": "ml-prod"})],
                         ids=["stable", "canary", "record", "half", "gpu-scale-to-zero"])
def test_every_manifest_passes_its_schema(deployment: DeploymentSpec, kind: str,
                                          version: str) -> None:
    objects = list(rendered(deployment, kind).values())
    meta = object_meta_validator(version)
    for obj in objects:
        if obj["kind"] in KSERVE_KINDS:
            validate_manifests([obj], kubernetes_version=version)
            meta.validate(obj["metadata"])
        else:
            kubernetes_validate.validate(obj, version, strict=True)
        check_metadata(obj)
    validate_manifests(objects, kubernetes_version=version)


def test_the_kserve_schema_resolves_every_reference() -> None:
    schema = json.loads(resources.files("dockyard.deploy").joinpath(
        "schemas", "kserve.schema.json").read_text())
    assert "Apache License 2.0" in schema["$comment"] and "kserve/kserve" in schema["$comment"]
    root = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")
    for folder in root.iterdir():
        if not folder.name.endswith("-local-strict"):
            continue
        definitions = json.loads(folder.joinpath("_definitions.json").read_text())
        resolver = Registry().with_resources([
            (schema["$id"], Resource.from_contents(schema)),
            (definitions["$id"], Resource.from_contents(definitions))]).resolver(schema["$id"])
        refs = re.findall(r'"\$ref": "([^"]+)"', json.dumps(schema))
        assert refs
        for ref in refs:
            assert resolver.lookup(ref).contents, (folder.name, ref)


@pytest.mark.parametrize("mutate, field", [
    (lambda o: o["spec"]["predictor"]["model"].update(name="kserve-container"), "model"),
    (lambda o: o["spec"]["predictor"].update(scaleMetric="latency"), "scaleMetric"),
    (lambda o: o["spec"]["predictor"].update(canaryTrafficPercent=150), "canaryTrafficPercent"),
    (lambda o: o["spec"]["predictor"].update(scaleTarget="8"), "scaleTarget"),
    (lambda o: o["spec"]["predictor"]["model"].pop("modelFormat"), "model"),
    (lambda o: o["spec"]["predictor"].update(minReplica=2), "predictor"),
    (lambda o: o["spec"]["predictor"]["model"]["resources"].update(request={}), "resources"),
    (lambda o: o["metadata"].update(label={}), "metadata"),
])
def test_the_kserve_schema_refuses_what_kserve_refuses(mutate: Any, field: str) -> None:
    service = copy.deepcopy(rendered(spec(), "kserve")[("InferenceService", "churn")])
    validate_manifests([service])
    mutate(service)
    with pytest.raises(InvalidArgument, match=f"InferenceService/churn: .*{field}"):
        validate_manifests([service])


@pytest.mark.parametrize("mutate", [
    lambda c: c.update(readinessprobe={}),
    lambda c: c["readinessProbe"]["httpGet"].update(port=[8080]),
    lambda c: c.pop("name"),
    lambda c: c["securityContext"].update(runAsUser="10001"),
])
def test_the_runtime_container_is_checked_as_a_kubernetes_container(mutate: Any) -> None:
    runtime = copy.deepcopy(rendered(spec(), "kserve")[("ServingRuntime", "churn")])
    mutate(runtime["spec"]["containers"][0])
    with pytest.raises(InvalidArgument, match="ServingRuntime/churn: spec.containers.0"):
        validate_manifests([runtime])


def test_validate_manifests_refuses_bad_core_objects_and_bad_labels() -> None:
    objects = rendered(spec(), "plain")
    deployment = copy.deepcopy(objects[("Deployment", "churn")])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}
    with pytest.raises(InvalidArgument, match="Deployment/churn: spec.template.spec.containers"):
        validate_manifests([deployment])
    service = copy.deepcopy(objects[("Service", "churn")])
    service["metadata"]["labels"]["dockyard.dev/model"] = "not a label value"
    with pytest.raises(InvalidArgument, match="label dockyard.dev/model="):
        validate_manifests([service])


# -- KServe ----------------------------------------------------------------------------------

def test_kserve_renders_a_runtime_and_an_inference_service() -> None:
    objects = rendered(spec(), "kserve")
    assert set(objects) == {("ServingRuntime", "churn"), ("InferenceService", "churn")}
    service = objects[("InferenceService", "churn")]
    assert service["apiVersion"] == "serving.kserve.io/v1beta1"
    assert service["metadata"]["namespace"] == "default"
    assert service["metadata"]["labels"] == {
        "app.kubernetes.io/name": "churn", "app.kubernetes.io/managed-by": "dockyard",
        "dockyard.dev/environment": "prod", "dockyard.dev/model": "churn",
        "dockyard.dev/model-version": "3"}
    annotations = service["metadata"]["annotations"]
    assert annotations["dockyard.dev/model-uri"] == "models:/churn/3"
    assert annotations["serving.kserve.io/deploymentMode"] == "Serverless"
    predictor = service["spec"]["predictor"]
    assert predictor["minReplicas"] == 2 and predictor["maxReplicas"] == 6
    assert predictor["scaleMetric"] == "concurrency"
    assert predictor["scaleTarget"] == 8 and isinstance(predictor["scaleTarget"], int)
    assert "canaryTrafficPercent" not in predictor
    model = predictor["model"]
    assert model["storageUri"] == "s3://models/churn/3"
    assert model["protocolVersion"] == "v2"
    assert model["runtime"] == "churn"
    assert model["resources"] == {"requests": {"cpu": "1", "memory": "1Gi"},
                                  "limits": {"memory": "1Gi"}}
    runtime = objects[("ServingRuntime", model["runtime"])]
    formats = runtime["spec"]["supportedModelFormats"]
    assert [f["name"] for f in formats] == [model["modelFormat"]["name"]]
    assert formats[0]["autoSelect"] is False  # only InferenceServices naming it use it
    assert "v2" in runtime["spec"]["protocolVersions"]


def test_the_runtime_runs_dockyard_serve_as_a_non_root_user_with_probes() -> None:
    runtime = rendered(spec(), "kserve")[("ServingRuntime", "churn")]
    [container] = runtime["spec"]["containers"]
    assert container["name"] == "kserve-container"
    assert container["image"] == DEFAULT_IMAGE
    command = container["command"] + container["args"]
    assert command[:3] == ["dockyard", "serve", "/mnt/models"]
    joined = " ".join(command)
    assert "--host 0.0.0.0" in joined and "--port 8080" in joined
    assert "--deployment churn" in joined and "--name churn" in joined
    assert container["ports"] == [{"name": "http1", "containerPort": 8080, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": 8080}
    assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": 8080}
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] == 10001
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    [uri] = [e for e in container["env"] if e["name"] == "DOCKYARD_URI"]
    assert uri["valueFrom"]["secretKeyRef"] == {"name": "dockyard", "key": "DOCKYARD_URI"}
    assert runtime["spec"]["annotations"]["prometheus.kserve.io/path"] == "/metrics"


def test_a_kserve_canary_is_the_predictor_with_its_traffic_percent() -> None:
    objects = rendered(canary(), "kserve", image="registry.example.com/dockyard-serve:2")
    service = objects[("InferenceService", "churn")]
    predictor = service["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10
    assert predictor["model"]["storageUri"] == "s3://models/churn/4"
    annotations = service["metadata"]["annotations"]
    assert annotations["dockyard.dev/model-uri"] == "models:/churn/4"
    assert annotations["dockyard.dev/stable-model-uri"] == "models:/churn/3"
    assert annotations["dockyard.dev/stable-storage-uri"] == "s3://models/churn/3"
    assert service["metadata"]["labels"]["dockyard.dev/model-version"] == "4"
    runtime = objects[("ServingRuntime", "churn")]
    assert runtime["spec"]["containers"][0]["image"] == "registry.example.com/dockyard-serve:2"
    # The shadow is recorded, never served: no storage URI, no argument, no traffic.
    text = json.dumps(list(objects.values()))
    assert "churn/5" not in text.replace('"dockyard.dev/shadow-model-uris": "models:/churn/5"', "")
    assert annotations["dockyard.dev/shadow-model-uris"] == "models:/churn/5"


def test_storage_uris_can_be_given_per_model_version() -> None:
    locations = {"models:/churn/3": "s3://artifacts/7f3a/model", "models:/churn/4": "gs://b/9c1e"}
    service = rendered(canary(), "kserve", storage_uri=locations)[("InferenceService", "churn")]
    assert service["spec"]["predictor"]["model"]["storageUri"] == "gs://b/9c1e"
    annotations = service["metadata"]["annotations"]
    assert annotations["dockyard.dev/stable-storage-uri"] == "s3://artifacts/7f3a/model"
    only_canary = {"models:/churn/4": "gs://b/9c1e"}
    service = rendered(canary(), "kserve", storage_uri=only_canary)[("InferenceService", "churn")]
    assert "dockyard.dev/stable-storage-uri" not in service["metadata"]["annotations"]
    fixed = rendered(spec(), "kserve", storage_uri="pvc://models/churn-3")
    assert fixed[("InferenceService", "churn")]["spec"]["predictor"]["model"][
        "storageUri"] == "pvc://models/churn-3"


def test_scale_to_zero_and_a_fractional_concurrency_target_on_kserve() -> None:
    deployment = spec(scaling=Scaling(min_replicas=0, max_replicas=2, target_concurrency=2.6))
    predictor = rendered(deployment, "kserve")[("InferenceService", "churn")]["spec"]["predictor"]
    assert (predictor["minReplicas"], predictor["scaleTarget"]) == (0, 3)
    deployment = spec(scaling=Scaling(min_replicas=1, max_replicas=2, target_concurrency=0.2))
    predictor = rendered(deployment, "kserve")[("InferenceService", "churn")]["spec"]["predictor"]
    assert predictor["scaleTarget"] == 1


@pytest.mark.parametrize("deployment, options, message", [
    (spec(), {"storage_uri": None}, "kind kserve needs storage_uri"),
    (spec(), {"storage_uri": "models/churn"}, "is not a URI KServe can fetch"),
    (spec(), {"storage_uri": "s3://models/{name} final"}, "is not a URI KServe can fetch"),
    (canary(), {"storage_uri": "s3://models/churn/3"}, "serves the canary, models:/churn/4, so "
                                                       "one storage URI .* is ambiguous"),
    (canary(), {"storage_uri": {"models:/churn/3": "s3://models/churn/3"}},
     "gives no location for models:/churn/4"),
    (spec(), {"storage_uri": {"models:/churn/3": "churn/3"}},
     r"'churn/3' \(for models:/churn/3\) is not a URI"),
    (spec(name="7churn"), {}, "starts with a letter"),
    (spec(name="c" * 46), {}, "over the 63 of a DNS label"),
    (spec(name="c" * 48), {"namespace": "ml"}, "revisions like 'c+-predictor-00001'"),
    (spec(name="c" * 40), {"namespace": "n" * 20}, "shorten the deployment name or the namespace"),
    (spec(routes=[Route(model_name="churn", version="3", weight=80),
                  Route(model_name="churn", version="4", weight=10, role="canary"),
                  Route(model_name="churn", version="5", weight=10, role="canary")]), {},
     "2 canary routes"),
])
def test_kserve_refuses_what_kserve_would_refuse(deployment: DeploymentSpec,
                                                  options: dict, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        render(deployment, kind="kserve", **{"storage_uri": STORAGE, **options})


# -- plain Kubernetes ------------------------------------------------------------------------

def test_plain_renders_a_service_over_a_deployment_with_autoscaler_and_budget() -> None:
    objects = rendered(spec(), "plain")
    assert set(objects) == {("Service", "churn"), ("Deployment", "churn"),
                            ("HorizontalPodAutoscaler", "churn"), ("PodDisruptionBudget", "churn")}
    service, deployment = objects[("Service", "churn")], objects[("Deployment", "churn")]
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http",
                                         "protocol": "TCP"}]
    template = deployment["spec"]["template"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= template["metadata"][
        "labels"].items()
    assert service["spec"]["selector"].items() <= template["metadata"]["labels"].items()
    assert "replicas" not in deployment["spec"]  # the HPA owns the scale
    [container] = template["spec"]["containers"]
    assert container["command"] + container["args"] == [
        "dockyard", "serve", "models:/churn/3", "--host", "0.0.0.0", "--port", "8080",
        "--deployment", "churn"]
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": 8080}
    assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": 8080}
    assert container["startupProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert container["resources"]["requests"] == {"cpu": "1", "memory": "1Gi"}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    pod_security = template["spec"]["securityContext"]
    assert pod_security["runAsNonRoot"] is True and pod_security["runAsUser"] == 10001
    [uri] = [e for e in container["env"] if e["name"] == "DOCKYARD_URI"]
    assert uri["valueFrom"]["secretKeyRef"]["name"] == "dockyard"
    assert template["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true", "prometheus.io/port": "8080",
        "prometheus.io/path": "/metrics"}
    autoscaler = objects[("HorizontalPodAutoscaler", "churn")]["spec"]
    assert autoscaler["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                            "name": "churn"}
    assert (autoscaler["minReplicas"], autoscaler["maxReplicas"]) == (2, 6)
    assert autoscaler["metrics"][0]["resource"]["name"] == "cpu"
    budget = objects[("PodDisruptionBudget", "churn")]["spec"]
    assert budget == {"minAvailable": 1, "selector": deployment["spec"]["selector"]}


def test_a_plain_canary_is_a_second_deployment_behind_the_same_service() -> None:
    objects = rendered(canary(), "plain")
    assert {name for kind, name in objects if kind == "Deployment"} == {"churn", "churn-canary"}
    service = objects[("Service", "churn")]
    stable, new = objects[("Deployment", "churn")], objects[("Deployment", "churn-canary")]
    for deployment in (stable, new):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()
    assert stable["spec"]["selector"] != new["spec"]["selector"]
    assert new["spec"]["template"]["spec"]["containers"][0]["args"][1] == "models:/churn/4"
    assert new["metadata"]["annotations"]["dockyard.dev/traffic-percent"] == "10"
    scale = {name: (o["spec"]["minReplicas"], o["spec"]["maxReplicas"])
             for (kind, name), o in objects.items() if kind == "HorizontalPodAutoscaler"}
    assert scale == {"churn": (2, 6), "churn-canary": (1, 1)}
    assert objects[("PodDisruptionBudget", "churn-canary")]["spec"]["maxUnavailable"] == 1
    assert "models:/churn/5" not in json.dumps(
        [o["spec"] for o in objects.values()])  # the shadow gets no pods


def test_plain_replicas_follow_the_weights() -> None:
    half = rendered(canary(weight=50), "plain")
    assert half[("HorizontalPodAutoscaler", "churn")]["spec"]["minReplicas"] == 2
    assert half[("HorizontalPodAutoscaler", "churn-canary")]["spec"]["maxReplicas"] == 6
    most = rendered(canary(weight=75), "plain")
    scale = {name: (o["spec"]["minReplicas"], o["spec"]["maxReplicas"])
             for (kind, name), o in most.items() if kind == "HorizontalPodAutoscaler"}
    assert scale == {"churn-canary": (2, 6), "churn": (1, 2)}


def test_plain_cannot_scale_to_zero_and_keeps_one_pod() -> None:
    objects = rendered(spec(scaling=Scaling(min_replicas=0, max_replicas=3)), "plain")
    assert objects[("HorizontalPodAutoscaler", "churn")]["spec"]["minReplicas"] == 1
    assert objects[("PodDisruptionBudget", "churn")]["spec"]["maxUnavailable"] == 1


@pytest.mark.parametrize("deployment, options, message", [
    (spec(name="7churn"), {}, "starts with a letter"),
    (canary(name="c" * 60), {}, "at most 56"),
    (spec(), {"storage_uri": "s3://models/churn/3"}, "storage_uri is for kind kserve"),
])
def test_plain_refuses_what_kubernetes_would_refuse(deployment: DeploymentSpec, options: dict,
                                                    message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        render(deployment, kind="plain", **options)


def test_a_long_name_without_a_canary_is_fine_on_plain() -> None:
    objects = rendered(spec(name="c" * 63), "plain")
    assert all(name == "c" * 63 for _, name in objects)


# -- both ------------------------------------------------------------------------------------

def test_gpus_are_requested_and_limited() -> None:
    deployment = spec(resources=Resources(cpu="4", memory="16Gi", gpu=2))
    expected = {"requests": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "2"},
                "limits": {"memory": "16Gi", "nvidia.com/gpu": "2"}}
    service = rendered(deployment, "kserve")[("InferenceService", "churn")]
    assert service["spec"]["predictor"]["model"]["resources"] == expected
    pods = rendered(deployment, "plain")[("Deployment", "churn")]["spec"]["template"]["spec"]
    assert pods["containers"][0]["resources"] == expected


@pytest.mark.parametrize("kind", ["kserve", "plain"])
def test_label_values_stay_valid_for_any_model_name(kind: str) -> None:
    deployment = spec(routes=[Route(model_name="Churn model (EU) " + "x" * 80, version="3")])
    if kind == "kserve":
        with pytest.raises(InvalidArgument, match=r"\(filled in for models:/Churn model"):
            render(deployment, kind=kind, storage_uri=STORAGE)
    options = {"storage_uri": "s3://models/churn-eu/3"} if kind == "kserve" else {}
    for obj in rendered(deployment, kind, **options).values():
        check_metadata(obj)
        labels = obj["metadata"]["labels"]
        if "dockyard.dev/model" in labels:
            assert labels["dockyard.dev/model"].startswith("Churn-model-EU-xxx")
            assert len(labels["dockyard.dev/model"]) == 63
            assert obj["metadata"]["annotations"]["dockyard.dev/model-uri"].startswith(
                "models:/Churn model (EU) ")


def test_the_namespace_comes_from_the_config_else_the_argument() -> None:
    def namespaces(deployment: DeploymentSpec, **options: Any) -> set[str]:
        return {o["metadata"]["namespace"] for o in rendered(deployment, "plain", **options)
                .values()}

    assert namespaces(spec()) == {"default"}
    assert namespaces(spec(), namespace="ml") == {"ml"}
    assert namespaces(spec(config={"namespace": "ml-prod"})) == {"ml-prod"}
    assert namespaces(spec(config={"namespace": "ml-prod"}), namespace="ml-prod") == {"ml-prod"}
    with pytest.raises(InvalidArgument, match="runs in namespace 'ml-prod'"):
        render(spec(config={"namespace": "ml-prod"}), kind="plain", namespace="ml")
    with pytest.raises(InvalidArgument, match="namespace 'ML' is not valid"):
        render(spec(), kind="plain", namespace="ML")


def test_a_stored_deployment_records_its_revision_outside_the_pod_template() -> None:
    objects = rendered(record(), "plain")
    deployment = objects[("Deployment", "churn")]
    assert deployment["metadata"]["annotations"]["dockyard.dev/revision"] == "7"
    assert "dockyard.dev/revision" not in deployment["spec"]["template"]["metadata"][
        "annotations"]
    service = rendered(record(), "kserve")[("InferenceService", "churn")]
    assert service["metadata"]["annotations"]["dockyard.dev/revision"] == "7"


@pytest.mark.parametrize("options, message", [
    ({"kind": "helm"}, "kind 'helm' is not one of kserve, plain"),
    ({"kind": "plain", "image": "dockyard serve"}, "is not an image reference"),
    ({"kind": "plain", "image": ""}, "is not an image reference"),
])
def test_bad_arguments_say_what_to_give(options: dict, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        render(spec(), **options)


def test_an_invalid_deployment_is_refused_before_rendering() -> None:
    bad = spec(routes=[Route(model_name="churn", version="3", weight=90)])
    with pytest.raises(InvalidArgument, match="sum to 90"):
        render(bad, kind="plain")


# -- files -----------------------------------------------------------------------------------

def test_write_manifests_writes_one_yaml_file_per_object(tmp_path: Path) -> None:
    paths = write_manifests(record(), tmp_path / "k8s", storage_uri=STORAGE)
    assert [p.name for p in sorted(paths)] == ["10-servingruntime-churn.yaml",
                                               "20-inferenceservice-churn.yaml"]
    objects = render(record(), kind="kserve", storage_uri=STORAGE)
    for path, obj in zip(paths, objects, strict=True):
        text = path.read_text()
        assert text.startswith("# Rendered by Dockyard") and "(revision 7)" in text
        assert yaml.safe_load(text) == obj
    assert sorted(p.name for p in (tmp_path / "k8s").iterdir()) == sorted(p.name for p in paths)


def test_rewriting_after_a_promotion_removes_the_canary_and_keeps_other_files(
        tmp_path: Path) -> None:
    (tmp_path / "namespace.yaml").write_text("apiVersion: v1\nkind: Namespace\n")
    write_manifests(spec(name="other"), tmp_path, kind="plain")
    first = write_manifests(canary(), tmp_path, kind="plain")
    assert tmp_path / "40-deployment-churn-canary.yaml" in first
    promoted = spec(routes=[Route(model_name="churn", version="4")])
    second = write_manifests(promoted, tmp_path, kind="plain")
    names = {p.name for p in tmp_path.iterdir()}
    assert "40-deployment-churn-canary.yaml" not in names
    assert {p.name for p in second} <= names
    assert "namespace.yaml" in names and "40-deployment-other.yaml" in names
    text = (tmp_path / "40-deployment-churn.yaml").read_text()
    assert "models:/churn/4" in text


def test_write_manifests_leaves_a_file_it_did_not_write(tmp_path: Path) -> None:
    mine = tmp_path / "30-service-churn.yaml"
    mine.write_text("# my own service\nkind: Service\n")
    with pytest.raises(InvalidArgument, match="was not written by Dockyard"):
        write_manifests(spec(), tmp_path, kind="plain")
    assert mine.read_text() == "# my own service\nkind: Service\n"
    write_manifests(spec(), tmp_path / "ml", kind="plain", namespace="ml")
    with pytest.raises(InvalidArgument, match="belongs to deployment churn in namespace ml"):
        write_manifests(spec(), tmp_path / "ml", kind="plain")
