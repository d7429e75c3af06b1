"""Serve: the inference server for model packages.

Protocols (Open Inference Protocol v2, KServe v1, ``/invocations``), input
validation against the model's signature, adaptive batching, Prometheus
metrics and the prediction log.
"""
