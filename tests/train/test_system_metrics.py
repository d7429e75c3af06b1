"""System metrics and the hardware summary: real psutil sampling, real runs."""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import psutil
import pytest

import dockyard
from dockyard.errors import InvalidArgument
from dockyard.train.system import SystemMetricsMonitor, hardware_summary, hardware_tags

BASE_KEYS = {
    "system/cpu_percent", "system/memory_used_mb", "system/memory_percent",
    "system/disk_read_mb", "system/disk_write_mb", "system/disk_used_percent",
    "system/network_sent_mb", "system/network_received_mb",
}
HARDWARE_KEYS = {f"dockyard.hardware.{k}" for k in ("cpu", "cores", "memory_gb", "gpus", "os",
                                                    "host")}


class Samples:
    """A ``log`` function that keeps what it is given."""

    def __init__(self) -> None:
        self.got: list[tuple[dict[str, float], int, int]] = []

    def __call__(self, metrics: dict[str, float], step: int, timestamp_ms: int) -> None:
        self.got.append((metrics, step, timestamp_ms))

    @property
    def steps(self) -> list[int]:
        return [step for _, step, _ in self.got]


def _sampler_threads(run_id: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"dockyard-system-metrics-{run_id[:8]}"]


def _system_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records
            if r.name == "dockyard.system" and r.levelno == logging.WARNING]


# the monitor ------------------------------------------------------------------

def test_monitor_samples_every_interval() -> None:
    samples = Samples()
    before = int(time.time() * 1000)
    monitor = SystemMetricsMonitor(samples, interval=0.2).start()
    time.sleep(0.75)
    monitor.stop()
    assert not monitor.running
    assert len(samples.got) >= 2
    assert samples.steps == list(range(len(samples.got)))
    stamps = [ts for _, _, ts in samples.got]
    assert stamps == sorted(stamps) and stamps[0] >= before
    for metrics, _, _ in samples.got:
        assert set(metrics) == BASE_KEYS  # no GPU here, so no gpu_* metrics
        assert all(isinstance(value, float) for value in metrics.values())
        for key in ("system/cpu_percent", "system/memory_percent", "system/disk_used_percent"):
            assert 0.0 <= metrics[key] <= 100.0
        assert metrics["system/memory_used_mb"] > 0
        assert min(metrics.values()) >= 0.0


def test_io_counters_count_from_the_start(tmp_path: Path) -> None:
    samples = Samples()
    with SystemMetricsMonitor(samples, interval=0.2, path=tmp_path):
        # traffic over loopback shows up in the network counters
        import socket

        server = socket.create_server(("127.0.0.1", 0))
        client = socket.create_connection(server.getsockname())
        conn, _ = server.accept()
        client.sendall(b"x" * 2_000_000)
        received = 0
        while received < 2_000_000:
            received += len(conn.recv(1 << 20))
        for s in (client, conn, server):
            s.close()
        time.sleep(0.5)
    last = samples.got[-1][0]
    assert last["system/network_sent_mb"] >= 1.9 and last["system/network_received_mb"] >= 1.9
    sent = [m["system/network_sent_mb"] for m, _, _ in samples.got]
    assert sent == sorted(sent)  # totals since the start, never per-interval deltas


def test_stop_is_prompt_and_takes_a_final_sample() -> None:
    samples = Samples()
    monitor = SystemMetricsMonitor(samples, interval=60).start()
    time.sleep(1.05)  # the final sample covers at least a second
    started = time.monotonic()
    monitor.stop()
    assert time.monotonic() - started < 2.0  # an Event wakes the thread; no 60 s sleep
    assert not monitor.running
    assert samples.steps == [0] and set(samples.got[0][0]) == BASE_KEYS
    monitor.stop()  # twice is fine
    assert samples.steps == [0]


def test_a_blink_of_a_run_takes_no_final_sample() -> None:
    samples = Samples()
    monitor = SystemMetricsMonitor(samples, interval=60).start()
    monitor.stop()
    assert samples.got == [] and not monitor.running


def test_a_failing_psutil_call_warns_once_and_sampling_goes_on(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> Any:
        raise RuntimeError("no /proc/meminfo here")

    monkeypatch.setattr(psutil, "virtual_memory", broken)
    samples = Samples()
    with caplog.at_level(logging.WARNING, logger="dockyard.system"):
        monitor = SystemMetricsMonitor(samples, interval=0.2).start()
        time.sleep(0.75)
        monitor.stop()
    assert len(samples.got) >= 2
    assert samples.steps == list(range(len(samples.got)))
    for metrics, _, _ in samples.got:
        assert set(metrics) == BASE_KEYS - {"system/memory_used_mb", "system/memory_percent"}
    [warning] = _system_warnings(caplog)
    assert "memory" in warning.getMessage() and "no /proc/meminfo here" in warning.getMessage()


def test_a_failing_log_function_warns_once_and_sampling_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def refuse(metrics: dict[str, float], step: int, timestamp_ms: int) -> None:
        calls.append(step)
        raise ConnectionError("the store is away")

    with caplog.at_level(logging.WARNING, logger="dockyard.system"):
        monitor = SystemMetricsMonitor(refuse, interval=0.2).start()
        time.sleep(0.75)
        monitor.stop()  # never raises into the caller
    assert len(calls) >= 2 and calls == list(range(len(calls)))
    assert len(_system_warnings(caplog)) == 1


def test_interval_must_be_positive() -> None:
    for bad in (0, -1, float("nan"), "10", True):
        with pytest.raises(ValueError, match="interval"):
            SystemMetricsMonitor(Samples(), interval=bad)  # type: ignore[arg-type]


# the hardware summary ----------------------------------------------------------

def test_hardware_summary_describes_this_machine() -> None:
    summary = hardware_summary()
    assert summary["cpu"] and summary["cpu"] != "unknown"
    assert int(summary["logical_cores"]) == psutil.cpu_count()
    assert summary["cores"].startswith(f"{psutil.cpu_count()} logical")
    assert float(summary["memory_gb"]) == pytest.approx(psutil.virtual_memory().total / 2**30,
                                                        abs=0.05)
    assert summary["python"] == ".".join(map(str, sys.version_info[:3]))
    assert summary["os"] and summary["kernel"] in summary["os"] and summary["host"]
    assert summary["gpus"] == "none" and summary["gpu_count"] == "0"
    summary["cpu"] = "changed"  # callers get a copy of the cached summary
    assert hardware_summary()["cpu"] != "changed"
    assert set(hardware_tags()) == HARDWARE_KEYS


def _fake_pynvml(devices: int, init_error: bool = False) -> ModuleType:
    """A stand-in for the NVIDIA driver binding: this machine has no GPU."""
    nvml = ModuleType("pynvml")

    def init() -> None:
        if init_error:
            raise RuntimeError("NVML Shared Library Not Found")

    nvml.nvmlInit = init  # type: ignore[attr-defined]
    nvml.nvmlShutdown = lambda: None  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetCount = lambda: devices  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetHandleByIndex = lambda i: i  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetName = lambda h: b"Fake GPU"  # type: ignore[attr-defined]
    nvml.nvmlDeviceGetMemoryInfo = (  # type: ignore[attr-defined]
        lambda h: SimpleNamespace(total=16 * 2**30, used=(h + 1) * 512 * 2**20))
    nvml.nvmlDeviceGetUtilizationRates = (  # type: ignore[attr-defined]
        lambda h: SimpleNamespace(gpu=40 + h, memory=10))
    return nvml


@pytest.mark.parametrize("pynvml", [None, _fake_pynvml(0), _fake_pynvml(1, init_error=True)],
                         ids=["no-pynvml", "no-gpu", "no-driver"])
def test_no_gpu_is_fine(pynvml: ModuleType | None, monkeypatch: pytest.MonkeyPatch,
                        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", pynvml)  # None: "import pynvml" fails
    try:
        summary = hardware_summary(refresh=True)
        assert summary["gpus"] == "none" and summary["gpu_count"] == "0"
        samples = Samples()
        monitor = SystemMetricsMonitor(samples, interval=60).start()
        time.sleep(1.05)
        monitor.stop()
        assert set(samples.got[0][0]) == BASE_KEYS
        assert _system_warnings(caplog) == []
    finally:
        monkeypatch.undo()
        hardware_summary(refresh=True)


def test_gpus_are_described_and_sampled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", _fake_pynvml(2))
    try:
        summary = hardware_summary(refresh=True)
        assert summary["gpus"] == "2 x Fake GPU (16.0 GB)" and summary["gpu_count"] == "2"
        samples = Samples()
        monitor = SystemMetricsMonitor(samples, interval=0.2).start()
        time.sleep(0.3)
        monitor.stop()
        metrics = samples.got[0][0]
        assert metrics["system/gpu_0_utilization_percent"] == 40.0
        assert metrics["system/gpu_1_utilization_percent"] == 41.0
        assert metrics["system/gpu_0_memory_used_mb"] == 512.0
        assert metrics["system/gpu_1_memory_used_mb"] == 1024.0
    finally:
        monkeypatch.undo()
        hardware_summary(refresh=True)


# the fluent API ------------------------------------------------------------------

@pytest.fixture
def every_second(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKYARD_SYSTEM_METRICS_INTERVAL", "1")
    dockyard.set_experiment(f"system-{tmp_path.name}")


def test_a_run_records_system_metrics_and_a_nested_run_does_not(every_second: None) -> None:
    with dockyard.start_run(name="train") as run:
        assert len(_sampler_threads(run.id)) == 1
        with dockyard.start_run(name="fold-1", nested=True) as child:
            assert _sampler_threads(child.id) == []
            for step in range(22):  # training goes on while the sampler works
                dockyard.log_metric("loss", 1.0 / (step + 1))
                time.sleep(0.1)
    assert _sampler_threads(run.id) == []
    got = dockyard.get_run(run.id)
    assert BASE_KEYS <= set(got.metrics)
    client = dockyard.Client()
    for key in BASE_KEYS:
        history = client.get_metric_history(run.id, key)
        assert len(history.steps) >= 2
        assert history.steps == list(range(len(history.steps)))
    kid = dockyard.get_run(child.id)
    assert set(kid.metrics) == {"loss"} and kid.metrics["loss"].step == 21
    for r in (got, kid):  # the hardware summary is on every run
        assert HARDWARE_KEYS <= set(r.tags)
        assert r.tags["dockyard.hardware.gpus"] == "none"
        assert r.tags["dockyard.hardware.cpu"] == hardware_summary()["cpu"]


def test_log_system_metrics_false_turns_it_off(every_second: None) -> None:
    with dockyard.start_run(log_system_metrics=False) as run:
        assert _sampler_threads(run.id) == []
        time.sleep(1.1)
    got = dockyard.get_run(run.id)
    assert not [key for key in got.metrics if key.startswith("system/")]
    assert HARDWARE_KEYS <= set(got.tags)


def test_the_setting_decides_when_the_argument_is_not_given(
        every_second: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKYARD_SYSTEM_METRICS", "false")
    with dockyard.start_run() as run:
        assert _sampler_threads(run.id) == []
    with dockyard.start_run(log_system_metrics=True) as run:  # the argument wins
        assert len(_sampler_threads(run.id)) == 1
    monkeypatch.setenv("DOCKYARD_SYSTEM_METRICS", "true")
    with dockyard.start_run():
        with dockyard.start_run(nested=True) as child:  # "true" samples nested runs too
            assert len(_sampler_threads(child.id)) == 1
    monkeypatch.setenv("DOCKYARD_SYSTEM_METRICS", "auto")
    with dockyard.start_run() as run:
        assert len(_sampler_threads(run.id)) == 1


def test_user_tags_win_over_the_hardware_summary(every_second: None) -> None:
    with dockyard.start_run(tags={"dockyard.hardware.host": "node-7"},
                            log_system_metrics=False) as run:
        pass
    assert dockyard.get_run(run.id).tags["dockyard.hardware.host"] == "node-7"


@pytest.mark.parametrize("env, value, match", [
    ("DOCKYARD_SYSTEM_METRICS_INTERVAL", "0.5", "minimum is 1"),
    ("DOCKYARD_SYSTEM_METRICS_INTERVAL", "ten", "not a number"),
    ("DOCKYARD_SYSTEM_METRICS_INTERVAL", "-3", "positive"),
    ("DOCKYARD_SYSTEM_METRICS", "sometimes", "true, false or auto"),
])
def test_bad_settings_are_clear_errors(env: str, value: str, match: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(InvalidArgument, match=match) as caught:
        dockyard.start_run()
    assert env in str(caught.value)
    assert dockyard.active_run() is None


@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt])
def test_the_sampler_stops_however_the_run_ends(every_second: None,
                                                error: type[BaseException]) -> None:
    with pytest.raises(error):
        with dockyard.start_run() as run:
            assert len(_sampler_threads(run.id)) == 1
            raise error("stop")
    assert _sampler_threads(run.id) == []
    expected = "FAILED" if error is ValueError else "KILLED"
    assert dockyard.get_run(run.id).status.value == expected
    run = dockyard.start_run()
    assert len(_sampler_threads(run.id)) == 1
    dockyard.end_run()
    assert _sampler_threads(run.id) == []


def test_a_sampling_error_does_not_stop_training(
        every_second: None, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    def broken(path: str) -> Any:
        raise PermissionError(path)

    monkeypatch.setattr(psutil, "disk_usage", broken)
    with caplog.at_level(logging.WARNING, logger="dockyard.system"):
        with dockyard.start_run() as run:
            for step in range(22):
                dockyard.log_metric("loss", 1.0 / (step + 1))
                time.sleep(0.1)
    got = dockyard.get_run(run.id)
    assert got.status.value == "FINISHED" and got.metrics["loss"].step == 21
    assert "system/disk_used_percent" not in got.metrics
    assert BASE_KEYS - {"system/disk_used_percent"} <= set(got.metrics)
    assert got.metrics["system/cpu_percent"].step >= 1
    assert len(_system_warnings(caplog)) == 1
