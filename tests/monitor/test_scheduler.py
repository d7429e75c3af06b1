"""The monitor schedule: due monitors run, others wait, a failing one does not stop the rest."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dockyard.client import Client
from dockyard.entities import now_ms
from dockyard.entities.monitoring import MonitorSpec
from dockyard.monitor.monitors import create_monitor
from dockyard.monitor.scheduler import MonitorScheduler
from tests.monitor.conftest import wait_until


def test_due_monitors_run_and_the_rest_wait(tmp_path: Path) -> None:
    client = Client(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "artifacts"))
    reference = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]})
    due = create_monitor(client, MonitorSpec(name="due", model_name="m"), reference)
    off = create_monitor(client, MonitorSpec(name="off", model_name="m", interval_seconds=0),
                         reference)
    recent = create_monitor(client, MonitorSpec(name="recent", model_name="m"), reference)
    client.set_monitor_run(recent.id, now_ms())
    scheduler = MonitorScheduler(client, url="http://dockyard.example")
    assert scheduler.run_due() == ["due"]
    assert client.get_monitor(due.id).last_run_at is not None
    assert client.get_monitor(off.id).last_run_at is None
    assert scheduler.run_due() == []  # ran a moment ago


def test_a_broken_monitor_does_not_stop_the_others(tmp_path: Path, caplog) -> None:
    client = Client(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "artifacts"))
    reference = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]})
    broken = create_monitor(client, MonitorSpec(name="a-broken", model_name="m"), reference)
    (tmp_path / "artifacts" / broken.reference / "reference.profile").write_bytes(b"garbage")
    create_monitor(client, MonitorSpec(name="b-fine", model_name="m"), reference)
    assert MonitorScheduler(client).run_due() == ["b-fine"]
    assert "a-broken failed: these bytes are not a Dockyard profile" in caplog.text


def test_the_thread_runs_on_its_tick_and_stops(tmp_path: Path) -> None:
    client = Client(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "artifacts"))
    monitor = create_monitor(client, MonitorSpec(name="m", model_name="m"),
                             pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]}))
    scheduler = MonitorScheduler(client, tick=0.05).start()
    try:
        wait_until(lambda: client.get_monitor(monitor.id).last_run_at, timeout=10)
    finally:
        scheduler.stop()
    assert not scheduler._thread.is_alive()


def test_a_failing_monitor_waits_for_its_next_interval(tmp_path: Path) -> None:
    client = Client(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "artifacts"))
    broken = create_monitor(client, MonitorSpec(name="broken", model_name="m"),
                            pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]}))
    (tmp_path / "artifacts" / broken.reference / "reference.profile").write_bytes(b"garbage")
    scheduler = MonitorScheduler(client)
    assert scheduler.run_due() == []
    assert client.get_monitor(broken.id).last_run_at is not None  # the attempt counts
    assert scheduler.run_due() == []
