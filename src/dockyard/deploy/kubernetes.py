"""Kubernetes manifests for a deployment: a KServe InferenceService, or plain Deployments.

Pure functions of the deployment record: nothing here talks to a cluster.
:func:`render` turns a deployment into Kubernetes objects (dicts),
:func:`write_manifests` writes them as YAML for ``kubectl apply -f``, and
:func:`validate_manifests` checks them against the API schemas.

``kind="kserve"``
    A ``serving.kserve.io/v1alpha1`` ServingRuntime that runs the Dockyard
    server image (``dockyard serve /mnt/models``), and a
    ``serving.kserve.io/v1beta1`` InferenceService whose predictor names that
    runtime, the model's ``storageUri`` (KServe's storage initializer fetches
    the package to ``/mnt/models``), the replicas and a concurrency target.
    Both objects bear the deployment's name, so deployments never share (and
    overwrite) each other's runtime. The InferenceService asks for KServe's
    Serverless (Knative) mode: concurrency autoscaling, scale to zero and
    canaries exist only there.

    Canary: KServe splits traffic between the last revision rolled out at
    100% and the latest one, by ``canaryTrafficPercent``. So with a canary
    route the predictor *is the canary* (its model and storage URI) with
    ``canaryTrafficPercent`` = the canary's weight, and the stable version is
    whatever KServe rolled out before; the stable route is only recorded in
    the ``dockyard.dev/stable-model-uri`` annotation. Apply the stable
    manifests first (they exist before the canary is added); applied to an
    empty namespace, a canary manifest sends all traffic to the canary.
    Promoting renders the predictor without ``canaryTrafficPercent`` (100% to
    the latest revision); rolling back renders the stable model again.
    KServe splits between two revisions: one canary route at most.

``kind="plain"``
    No KServe needed: one ``apps/v1`` Deployment per served route (the stable
    one named after the deployment, a canary ``<name>-canary``), each with an
    ``autoscaling/v2`` HorizontalPodAutoscaler and a ``policy/v1``
    PodDisruptionBudget, and one ``v1`` Service (port 80 to 8080) over all of
    them. The Service balances over ready pods, so the split follows the pod
    counts: the route with the largest weight gets the deployment's replica
    range, the others a range scaled by their weight (at least one pod). A
    10% canary next to two stable pods therefore takes about a third of the
    traffic until the stable side scales out; use KServe (or a service mesh)
    for exact percentages. The HPAs scale on CPU utilization (70%): the
    concurrency target needs a custom-metrics adapter (Prometheus Adapter,
    KEDA) that plain manifests cannot assume. An HPA cannot scale to zero, so
    ``min_replicas=0`` becomes 1. Deployments leave ``replicas`` to their HPA:
    a ``replicas`` field would reset the scale on every ``kubectl apply``.

Both kinds: shadow routes are not rendered (neither KServe nor a Service
mirrors traffic; they are listed in the ``dockyard.dev/shadow-model-uris``
annotation), the container runs as user 10001 and meets the *restricted* Pod
Security Standard, probes ask ``/v2/health/ready`` and ``/v2/health/live`` on
port 8080, Prometheus finds ``/metrics`` there, and ``DOCKYARD_URI`` (plus
every other key, e.g. ``DOCKYARD_ARTIFACTS`` or S3 credentials) comes from
the Secret ``dockyard``: ``kubectl create secret generic dockyard
--from-literal=DOCKYARD_URI=https://dockyard.example.com``.

Validation: core kinds against the Kubernetes OpenAPI schemas that the
``kubernetes-validate`` package ships; the two KServe kinds against
``schemas/kserve.schema.json``, a closed JSON schema of the KServe fields
Dockyard renders, written from KServe's API types and CRDs (KServe ships
neither as a Python package), which refers to the same Kubernetes schemas
for the core types it embeds (Container, ObjectMeta, ResourceRequirements).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from dockyard._version import __version__
from dockyard.entities.deployment import Deployment, DeploymentSpec, Route, check_deployment_spec
from dockyard.errors import InvalidArgument, MissingExtra
from dockyard.files import fsync_dir

__all__ = [
    "DEFAULT_IMAGE",
    "KINDS",
    "KUBERNETES_VERSION",
    "SECRET_NAME",
    "StorageUri",
    "render",
    "validate_manifests",
    "write_manifests",
]

KINDS = ("kserve", "plain")
DEFAULT_IMAGE = f"dockyard-serve:{__version__}"
KUBERNETES_VERSION = "1.30"
"""The Kubernetes version :func:`validate_manifests` checks against by default."""
SECRET_NAME = "dockyard"
"""The Secret the server's environment comes from; its key ``DOCKYARD_URI`` is required."""

PORT = 8080
RUN_AS = 10001
CPU_UTILIZATION = 70
MODEL_FORMAT = "dockyard"
MANAGED = {"app.kubernetes.io/managed-by": "dockyard"}

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?\Z")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\Z")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?\Z")
_STORAGE_URI = re.compile(r"^[a-z][a-z0-9+.-]*://\S+\Z")
_IMAGE = re.compile(r"^[A-Za-z0-9][^\s]{0,1023}\Z")
_KSERVE_SCHEMA = "https://dockyard.dev/schemas/kserve.schema.json"
_K8S_DEFINITIONS = "https://kubernetes.io/api/_definitions.json"
StorageUri = str | Mapping[str, str]
"""A storage URI template, or a mapping from model URI (``models:/<name>/<version>``) to URI."""

_FILE_RANK = {"ServingRuntime": 10, "InferenceService": 20, "Service": 30, "Deployment": 40,
              "HorizontalPodAutoscaler": 50, "PodDisruptionBudget": 60}


def render(deployment: DeploymentSpec | Deployment, *, kind: str = "kserve",
           image: str | None = None, storage_uri: StorageUri | None = None,
           namespace: str | None = None) -> list[dict[str, Any]]:
    """The Kubernetes objects that run ``deployment`` (a DeploymentSpec or stored Deployment).

    ``kind`` is ``"kserve"`` (ServingRuntime and InferenceService) or
    ``"plain"`` (Deployments, HPAs, PDBs and a Service): see the module
    docstring for what each renders. ``image`` is the Dockyard server image
    (:data:`DEFAULT_IMAGE` by default). ``storage_uri`` is where KServe fetches
    the served package from (``s3://``, ``gs://``, ``pvc://`` ...), required
    for ``kserve``: a URI in which ``{name}`` and ``{version}`` are replaced by
    the route's model name and version, or a mapping from each route's model
    URI (``models:/churn/4``) to its location. With a canary the predictor
    serves the canary's package, so a URI without ``{name}`` or ``{version}``
    is refused there as ambiguous. The namespace is the deployment's
    ``config["namespace"]``, else ``namespace``, else ``default``.

    Raises InvalidArgument, saying what to change, when the deployment or an
    argument would make an object Kubernetes or KServe refuses.
    """
    spec = check_deployment_spec(deployment)
    ns = _namespace(spec, namespace)
    image = _image(image)
    if kind == "kserve":
        objects = _kserve(spec, ns, image, storage_uri)
    elif kind == "plain":
        if storage_uri is not None:
            raise InvalidArgument("storage_uri is for kind kserve: plain manifests run "
                                  "dockyard serve models:/<name>/<version>, which fetches the "
                                  "package from the record; leave --storage-uri out")
        objects = _plain(spec, ns, image)
    else:
        raise InvalidArgument(f"kind {kind!r:.40} is not one of {', '.join(KINDS)}")
    for obj in objects:
        _check_metadata(obj)
    return objects


def write_manifests(deployment: DeploymentSpec | Deployment, out_dir: str | os.PathLike[str], *,
                    kind: str = "kserve", image: str | None = None,
                    storage_uri: StorageUri | None = None,
                    namespace: str | None = None) -> list[Path]:
    """Write :func:`render`'s objects to ``out_dir``, one YAML file per object; their paths.

    Files are named ``<rank>-<kind>-<name>.yaml`` so that ``kubectl apply -f
    out_dir`` creates a ServingRuntime before the InferenceService naming it.
    Each file is replaced atomically. Files this function wrote earlier for
    the same deployment and namespace that the new render no longer has (a
    promoted canary's Deployment) are removed, so the folder mirrors the
    deployment; other files are left alone, and a file in the way that
    Dockyard did not write raises InvalidArgument.
    """
    objects = render(deployment, kind=kind, image=image, storage_uri=storage_uri,
                     namespace=namespace)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    name, ns = deployment.name, objects[0]["metadata"]["namespace"]
    revision = objects[0]["metadata"]["annotations"].get("dockyard.dev/revision")
    header = (f"# Rendered by Dockyard {__version__} from deployment {name}"
              + (f" (revision {revision})" if revision else "")
              + ": change the deployment and render again rather than editing this file.\n")
    wanted = {}
    for obj in objects:
        filename = f"{_FILE_RANK[obj['kind']]}-{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
        wanted[folder / filename] = obj
    for path in wanted:
        owner = _owner(path) if path.exists() else (name, ns)
        if owner is None:
            raise InvalidArgument(f"{path} exists and was not written by Dockyard; move it away "
                                  "or write the manifests to another folder")
        if owner != (name, ns):
            raise InvalidArgument(f"{path} belongs to deployment {owner[0]} in namespace "
                                  f"{owner[1]}, whose objects have the same names: write each "
                                  "deployment's manifests to its own folder")
    for path in sorted(folder.glob("*.yaml")):
        if path not in wanted and _owner(path) == (name, ns):
            path.unlink()
    for path, obj in wanted.items():
        _write_atomic(path, header + yaml.safe_dump(obj, sort_keys=False, width=100))
    fsync_dir(folder)
    return list(wanted)


def validate_manifests(objects: Iterable[dict[str, Any]], *,
                       kubernetes_version: str = KUBERNETES_VERSION) -> None:
    """Check each object against its API schema (strict: unknown fields fail) and its metadata.

    Core kinds go to ``kubernetes_validate``; InferenceService and
    ServingRuntime to the KServe schema shipped beside this module. Raises
    InvalidArgument naming the object and the field; MissingExtra when
    ``kubernetes-validate`` is not installed.
    """
    try:
        import jsonschema
        import kubernetes_validate
    except ImportError as exc:
        raise MissingExtra("validating manifests needs kubernetes-validate: "
                           "pip install 'dockyard[kubernetes]'") from exc
    kserve: dict[str, Any] = {}
    for obj in objects:
        what = f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
        try:
            if str(obj.get("apiVersion", "")).startswith("serving.kserve.io/"):
                kserve = kserve or _kserve_validators(kubernetes_version)
                if obj.get("kind") not in kserve:
                    raise InvalidArgument(f"{what}: Dockyard has no schema for this KServe kind")
                kserve[obj["kind"]].validate(obj)
            else:
                kubernetes_validate.validate(obj, kubernetes_version, strict=True)
        except jsonschema.ValidationError as exc:
            where = ".".join(str(p) for p in exc.absolute_path) or "(the object)"
            raise InvalidArgument(f"{what}: {where}: {exc.message}") from None
        except (kubernetes_validate.SchemaNotFoundError,
                kubernetes_validate.VersionNotSupportedError) as exc:
            raise InvalidArgument(f"{what}: {exc.message}") from None
        _check_metadata(obj)


# -- KServe ----------------------------------------------------------------------------------

def _kserve(spec: DeploymentSpec, ns: str, image: str,
            storage_uri: StorageUri | None) -> list[dict]:
    name = spec.name
    if not _DNS_1035.match(name):
        raise InvalidArgument(f"KServe needs an InferenceService name that starts with a letter; "
                              f"{name!r} does not: rename the deployment")
    host = f"{name}-predictor-{ns}"
    revision = f"{name}-predictor-00001"
    if max(len(host), len(revision)) > 63:
        raise InvalidArgument(
            f"KServe names the predictor's host {host!r} and its revisions like {revision!r}; "
            f"one has {max(len(host), len(revision))} characters, over the 63 of a DNS label: "
            "shorten the deployment name or the namespace")
    if storage_uri is None:
        raise InvalidArgument("kind kserve needs storage_uri: where KServe fetches the model "
                              "package from, e.g. s3://bucket/models/{name}/{version} (with "
                              "--storage-uri); or render kind plain, which fetches from the record")
    canaries = [r for r in spec.routes if r.role == "canary"]
    if len(canaries) > 1:
        raise InvalidArgument(f"{name} has {len(canaries)} canary routes, but KServe splits "
                              "traffic between two revisions only: keep one canary, or render "
                              "kind plain")
    stable = spec.stable
    served = canaries[0] if canaries else stable
    labels = {**_labels(spec), **_model_labels(served)}
    annotations = {**_annotations(spec, served),
                   "serving.kserve.io/deploymentMode": "Serverless",
                   "serving.kserve.io/enable-prometheus-scraping": "true"}
    predictor: dict[str, Any] = {
        "minReplicas": spec.scaling.min_replicas,
        "maxReplicas": spec.scaling.max_replicas,
        "scaleMetric": "concurrency",
        "scaleTarget": max(1, int(spec.scaling.target_concurrency + 0.5)),
    }
    if canaries:
        if isinstance(storage_uri, str) and "{name}" not in storage_uri \
                and "{version}" not in storage_uri:
            raise InvalidArgument(
                f"with a canary KServe's predictor serves the canary, {served.uri}, so one storage "
                f"URI {storage_uri!r:.200} is ambiguous: give a template with {{name}} and "
                "{version}, or a mapping from each route's model URI to its location")
        predictor["canaryTrafficPercent"] = served.weight
        annotations["dockyard.dev/stable-model-uri"] = stable.uri
        if isinstance(storage_uri, str) or stable.uri in storage_uri:
            annotations["dockyard.dev/stable-storage-uri"] = _storage_uri(storage_uri, stable)
    predictor["model"] = {
        "modelFormat": {"name": MODEL_FORMAT},
        "runtime": name,
        "protocolVersion": "v2",
        "storageUri": _storage_uri(storage_uri, served),
        "resources": _resources(spec),
    }
    container = {
        "name": "kserve-container",
        "image": image,
        "command": ["dockyard"],
        "args": ["serve", "/mnt/models", "--host", "0.0.0.0", "--port", str(PORT),
                 "--name", served.model_name, "--deployment", name, "--trust"],
        # Knative accepts only the port names http1 and h2c.
        "ports": [{"name": "http1", "containerPort": PORT, "protocol": "TCP"}],
        **_environment(),
        # Knative has no startup probe everywhere: the liveness delay covers the model load.
        "readinessProbe": _probe("/v2/health/ready", delay=5, period=5, failures=3),
        "livenessProbe": _probe("/v2/health/live", delay=30, period=10, failures=12),
        "securityContext": {**_container_security(), **_pod_security()},
    }
    runtime = {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "ServingRuntime",
        "metadata": _metadata(name, ns, labels, _annotations(spec, served)),
        "spec": {
            "supportedModelFormats": [{"name": MODEL_FORMAT, "autoSelect": False}],
            "protocolVersions": ["v2", "v1"],
            "multiModel": False,
            "annotations": {"prometheus.kserve.io/port": str(PORT),
                            "prometheus.kserve.io/path": "/metrics"},
            "containers": [container],
        },
    }
    service = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": _metadata(name, ns, labels, annotations),
        "spec": {"predictor": predictor},
    }
    return [runtime, service]


def _storage_uri(given: StorageUri, route: Route) -> str:
    if isinstance(given, str):
        uri = given.replace("{name}", route.model_name).replace("{version}", route.version)
        filled = f" (filled in for {route.uri})" if uri != given else ""
    elif isinstance(given, Mapping) and route.uri in given:
        uri, filled = given[route.uri], f" (for {route.uri})"
    else:
        raise InvalidArgument(f"storage_uri gives no location for {route.uri}: map each served "
                              "route's model URI (models:/<name>/<version>) to its location")
    if not isinstance(uri, str) or not _STORAGE_URI.match(uri):
        raise InvalidArgument(f"storage URI {uri!r:.200}{filled} is not a URI KServe can fetch: "
                              "give scheme://location without spaces, e.g. s3://bucket/churn/3, "
                              "gs://..., pvc://claim/path or https://...")
    return uri


# -- plain Kubernetes ------------------------------------------------------------------------

def _plain(spec: DeploymentSpec, ns: str, image: str) -> list[dict]:
    name = spec.name
    if not _DNS_1035.match(name):
        raise InvalidArgument(f"a Kubernetes Service name starts with a letter; {name!r} does "
                              "not: rename the deployment")
    # Weight 0 routes get no pods: a Service cannot send them anything.
    served = [r for r in spec.routes if r.role != "shadow" and r.weight > 0]
    anchor = max(served, key=lambda r: (r.weight, r.role == "stable"))
    low, high = max(1, spec.scaling.min_replicas), max(1, spec.scaling.max_replicas)
    objects: list[dict] = [_service(spec, ns)]
    canaries = 0
    for route in served:
        if route.role == "stable":
            key, object_name = "stable", name
        else:
            canaries += 1
            key = "canary" if canaries == 1 else f"canary-{canaries}"
            object_name = f"{name}-{key}"
        if len(object_name) > 63:
            raise InvalidArgument(f"the canary's Deployment would be named {object_name!r}, "
                                  f"{len(object_name)} characters; Kubernetes allows 63: use a "
                                  f"deployment name of at most {63 - len(object_name) + len(name)}")
        if route is anchor:
            replicas = (low, high)
        else:
            lo = max(1, int(low * route.weight / anchor.weight + 0.5))
            replicas = (lo, max(lo, int(high * route.weight / anchor.weight + 0.5)))
        selector = {"app.kubernetes.io/name": name, "dockyard.dev/route": key}
        objects += [_deployment(spec, ns, route, object_name, selector, image),
                    _autoscaler(spec, ns, route, object_name, replicas),
                    _disruption_budget(spec, ns, route, object_name, selector, replicas[0])]
    return objects


def _service(spec: DeploymentSpec, ns: str) -> dict:
    annotations = _annotations(spec, None)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(spec.name, ns, _labels(spec), annotations),
        "spec": {
            "type": "ClusterIP",
            "selector": {"app.kubernetes.io/name": spec.name},
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def _deployment(spec: DeploymentSpec, ns: str, route: Route, object_name: str,
                selector: dict[str, str], image: str) -> dict:
    labels = {**_labels(spec), **selector, **_model_labels(route)}
    container = {
        "name": "server",
        "image": image,
        "command": ["dockyard"],
        "args": ["serve", route.uri, "--host", "0.0.0.0", "--port", str(PORT),
                 "--deployment", spec.name],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        **_environment(),
        "resources": _resources(spec),
        # Fetching and loading a model can take minutes; the server listens only after it.
        "startupProbe": _probe("/v2/health/live", delay=5, period=5, failures=120),
        "readinessProbe": _probe("/v2/health/ready", delay=0, period=5, failures=3),
        "livenessProbe": _probe("/v2/health/live", delay=0, period=10, failures=3),
        "securityContext": _container_security(),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(object_name, ns, labels,
                              {**_annotations(spec, route),
                               "dockyard.dev/traffic-percent": str(route.weight)}),
        "spec": {
            "selector": {"matchLabels": selector},
            "revisionHistoryLimit": 5,
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                # No revision here: a change that keeps the model must not restart the pods.
                "metadata": {"labels": labels,
                             "annotations": {"prometheus.io/scrape": "true",
                                             "prometheus.io/port": str(PORT),
                                             "prometheus.io/path": "/metrics"}},
                "spec": {
                    "containers": [container],
                    "securityContext": {**_pod_security(), "fsGroup": RUN_AS},
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": 45,
                },
            },
        },
    }


def _autoscaler(spec: DeploymentSpec, ns: str, route: Route, object_name: str,
                replicas: tuple[int, int]) -> dict:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(object_name, ns, {**_labels(spec), **_model_labels(route)},
                              _annotations(spec, route)),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                               "name": object_name},
            "minReplicas": replicas[0],
            "maxReplicas": replicas[1],
            "metrics": [{"type": "Resource", "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": CPU_UTILIZATION}}}],
        },
    }


def _disruption_budget(spec: DeploymentSpec, ns: str, route: Route, object_name: str,
                       selector: dict[str, str], min_replicas: int) -> dict:
    # One pod must stay when there are several; a single pod may be evicted (drains go on).
    budget = {"minAvailable": 1} if min_replicas > 1 else {"maxUnavailable": 1}
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(object_name, ns, {**_labels(spec), **_model_labels(route)},
                              _annotations(spec, route)),
        "spec": {**budget, "selector": {"matchLabels": selector}},
    }


# -- shared pieces ---------------------------------------------------------------------------

def _metadata(name: str, ns: str, labels: dict[str, str],
              annotations: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "namespace": ns, "labels": labels, "annotations": annotations}


def _labels(spec: DeploymentSpec) -> dict[str, str]:
    return {"app.kubernetes.io/name": spec.name, **MANAGED,
            "dockyard.dev/environment": spec.environment}


def _model_labels(route: Route) -> dict[str, str]:
    labels = {"dockyard.dev/model": _label_value(route.model_name),
              "dockyard.dev/model-version": _label_value(route.version)}
    return {key: value for key, value in labels.items() if value}


def _label_value(text: str) -> str:
    """``text`` as a label value (63 characters of letters, digits, '-_.'); the exact text is
    in the ``dockyard.dev/model-uri`` annotation."""
    if _LABEL_VALUE.match(text):
        return text
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:63].strip("-_.")


def _annotations(spec: DeploymentSpec, route: Route | None) -> dict[str, str]:
    annotations = {"dockyard.dev/deployment": spec.name}
    if route is not None:
        annotations["dockyard.dev/model-uri"] = route.uri
    revision = getattr(spec, "revision", None)
    if revision is not None:
        annotations["dockyard.dev/revision"] = str(revision)
    shadows = [r.uri for r in spec.routes if r.role == "shadow"]
    if shadows:
        annotations["dockyard.dev/shadow-model-uris"] = ",".join(shadows)
    return annotations


def _environment() -> dict[str, Any]:
    return {
        "env": [
            {"name": "DOCKYARD_URI",
             "valueFrom": {"secretKeyRef": {"name": SECRET_NAME, "key": "DOCKYARD_URI"}}},
            {"name": "DOCKYARD_HOME", "value": "/tmp/dockyard"},
        ],
        "envFrom": [{"secretRef": {"name": SECRET_NAME}}],
    }


def _resources(spec: DeploymentSpec) -> dict[str, dict[str, str]]:
    # No CPU limit: CFS throttling shows up as tail latency; memory is limited to the request.
    requests = {"cpu": spec.resources.cpu, "memory": spec.resources.memory}
    limits = {"memory": spec.resources.memory}
    if spec.resources.gpu:
        requests["nvidia.com/gpu"] = limits["nvidia.com/gpu"] = str(spec.resources.gpu)
    return {"requests": requests, "limits": limits}


def _probe(path: str, *, delay: int, period: int, failures: int) -> dict[str, Any]:
    probe: dict[str, Any] = {"httpGet": {"path": path, "port": PORT}}
    if delay:
        probe["initialDelaySeconds"] = delay
    return {**probe, "periodSeconds": period, "timeoutSeconds": 2, "failureThreshold": failures}


def _pod_security() -> dict[str, Any]:
    return {"runAsNonRoot": True, "runAsUser": RUN_AS, "runAsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"}}


def _container_security() -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": False,
            "capabilities": {"drop": ["ALL"]}}


def _namespace(spec: DeploymentSpec, given: str | None) -> str:
    configured = spec.config.get("namespace")
    if configured is not None and given is not None and configured != given:
        raise InvalidArgument(f"deployment {spec.name} runs in namespace {configured!r} (its "
                              f"config says so), not {given!r}: leave --namespace out or change "
                              "the deployment's config")
    ns = configured if configured is not None else given if given is not None else "default"
    if not isinstance(ns, str) or not _DNS_LABEL.match(ns):
        raise InvalidArgument(f"namespace {ns!r:.80} is not valid: use up to 63 lowercase "
                              "letters, digits and '-', starting and ending with a letter or digit")
    return ns


def _image(image: str | None) -> str:
    if image is None:
        return DEFAULT_IMAGE
    if not isinstance(image, str) or not _IMAGE.match(image):
        raise InvalidArgument(f"image {image!r:.80} is not an image reference: give e.g. "
                              f"registry.example.com/{DEFAULT_IMAGE}")
    return image


def _check_metadata(obj: dict[str, Any]) -> None:
    """What the API server checks in metadata and the schemas do not: names, label syntax."""
    meta = obj["metadata"]
    what = f"{obj['kind']} {meta.get('name')!r}"
    if not isinstance(meta.get("name"), str) or not _DNS_LABEL.match(meta["name"]):
        raise InvalidArgument(f"{what}: the name is not a DNS label (63 lowercase letters, "
                              "digits and '-')")
    if not _DNS_LABEL.match(meta.get("namespace", "")):
        raise InvalidArgument(f"{what}: namespace {meta.get('namespace')!r} is not a DNS label")
    for field in ("labels", "annotations"):
        for key, value in (meta.get(field) or {}).items():
            prefix, _, short = key.rpartition("/")
            if (prefix and not _SUBDOMAIN.match(prefix)) or not short \
                    or not _LABEL_VALUE.match(short):
                raise InvalidArgument(f"{what}: {field[:-1]} key {key!r} is not valid")
            if not isinstance(value, str) or (field == "labels" and not _LABEL_VALUE.match(value)):
                raise InvalidArgument(f"{what}: label {key}={value!r} is not a valid value "
                                      "(63 letters, digits, '-', '_' and '.')")


def _kserve_validators(version: str) -> dict[str, Any]:
    """A strict validator per KServe kind, resolving core types in Kubernetes ``version``."""
    import jsonschema
    from referencing import Registry, Resource

    schema = json.loads(resources.files("dockyard.deploy").joinpath(
        "schemas", "kserve.schema.json").read_text(encoding="utf-8"))
    root = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")
    wanted = version.lstrip("v").split(".")[:2]
    folders = [f for f in root.iterdir()
               if f.name.endswith("-local-strict") and f.name[1:].split(".")[:2] == wanted]
    if not folders:
        raise InvalidArgument(f"kubernetes-validate has no schemas for Kubernetes {version}")
    definitions = json.loads(folders[0].joinpath("_definitions.json").read_text(encoding="utf-8"))
    registry = Registry().with_resources([
        (_KSERVE_SCHEMA, Resource.from_contents(schema)),
        (_K8S_DEFINITIONS, Resource.from_contents(definitions)),
    ])
    return {kind: jsonschema.Draft202012Validator({"$ref": f"{_KSERVE_SCHEMA}#/$defs/{kind}"},
                                                  registry=registry)
            for kind in ("InferenceService", "ServingRuntime")}


def _owner(path: Path) -> tuple[str, str] | None:
    """(deployment, namespace) of a manifest Dockyard wrote; None for any other file."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        meta = doc["metadata"]
        if meta["labels"]["app.kubernetes.io/managed-by"] == "dockyard":
            return meta["labels"]["app.kubernetes.io/name"], meta["namespace"]
    except (OSError, UnicodeDecodeError, yaml.YAMLError, KeyError, TypeError):
        pass
    return None


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
