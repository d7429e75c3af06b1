"""What a run records about the machine: a hardware summary and system metrics.

:func:`hardware_summary` describes the machine once per process (CPU model,
cores, memory, GPUs, OS, host); the fluent API stores it on every new run as
``dockyard.hardware.*`` tags (see :func:`hardware_tags`).

:class:`SystemMetricsMonitor` samples CPU, memory, disk, network and (with
``pynvml`` and a GPU) GPU use from a daemon thread and hands each sample to a
``log`` function as ``system/*`` metrics. A sample is a handful of psutil
calls that read counters from ``/proc`` and ``/sys``: no subprocess, no
sleeping in the sampler, so its cost is far below a percent of one core at
the default interval of ten seconds.

Tracking must never break training: every failure inside the monitor is
logged once as a warning and sampling goes on without the part that failed.
"""

from __future__ import annotations

import atexit
import functools
import logging
import math
import os
import platform
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil

log = logging.getLogger("dockyard.system")

MB = 1024 * 1024  # binary units, as `free` and `nvidia-smi` print them
GB = 1024 * MB
HARDWARE_TAG_PREFIX = "dockyard.hardware."
HARDWARE_TAGS = ("cpu", "cores", "memory_gb", "gpus", "os", "host")
"""The keys of :func:`hardware_summary` stored as ``dockyard.hardware.<key>`` tags."""

LogFn = Callable[[dict[str, float], int, int], None]
"""``log(metrics, step, timestamp_ms)``: where a monitor sends each sample."""


# the hardware summary ---------------------------------------------------------

def _guard(default: str, read: Callable[[], str | None]) -> str:
    try:
        return read() or default
    except Exception:  # a summary with a gap beats a run that cannot start
        return default


def _cpu_model() -> str | None:
    if platform.system() == "Linux":
        try:
            text = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            text = ""
        for field in ("model name", "Hardware", "Processor", "cpu model"):
            for line in text.splitlines():
                name, _, value = line.partition(":")
                if name.strip() == field and value.strip():
                    return value.strip()
    return platform.processor() or platform.machine() or None


def _os_name() -> str:
    system, kernel = platform.system(), platform.release()
    distro = None
    if system == "Linux":
        try:
            distro = platform.freedesktop_os_release().get("PRETTY_NAME")
        except OSError:
            distro = None
    elif system == "Darwin":
        distro = f"macOS {platform.mac_ver()[0]}"
    elif system == "Windows":
        distro = f"Windows {platform.version()}"
    kernel_text = f"{system} {kernel}".strip()
    return f"{distro}, {kernel_text}" if distro else kernel_text


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def gpu_devices() -> list[tuple[str, float]]:
    """``(name, memory in GB)`` of each NVIDIA GPU, or ``[]`` without pynvml or a GPU."""
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except Exception:  # pynvml installed but no driver, or no GPU
        return []
    try:
        devices = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle).total / GB
            devices.append((_text(pynvml.nvmlDeviceGetName(handle)), memory))
        return devices
    except Exception as exc:
        log.warning("dockyard: could not read the GPUs through pynvml: %s", exc)
        return []
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # nothing to release
            pass


def _gpus_text(devices: list[tuple[str, float]]) -> str:
    if not devices:
        return "none"
    counts = Counter(f"{name} ({memory:.1f} GB)" for name, memory in devices)
    return ", ".join(text if n == 1 else f"{n} x {text}" for text, n in counts.items())


@functools.cache
def _summary() -> dict[str, str]:
    logical = _guard("unknown", lambda: str(psutil.cpu_count(logical=True) or ""))
    physical = _guard("unknown", lambda: str(psutil.cpu_count(logical=False) or ""))
    devices = gpu_devices()
    return {
        "cpu": _guard("unknown", _cpu_model),
        "cores": f"{logical} logical, {physical} physical",
        "logical_cores": logical,
        "physical_cores": physical,
        "memory_gb": _guard("unknown", lambda: f"{psutil.virtual_memory().total / GB:.1f}"),
        "gpus": _gpus_text(devices),
        "gpu_count": str(len(devices)),
        "os": _guard(platform.system() or "unknown", _os_name),
        "kernel": _guard("unknown", platform.release),
        "python": platform.python_version(),
        "host": _guard("unknown", socket.gethostname),
    }


def hardware_summary(refresh: bool = False) -> dict[str, str]:
    """Describe this machine: CPU model, cores, memory, GPUs, OS, Python, host.

    Read once per process (the machine does not change under a running
    process; ``refresh=True`` reads it again) and never raises: a part that
    cannot be read is ``"unknown"``.
    Memory is in GB of 2**30 bytes; ``gpus`` is ``"none"`` without pynvml or
    an NVIDIA GPU, else e.g. ``"2 x NVIDIA A100-SXM4-40GB (40.0 GB)"``.
    """
    if refresh:
        _summary.cache_clear()
    return dict(_summary())


def hardware_tags() -> dict[str, str]:
    """The summary as run tags: ``dockyard.hardware.cpu``, ``.cores``, ``.memory_gb`` ..."""
    summary = hardware_summary()
    return {HARDWARE_TAG_PREFIX + key: summary[key] for key in HARDWARE_TAGS}


# system metrics ----------------------------------------------------------------

def _cpu_total(times: Any) -> float:
    # guest time is already counted in user time on Linux (as psutil.cpu_percent does)
    return sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)


def _cpu_busy(times: Any) -> float:
    return _cpu_total(times) - times.idle - getattr(times, "iowait", 0.0)


class _Gpus:
    """NVML handles, opened once per monitor."""

    def __init__(self) -> None:
        import pynvml

        self.nvml = pynvml
        pynvml.nvmlInit()
        self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i)
                        for i in range(pynvml.nvmlDeviceGetCount())]

    def read(self, into: dict[str, float]) -> None:
        for i, handle in enumerate(self.handles):
            rates = self.nvml.nvmlDeviceGetUtilizationRates(handle)
            into[f"system/gpu_{i}_utilization_percent"] = float(rates.gpu)
            memory = self.nvml.nvmlDeviceGetMemoryInfo(handle)
            into[f"system/gpu_{i}_memory_used_mb"] = memory.used / MB

    def close(self) -> None:
        try:
            self.nvml.nvmlShutdown()
        except Exception:  # nothing to release
            pass


class SystemMetricsMonitor:
    """Sample the machine every ``interval`` seconds from a daemon thread.

    Each sample calls ``log(metrics, step, timestamp_ms)`` with ``system/*``
    metrics: ``cpu_percent`` (the whole machine, 0-100), ``memory_used_mb``,
    ``memory_percent``, ``disk_read_mb``/``disk_write_mb`` and
    ``network_sent_mb``/``network_received_mb`` (since :meth:`start`),
    ``disk_used_percent`` (of the filesystem holding ``path``, by default the
    working directory) and, per GPU, ``gpu_<i>_utilization_percent`` and
    ``gpu_<i>_memory_used_mb``. ``step`` counts samples from ``first_step``.

    :meth:`stop` ends the thread at once and takes a final sample covering
    the time since the last one, unless that stretch is shorter than
    ``min(interval, 1)`` seconds (a percentage over a few milliseconds says
    nothing about training). Neither the thread nor :meth:`stop` raise: a
    failing part (say the disk counters in a container) is logged once as a
    warning and the other metrics go on.
    """

    def __init__(self, log: LogFn, interval: float = 10.0, *, first_step: int = 0,
                 path: str | os.PathLike[str] | None = None, gpus: bool = True,
                 name: str = "dockyard-system-metrics") -> None:
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) \
                or not math.isfinite(interval) or interval <= 0:
            raise ValueError(f"interval must be a positive number of seconds, got {interval!r}")
        self.log = log
        self.interval = float(interval)
        self.step = first_step
        self.path = str(path) if path is not None else os.getcwd()
        self._want_gpus = gpus
        self._name = name
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one sample at a time: the thread's or stop()'s
        self._thread: threading.Thread | None = None
        self._warned: set[str] = set()
        self._gpus: _Gpus | None = None
        self._cpu: Any = None
        self._disk: Any = None
        self._net: Any = None
        self._last = 0.0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> SystemMetricsMonitor:
        """Read the baselines and start sampling; returns the monitor."""
        if self._thread is not None:
            return self
        self._cpu = self._part("cpu", psutil.cpu_times)
        self._disk = self._part("disk_io", psutil.disk_io_counters)
        self._net = self._part("network", psutil.net_io_counters)
        if self._want_gpus:
            self._gpus = self._part("gpu", _open_gpus)
        self._last = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()
        atexit.register(self._at_exit)  # exit without end_run: still keep the last sample
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop sampling, take the final sample and release the GPUs; never raises."""
        try:
            if self._thread is None or self._stop.is_set():
                return
            self._stop.set()
            atexit.unregister(self._at_exit)
            self._thread.join(timeout)
            # a sampler stuck in ``log`` keeps the lock: skip the final sample, never hang
            if self._lock.acquire(timeout=timeout):
                try:
                    if time.monotonic() - self._last >= min(self.interval, 1.0):
                        self._sample()
                finally:
                    self._lock.release()
            if self._gpus is not None:
                self._gpus.close()
        except Exception as exc:
            self._warn_once("stop", exc)

    def __enter__(self) -> SystemMetricsMonitor:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _at_exit(self) -> None:
        self.stop(timeout=1.0)

    # the sampler ---------------------------------------------------------------
    def _run(self) -> None:
        started = time.monotonic()
        ticks = 0
        while True:
            ticks += 1
            # a fixed schedule: a slow sample does not push every later one back
            if self._stop.wait(max(0.0, started + ticks * self.interval - time.monotonic())):
                return
            with self._lock:
                if self._stop.is_set():
                    return
                self._sample(from_thread=True)

    def _sample(self, from_thread: bool = False) -> None:
        self._last = time.monotonic()
        try:
            metrics = self.read()
            if from_thread and self._stop.is_set():
                return  # stop() gave up waiting for this sample; the run may have ended
            if metrics:
                self.log(metrics, self.step, int(time.time() * 1000))
        except Exception as exc:
            self._warn_once("log", exc)
        self.step += 1

    def read(self) -> dict[str, float]:
        """One sample, as the metrics dict handed to ``log`` (parts that fail are left out)."""
        out: dict[str, float] = {}
        for part, reader in (("cpu", self._read_cpu), ("memory", _read_memory),
                             ("disk_io", self._read_disk), ("disk_usage", self._read_usage),
                             ("network", self._read_net), ("gpu", self._read_gpus)):
            self._part(part, reader, out)
        return {k: float(x) for k, x in out.items() if math.isfinite(x)}

    def _read_cpu(self, out: dict[str, float]) -> None:
        now = psutil.cpu_times()
        if self._cpu is not None:
            total = _cpu_total(now) - _cpu_total(self._cpu)
            busy = _cpu_busy(now) - _cpu_busy(self._cpu)
            percent = 100.0 * busy / total if total > 0 else 0.0
            out["system/cpu_percent"] = round(min(100.0, max(0.0, percent)), 2)
        self._cpu = now

    def _read_disk(self, out: dict[str, float]) -> None:
        now = psutil.disk_io_counters()
        if now is None:  # no disks visible (some containers)
            return
        if self._disk is None:
            self._disk = now
        out["system/disk_read_mb"] = max(0, now.read_bytes - self._disk.read_bytes) / MB
        out["system/disk_write_mb"] = max(0, now.write_bytes - self._disk.write_bytes) / MB

    def _read_usage(self, out: dict[str, float]) -> None:
        out["system/disk_used_percent"] = psutil.disk_usage(self.path).percent

    def _read_net(self, out: dict[str, float]) -> None:
        now = psutil.net_io_counters()
        if now is None:
            return
        if self._net is None:
            self._net = now
        out["system/network_sent_mb"] = max(0, now.bytes_sent - self._net.bytes_sent) / MB
        out["system/network_received_mb"] = max(0, now.bytes_recv - self._net.bytes_recv) / MB

    def _read_gpus(self, out: dict[str, float]) -> None:
        if self._gpus is not None:
            self._gpus.read(out)

    def _part(self, part: str, reader: Callable[..., Any], *args: Any) -> Any:
        try:
            return reader(*args)
        except Exception as exc:
            self._warn_once(part, exc)
            return None

    def _warn_once(self, part: str, exc: BaseException) -> None:
        if part in self._warned:
            log.debug("dockyard: system metrics (%s) failed again: %r", part, exc)
            return
        self._warned.add(part)
        log.warning("dockyard: system metrics: %s failed (%r); sampling goes on without it",
                    _WHAT.get(part, part), exc)


_WHAT = {"log": "sending a sample", "stop": "stopping the monitor", "gpu": "reading the GPUs",
         "disk_io": "reading disk I/O", "disk_usage": "reading disk usage",
         "network": "reading network I/O", "cpu": "reading CPU times",
         "memory": "reading memory"}


def _read_memory(out: dict[str, float]) -> None:
    memory = psutil.virtual_memory()
    # used = total - available, so that used / total matches psutil's percent
    out["system/memory_used_mb"] = (memory.total - memory.available) / MB
    out["system/memory_percent"] = memory.percent


def _open_gpus() -> _Gpus | None:
    try:
        gpus = _Gpus()
    except Exception:  # no pynvml, or no driver or GPU: nothing to sample
        return None
    if not gpus.handles:
        gpus.close()
        return None
    return gpus
