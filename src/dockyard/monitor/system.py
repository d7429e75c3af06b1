"""System health of the model servers from Prometheus: requests and the share that failed.

The prediction log holds answered predictions only, so failed requests are
counted where they happen: ``dockyard serve`` exports
``dockyard_serve_requests_total`` by model, version (and deployment) and
status code, and a
Prometheus that scrapes the servers (``DOCKYARD_PROMETHEUS_URL``) adds them
up over a window with ``increase(...[window] @ end)``. Every server of the
model version counts, across replicas and restarts. ``increase`` extrapolates
from the scrapes inside the window to its edges, so counts are estimates:
within a scrape interval's worth of traffic of the truth.

``error_rate`` is the share of requests answered 5xx (the server's or the
model's failure); ``client_error_rate`` the share answered 4xx (callers'
mistakes, such as inputs that do not match the signature).
"""

from __future__ import annotations

import httpx

from dockyard.errors import StoreError

__all__ = ["serving_health"]

_TIMEOUT = 10.0


def _selector(model: str, version: str | None, status: str | None,
              deployment: str | None = None) -> str:
    def quote(value: str) -> str:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    labels = [f"model={quote(model)}"]
    if version is not None:
        labels.append(f"version={quote(version)}")
    if deployment is not None:
        labels.append(f"deployment={quote(deployment)}")
    if status is not None:
        labels.append(f"status=~{quote(status)}")
    return "{" + ",".join(labels) + "}"


def serving_health(url: str, model: str, version: str | None, start: int,
                   end: int, deployment: str | None = None) -> dict[str, float | None]:
    """Requests, ``error_rate`` and ``client_error_rate`` of ``[start, end)`` (ms).

    ``deployment`` counts only the servers of that deployment (``dockyard
    serve --deployment``, which the local and Kubernetes targets pass).

    Rates are None when there were no requests. Raises StoreError naming the
    Prometheus and what it said when it cannot answer.
    """
    seconds = max(int((end - start) / 1000), 1)
    at = end / 1000
    counts: dict[str, float] = {}
    with httpx.Client(base_url=url.rstrip("/"), timeout=_TIMEOUT) as http:
        for name, status in (("requests", None), ("errors", "5.."), ("client_errors", "4..")):
            query = (f"sum(increase(dockyard_serve_requests_total"
                     f"{_selector(model, version, status, deployment)}[{seconds}s] @ {at:.3f}))")
            try:
                answer = http.get("/api/v1/query", params={"query": query, "time": at})
            except httpx.HTTPError as exc:
                raise StoreError(f"cannot reach Prometheus at {url}: {exc}") from exc
            body = answer.json() if answer.headers.get("content-type", "").startswith(
                "application/json") else {}
            if answer.status_code != 200 or body.get("status") != "success":
                raise StoreError(f"Prometheus at {url} refused {query!r}: "
                                 f"{body.get('error') or answer.text[:200]}")
            result = body["data"]["result"]
            counts[name] = float(result[0]["value"][1]) if result else 0.0
    requests = counts["requests"]
    return {
        "requests": requests,
        "error_rate": counts["errors"] / requests if requests > 0 else None,
        "client_error_rate": counts["client_errors"] / requests if requests > 0 else None,
    }
