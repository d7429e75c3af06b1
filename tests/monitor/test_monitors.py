"""A monitor over a real prediction log: windows, drift, late labels, cohorts and alerts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dockyard.client import Client
from dockyard.entities.monitoring import MonitorSpec, Rule
from dockyard.errors import InvalidArgument
from dockyard.monitor.monitors import create_monitor, feature_histogram, run_monitor
from dockyard.serve.predlog import PredictionBatch, PredictionLog
from dockyard.store.artifacts import artifact_store_for

HOUR = 3_600_000
T0 = 1_795_000_000_000 - 1_795_000_000_000 % HOUR  # the start of an hour
N = 400


def frame(rng: np.random.Generator, n: int, *, shifted: bool = False) -> pd.DataFrame:
    age = rng.normal(60 if shifted else 40, 8, n)
    plan = rng.choice(["basic", "pro", "team"], n, p=[0.2, 0.2, 0.6] if shifted
                      else [0.6, 0.3, 0.1])
    income = rng.normal(50, 10, n)
    target = (age + rng.normal(0, 5, n) > 45).astype(int)
    return pd.DataFrame({"age": age, "plan": plan, "income": income, "target": target})


def log_window(root: str, spool: Path, data: pd.DataFrame, start: int, *,
               good_model: bool) -> list[str]:
    """Log one hour of predictions; a good model predicts the target, a bad one guesses."""
    rng = np.random.default_rng(start % 1000)
    score = np.where(data["target"] == 1, 0.8, 0.2) if good_model else rng.random(len(data))
    ids = [f"p{start}-{i}" for i in range(len(data))]
    log = PredictionLog(artifact_store_for(root), spool_dir=spool, deployment="prod")
    log.append(PredictionBatch(
        ids, "churn", 1,
        inputs={"age": data["age"].to_numpy(), "plan": data["plan"].to_numpy(dtype=object),
                "income": data["income"].to_numpy()},
        outputs=score, latency_ms=rng.uniform(1, 5, len(data)),
        time_ms=start + np.arange(len(data)) * (HOUR // len(data))))
    assert log.close()
    return ids


@pytest.fixture
def world(tmp_path: Path, webhook_receiver):
    rng = np.random.default_rng(1)
    root = str(tmp_path / "artifacts")
    client = Client(f"sqlite:///{tmp_path / 'db.sqlite'}", root)
    reference = frame(rng, 2000)
    reference["score"] = np.where(reference["target"] == 1, 0.8, 0.2)
    windows = {}
    for i, (shifted, good) in enumerate([(False, True), (True, False), (False, True)]):
        data = frame(rng, N, shifted=shifted)
        start = T0 + i * HOUR
        ids = log_window(root, tmp_path / f"spool{i}", data, start, good_model=good)
        windows[i] = (start, start + HOUR, ids, data)
    spec = MonitorSpec(name="churn-prod", model_name="churn", deployment="prod",
                       task="classification", categorical=["plan"], cohorts=[{"column": "plan"}],
                       channels=[{"type": "webhook", "url": webhook_receiver.url}])
    monitor = create_monitor(client, spec, reference[["age", "plan", "income", "target",
                                                      "score"]],
                             target="target", prediction="score")
    return client, monitor, windows, webhook_receiver


def label(client: Client, window, share: float) -> None:
    _, _, ids, data = window
    n = int(len(ids) * share)
    client.log_ground_truth(ids[:n], data["target"].to_numpy()[:n].tolist())


def value(run, metric, feature="", cohort=""):
    found = run.latest(metric, feature, cohort)
    assert found is not None, (metric, feature, cohort)
    return found


def test_default_rules_and_reference_are_stored(world) -> None:
    client, monitor, _, _ = world
    assert monitor.reference and monitor.features == ["age", "plan", "income"]
    assert {r.name for r in monitor.rules} >= {"feature drift", "accuracy drop"}
    assert client.get_monitor_by_name("churn-prod").reference == monitor.reference


def test_a_normal_window_is_quiet(world) -> None:
    client, monitor, windows, hook = world
    label(client, windows[0], 0.5)
    run = run_monitor(client, monitor, since=windows[0][0], until=windows[0][1])
    assert value(run, "rows").value == N
    assert value(run, "drifted", "age").value == 0.0
    assert value(run, "label_coverage").value == pytest.approx(0.5)
    assert value(run, "accuracy").value > 0.8
    assert value(run, "accuracy").reference == pytest.approx(value(run, "accuracy").value,
                                                             abs=0.1)
    assert value(run, "latency_p99").value <= 5
    assert run.firing == [] and hook.requests == []


def test_a_shifted_window_fires_and_a_normal_one_resolves(world) -> None:
    client, monitor, windows, hook = world
    label(client, windows[1], 0.5)
    shifted = run_monitor(client, monitor, since=windows[1][0], until=windows[1][1])
    assert value(shifted, "drifted", "age").value == 1.0
    assert value(shifted, "drifted", "plan").value == 1.0
    assert value(shifted, "drifted", "income").value == 0.0
    assert value(shifted, "unseen_categories", "plan").value == 0.0
    assert value(shifted, "accuracy").value < 0.7
    fired = {(a.rule, a.feature) for a in shifted.firing}
    assert {("feature drift", "age"), ("feature drift", "plan"),
            ("accuracy drop", "")} <= fired
    assert ("feature drift", "income") not in fired
    bodies = [r.json() for r in hook.requests]
    assert len(bodies) == len(shifted.firing)
    assert any("[FIRING]" in b["text"] and "age" in b["text"] for b in bodies)

    again = run_monitor(client, monitor, since=windows[1][0], until=windows[1][1])
    assert len(hook.requests) == len(bodies)  # still firing: not sent twice
    assert {a.id for a in again.firing} == {a.id for a in shifted.firing}

    label(client, windows[2], 0.5)
    normal = run_monitor(client, monitor, since=windows[2][0], until=windows[2][1])
    assert normal.firing == []
    resolved = [a for a in normal.alerts if a.state == "resolved"]
    assert {a.id for a in resolved} == {a.id for a in shifted.firing}
    assert sum("[RESOLVED]" in r.json()["text"] for r in hook.requests) == len(resolved)
    events = client.list_alert_events(resolved[0].id)
    assert [e.state for e in events] == ["pending", "firing", "resolved"]
    assert events[1].deliveries and events[1].deliveries[0]["ok"] is True


def test_cohorts_get_their_own_quality(world) -> None:
    client, monitor, windows, _ = world
    label(client, windows[0], 1.0)
    run = run_monitor(client, monitor, since=windows[0][0], until=windows[0][1])
    cohorts = {v.cohort for v in run.values if v.metric == "accuracy" and v.cohort}
    assert cohorts == {"plan=basic", "plan=pro", "plan=team"}
    basic = value(run, "rows", cohort="plan=basic").value
    assert 0 < basic < N and value(run, "label_coverage", cohort="plan=basic").value == 1.0


def test_late_labels_change_an_old_window(world) -> None:
    client, monitor, windows, _ = world
    before = run_monitor(client, monitor, since=windows[0][0], until=windows[0][1])
    assert value(before, "label_coverage").value == 0.0
    assert value(before, "accuracy").value is None
    assert "no labels" in value(before, "accuracy").status
    label(client, windows[0], 0.25)
    after = run_monitor(client, monitor, since=windows[0][0], until=windows[0][1])
    assert value(after, "label_coverage").value == pytest.approx(0.25)
    stored = client.get_monitor_values(monitor.id, metric="label_coverage", cohort="")
    assert [v.value for v in stored] == [pytest.approx(0.25)]  # replaced, not doubled


def test_an_empty_window_is_no_data_not_zero(world) -> None:
    client, monitor, _, hook = world
    run = run_monitor(client, monitor, since=T0 - 2 * HOUR, until=T0 - HOUR)
    assert value(run, "rows").value == 0
    drift = value(run, "drift_score", "age")
    assert drift.value is None and drift.status.startswith("no_data")
    assert run.firing == [] and hook.requests == []


def test_feature_histograms_side_by_side(world) -> None:
    client, monitor, windows, _ = world
    numbers = feature_histogram(client, monitor, "age", since=windows[1][0], until=windows[1][1])
    assert len(numbers["reference"]) == len(numbers["current"]) == len(numbers["edges"]) + 1
    assert sum(numbers["current"]) == N and sum(numbers["reference"]) == 2000
    words = feature_histogram(client, monitor, "plan", since=windows[1][0], until=windows[1][1])
    assert words["categories"][:3] == ["basic", "pro", "team"]
    assert sum(words["current"]) == N


@pytest.mark.parametrize(("spec", "reference", "message"), [
    ({"features": ["nope"]}, True, "no column 'nope'"),
    ({}, "empty", "no rows"),
    ({"features": ["blank"]}, "blank", "is empty"),
])
def test_bad_monitors_are_refused(tmp_path: Path, spec, reference, message) -> None:
    client = Client(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "a"))
    data = pd.DataFrame({"age": [1.0, 2.0], "blank": [None, None]})
    if reference == "empty":
        data = data.iloc[:0]
    with pytest.raises(InvalidArgument, match=message):
        create_monitor(client, MonitorSpec(name="m", model_name="x", **spec), data)
    assert client.list_monitors() == []


def test_a_rule_on_an_unknown_metric_is_refused(tmp_path: Path) -> None:
    client = Client(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "a"))
    with pytest.raises(InvalidArgument, match="metric"):
        create_monitor(client, MonitorSpec(name="m", model_name="x",
                                           rules=[Rule(name="r", metric="accuracyy")]))


def test_the_latest_window_is_exported_for_prometheus(world) -> None:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from dockyard.monitor.exporter import MonitorCollector

    client, monitor, windows, _ = world
    label(client, windows[1], 0.5)
    run_monitor(client, monitor, since=windows[1][0], until=windows[1][1], now=windows[1][1])
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MonitorCollector(client))
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(generate_latest(registry).decode())
               for s in family.samples}
    base = (("model", "churn"), ("monitor", "churn-prod"), ("version", "any"))

    def sample(name: str, **extra: str) -> float:
        return samples[(name, tuple(sorted(base + tuple(extra.items()))))]

    assert sample("dockyard_monitor_drifted", feature="age") == 1.0
    assert sample("dockyard_monitor_drifted", feature="income") == 0.0
    assert sample("dockyard_monitor_rows") == N
    assert sample("dockyard_monitor_quality", metric="accuracy") < 0.7
    assert sample("dockyard_monitor_alerts_firing", severity="critical") >= 1
    assert not any(dict(labels).get("cohort") for _, labels in samples)


def test_a_bad_channel_is_refused_when_the_monitor_is_saved(tmp_path: Path) -> None:
    client = Client(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "a"))
    spec = MonitorSpec(name="m", model_name="x",
                       channels=[{"type": "webhook", "url": "http://hooks.example", "tries": 2}])
    with pytest.raises(InvalidArgument, match="unknown field 'tries'"):
        create_monitor(client, spec)
    assert client.list_monitors() == []


def test_a_scheduled_run_covers_recent_windows_and_judges_the_newest_full_one(world) -> None:
    client, monitor, windows, _ = world
    label(client, windows[1], 0.5)
    run = run_monitor(client, monitor, now=windows[2][1] + 60_000)  # a minute into hour four
    assert run.windows == [(w[0], w[1]) for w in windows.values()]  # the empty hour is skipped
    assert [v.value for v in run.values if v.metric == "rows" and not v.cohort] == [N, N, N]
    # the newest full window is the normal one: the shifted hour's alerts are not raised
    assert run.firing == []


def test_label_delay_is_label_time_minus_prediction_time(world) -> None:
    client, monitor, windows, _ = world
    start, end, ids, data = windows[0]
    client.log_ground_truth(ids[:200], data["target"].to_numpy()[:200].tolist(),
                            label_time=start + 2 * HOUR)
    run = run_monitor(client, monitor, since=start, until=end)
    # prediction i was made at start + 9 s * i; the median of 7200 - 9 i over i < 200
    assert value(run, "label_delay_p50").value == pytest.approx(7200 - 9 * 99.5)


def test_a_rule_can_call_a_retraining_webhook(tmp_path: Path, webhook_receiver) -> None:
    rng = np.random.default_rng(4)
    root = str(tmp_path / "artifacts")
    client = Client(f"sqlite:///{tmp_path / 'db.sqlite'}", root)
    log_window(root, tmp_path / "spool", frame(rng, N, shifted=True), T0, good_model=True)
    rule = Rule(name="retrain on drift", metric="share_drifted", op=">", threshold=0.2,
                webhook=webhook_receiver.url)
    monitor = create_monitor(client, MonitorSpec(name="m", model_name="churn",
                                                 categorical=["plan"], rules=[rule]),
                             frame(rng, 1000).drop(columns="target"))
    run = run_monitor(client, monitor, since=T0, until=T0 + HOUR)
    assert [a.rule for a in run.firing] == ["retrain on drift"]
    (request,) = webhook_receiver.requests
    body = request.json()  # the whole notification, for a job to act on
    assert body["state"] == "firing" and body["rule"] == "retrain on drift"
    assert body["model"] == "churn" and body["value"] > 0.2


def test_two_runs_at_once_open_one_alert_and_notify_once(world) -> None:
    import threading

    client, monitor, windows, hook = world
    runs = [threading.Thread(target=run_monitor, args=(client, monitor),
                             kwargs={"since": windows[1][0], "until": windows[1][1]})
            for _ in range(3)]
    for t in runs:
        t.start()
    for t in runs:
        t.join()
    open_alerts = client.list_alerts(monitor_id=monitor.id, states=("pending", "firing"))
    keys = [(a.rule, a.feature, a.cohort) for a in open_alerts]
    assert len(keys) == len(set(keys)) > 0
    assert len(hook.requests) == len(keys)  # each sent once


def test_a_removed_rule_resolves_its_alerts(world) -> None:
    client, monitor, windows, hook = world
    run_monitor(client, monitor, since=windows[1][0], until=windows[1][1])
    kept = [r for r in monitor.rules if r.name != "feature drift"]
    spec = MonitorSpec(**{**monitor.model_dump(include=set(MonitorSpec.model_fields)),
                          "rules": kept})
    monitor = client.update_monitor(monitor.id, spec)
    run = run_monitor(client, monitor, since=windows[1][0], until=windows[1][1])
    gone = [a for a in run.alerts if a.rule == "feature drift"]
    assert gone and {a.state for a in gone} == {"resolved"}
    assert "was removed" in client.list_alert_events(gone[0].id)[-1].message
    assert all(a.rule != "feature drift" for a in client.list_alerts(
        monitor_id=monitor.id, states=("firing",)))


def test_a_backfill_without_alerts_leaves_todays_alerts_alone(world) -> None:
    client, monitor, windows, hook = world
    fired = run_monitor(client, monitor, since=windows[1][0], until=windows[1][1]).firing
    sent = len(hook.requests)
    quiet = run_monitor(client, monitor, since=windows[0][0], until=windows[0][1], alert=False)
    assert quiet.alerts == [] and len(hook.requests) == sent
    still = client.list_alerts(monitor_id=monitor.id, states=("firing",))
    assert {a.id for a in still} == {a.id for a in fired}


def test_a_cohort_on_an_input_that_is_not_a_watched_feature(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    root = str(tmp_path / "artifacts")
    client = Client(f"sqlite:///{tmp_path / 'db.sqlite'}", root)
    log_window(root, tmp_path / "spool", frame(rng, N), T0, good_model=True)
    monitor = create_monitor(client, MonitorSpec(name="m", model_name="churn",
                                                 features=["age", "income"],
                                                 cohorts=[{"column": "plan"}]),
                             frame(rng, 500))
    run = run_monitor(client, monitor, since=T0, until=T0 + HOUR)
    assert {v.cohort for v in run.values if v.metric == "rows" and v.cohort} == {
        "plan=basic", "plan=pro", "plan=team"}


@pytest.mark.parametrize(("since", "until", "message"), [
    (0, 10**17, "year 9999"), (-5, 10, "from 0"), (10, 5, "after since"), (1.5, 10, "ms")])
def test_run_periods_are_checked(world, since, until, message) -> None:
    client, monitor, _, _ = world
    with pytest.raises(InvalidArgument, match=message):
        run_monitor(client, monitor, since=since, until=until)


def test_predictions_with_ids_that_cannot_carry_labels_are_still_monitored(
        tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    root = str(tmp_path / "artifacts")
    client = Client(f"sqlite:///{tmp_path / 'db.sqlite'}", root)
    data = frame(rng, 50)
    log = PredictionLog(artifact_store_for(root), spool_dir=tmp_path / "spool")
    log.append(PredictionBatch([f"order {i}" for i in range(50)], "churn", 1,
                               inputs={"age": data["age"].to_numpy()},
                               outputs=rng.random(50), latency_ms=1.0, time_ms=T0 + 1000))
    assert log.close()
    monitor = create_monitor(client, MonitorSpec(name="m", model_name="churn"),
                             data[["age"]])
    run = run_monitor(client, monitor, since=T0, until=T0 + HOUR)
    assert run.latest("rows").value == 50 and run.latest("label_coverage").value == 0.0
