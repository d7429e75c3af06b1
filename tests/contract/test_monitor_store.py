"""The monitor contract (monitors, their values and alerts, in MonitoringStore), on every backend.

``MonitorStoreContract`` holds the tests; each ``Test<Backend>Monitors``
subclass only provides the ``store`` fixture. Names, model names and alert
ids carry a random part, so backends that share one database (the REST
server) keep the tests apart; lists stay inside what the test created.
"""

from __future__ import annotations

import random
import re
import uuid
from typing import Any

import pytest

from dockyard.entities import (
    Alert,
    AlertEvent,
    Cohort,
    Monitor,
    MonitorSpec,
    MonitorValue,
    Rule,
)
from dockyard.entities.monitoring import MAX_VALUES_PER_CALL
from dockyard.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from dockyard.store.base import MetadataStore
from tests.contract.backends import (
    InMemorySqliteBackend,
    PostgresBackend,
    RestBackend,
    SqliteBackend,
)
from tests.contract.test_metadata_store import assert_each_raises, in_threads, unique

HOUR = 3_600_000
T0 = 1_700_000_000_000
SPEC_FIELDS = set(MonitorSpec.model_fields)


def spec(**fields: Any) -> MonitorSpec:
    return MonitorSpec(**{"name": unique("monitor"), "model_name": unique("model"), **fields})


def full_spec(**fields: Any) -> MonitorSpec:
    """A spec with every field set to something other than its default."""
    return spec(**{
        "model_version": "3",
        "deployment": "churn-prod",
        "task": "classification",
        "window_seconds": 900,
        "features": ["age", "plan"],
        "categorical": ["plan"],
        "prediction": "churned",
        "positive_class": "yes",
        "cohorts": [Cohort(column="plan", max_values=5), Cohort(column="age", bins=[18, 30.5, 60])],
        "rules": [
            Rule(name="accuracy-drop", metric="accuracy", op="<", threshold=-0.05, relative=True,
                 for_seconds=600, severity="critical", webhook="https://ci.example/retrain"),
            Rule(name="any-drift", metric="psi", feature="*", threshold=0.2),
            Rule(name="age-nulls", metric="null_rate", feature="age", cohort="plan=pro",
                 op=">=", threshold=0.1, severity="info"),
        ],
        "channels": [{"type": "webhook", "url": "https://hooks.example/x", "template": "slack",
                      "headers": {"X-Team": "ml"}},
                     {"type": "email", "host": "smtp.example", "port": 587,
                      "sender": "dockyard@example.com", "recipients": ["oncall@example.com"],
                      "starttls": True}],
        "reference": "monitors/churn/reference.json",
        "interval_seconds": 0,
        "min_rows": 100,
        **fields,
    })


def spec_of(monitor: Monitor) -> dict[str, Any]:
    return monitor.model_dump(include=SPEC_FIELDS)


def value(monitor_id: str, hour: int = 0, metric: str = "psi", feature: str = "age",
          cohort: str = "", **fields: Any) -> MonitorValue:
    start = T0 + hour * HOUR
    return MonitorValue(**{"monitor_id": monitor_id, "window_start": start,
                           "window_end": start + HOUR, "metric": metric, "feature": feature,
                           "cohort": cohort, "value": 0.1, "count": 500, "reference": 0.02,
                           "status": "ok", "computed_at": start + HOUR + 60_000, **fields})


def alert(monitor_id: str, **fields: Any) -> Alert:
    return Alert(**{"id": uuid.uuid4().hex, "monitor_id": monitor_id, "rule": "any-drift",
                    "fingerprint": uuid.uuid4().hex, "feature": "age", "cohort": "",
                    "severity": "warning", "state": "pending", "value": 0.31, "threshold": 0.2,
                    "summary": "psi of age is 0.31 (> 0.2)", "started_at": T0,
                    "updated_at": T0, **fields})


def event(alert_id: str, time: int, state: str = "firing", **fields: Any) -> AlertEvent:
    return AlertEvent(**{"alert_id": alert_id, "time": time, "state": state, **fields})


# Specs each refused with a message naming the mistake: (fields, fragment of the message).

def psi_rule(**changes: Any) -> Rule:
    """A valid rule on a feature, changed as given."""
    return Rule(**{"name": "r", "metric": "psi", "feature": "age", **changes})


BAD_SPECS: dict[str, tuple[dict[str, Any], str]] = {
    "name with /": ({"name": "a/b"}, "must not contain '/'"),
    "name with @": ({"name": "a@b"}, "must not contain '/'"),
    "empty name": ({"name": " "}, "monitor name must not be empty"),
    "long name": ({"name": "m" * 201}, "limit is 200"),
    "name with spaces around": ({"name": " m "}, "whitespace"),
    "bad model name": ({"model_name": "churn/3"}, "model name"),
    "unknown metric": ({"rules": [Rule(name="r", metric="accuracyy")]}, "not one Dockyard"),
    "feature metric without a feature": ({"rules": [Rule(name="r", metric="psi")]},
                                         "value per feature"),
    "relative without a reference value": (
        {"rules": [Rule(name="r", metric="latency_p99", relative=True)]}, "no reference value"),
    "cohort the monitor does not have": (
        {"rules": [Rule(name="r", metric="f1", cohort="plan=pro")]}, "not one of the monitor's"),
    "feature on a model metric": ({"rules": [Rule(name="r", metric="f1", feature="age")]},
                                  "leave feature unset"),
    "empty feature": ({"rules": [Rule(name="r", metric="psi", feature="")]},
                      "feature must not be empty"),
    "unknown op": ({"rules": [psi_rule(op="==")]}, "op '=='"),
    "unknown severity": ({"rules": [psi_rule(severity="high")]},
                         "severity 'high'"),
    "infinite threshold": ({"rules": [psi_rule(threshold=float("inf"))]},
                           "threshold is inf"),
    "NaN threshold": ({"rules": [psi_rule(threshold=float("nan"))]},
                      "threshold is nan"),
    "negative for_seconds": ({"rules": [psi_rule(for_seconds=-1)]},
                             "for_seconds"),
    "empty rule name": ({"rules": [Rule(name="", metric="psi")]}, "name must not be empty"),
    "rule names twice": ({"rules": [psi_rule(), psi_rule(metric="ks")]},
                         "two rules are named 'r'"),
    "short window": ({"window_seconds": 59}, "window_seconds"),
    "long window": ({"window_seconds": 31 * 24 * 3600 + 1}, "window_seconds"),
    "negative interval": ({"interval_seconds": -1}, "interval_seconds"),
    "no min_rows": ({"min_rows": 0}, "min_rows"),
    "empty cohort column": ({"cohorts": [Cohort(column="")]}, "column must not be empty"),
    "unsorted bins": ({"cohorts": [Cohort(column="age", bins=[30, 18])]}, "increasing"),
    "repeated bin": ({"cohorts": [Cohort(column="age", bins=[18, 18])]}, "increasing"),
    "NaN bin": ({"cohorts": [Cohort(column="age", bins=[float("nan")])]}, "finite"),
    "no bins": ({"cohorts": [Cohort(column="age", bins=[])]}, "at least one edge"),
    "no cohort values": ({"cohorts": [Cohort(column="plan", max_values=0)]}, "max_values"),
    "too many cohort values": ({"cohorts": [Cohort(column="plan", max_values=101)]},
                               "max_values"),
    "unknown task": ({"task": "ranking"}, "task 'ranking'"),
    "channel without type": ({"channels": [{"url": "https://x.example"}]}, "no \"type\""),
    "NaN positive class": ({"positive_class": float("nan")}, "positive_class"),
    "webhook not a URL": ({"rules": [psi_rule(webhook="x.example")]},
                          "http"),
}


class MonitorStoreContract:
    """Every monitoring backend passes these."""

    @pytest.fixture
    def monitor(self, store: MetadataStore) -> Monitor:
        return store.create_monitor(spec())

    # monitors ---------------------------------------------------------------------------
    @pytest.mark.parametrize("positive_class", [True, False, 1, 0, 2.5, 2.0, "yes", None])
    def test_every_field_round_trips(self, store: MetadataStore, positive_class: Any) -> None:
        wanted = full_spec(positive_class=positive_class)
        created = store.create_monitor(wanted)
        assert re.fullmatch(r"[0-9a-f]{32}", created.id)
        assert created.created_at == created.updated_at > T0 and created.last_run_at is None
        for found in (created, store.get_monitor(created.id),
                      store.get_monitor_by_name(wanted.name),
                      *store.list_monitors(model_name=wanted.model_name)):
            assert spec_of(found) == wanted.model_dump()
            assert found.model_dump() == created.model_dump()
            assert type(found.positive_class) is type(positive_class)

    def test_defaults_round_trip(self, store: MetadataStore) -> None:
        wanted = spec()
        created = store.create_monitor(wanted)
        assert spec_of(store.get_monitor(created.id)) == wanted.model_dump()

    def test_a_taken_name_is_refused(self, store: MetadataStore, monitor: Monitor) -> None:
        with pytest.raises(AlreadyExists, match=re.escape(monitor.name)):
            store.create_monitor(spec(name=monitor.name))
        assert store.list_monitors(model_name=monitor.model_name) == [monitor]

    def test_names_are_case_sensitive(self, store: MetadataStore, monitor: Monitor) -> None:
        other = store.create_monitor(spec(name=monitor.name.upper()))
        assert store.get_monitor_by_name(monitor.name.upper()).id == other.id != monitor.id

    def test_the_spec_of_a_monitor_is_what_counts(self, store: MetadataStore,
                                                  monitor: Monitor) -> None:
        copy = store.create_monitor(monitor.model_copy(update={"name": unique("copy")}))
        assert copy.id != monitor.id and copy.model_name == monitor.model_name

    def test_unknown_ids_and_names(self, store: MetadataStore, monitor: Monitor) -> None:
        missing = uuid.uuid4().hex
        assert_each_raises(NotFound, {
            "get": lambda: store.get_monitor(missing),
            "get empty id": lambda: store.get_monitor(""),
            "get by name": lambda: store.get_monitor_by_name(unique("nobody")),
            "update": lambda: store.update_monitor(missing, spec()),
            "set run": lambda: store.set_monitor_run(missing, T0),
            "delete": lambda: store.delete_monitor(missing),
            "log values": lambda: store.log_monitor_values([value(missing)]),
            "get values": lambda: store.get_monitor_values(missing),
            "save alert": lambda: store.save_alert(alert(missing)),
            "get alert": lambda: store.get_alert(uuid.uuid4().hex),
            "record event": lambda: store.record_alert_event(event(uuid.uuid4().hex, T0)),
            "list events": lambda: store.list_alert_events(uuid.uuid4().hex),
        })
        assert store.list_alerts(monitor_id=missing) == []

    def test_list_by_model_and_deployment(self, store: MetadataStore) -> None:
        model = unique("model")
        b = store.create_monitor(spec(name=unique("b"), model_name=model, deployment="prod"))
        a = store.create_monitor(spec(name=unique("a"), model_name=model, deployment="canary"))
        c = store.create_monitor(spec(name=unique("c"), model_name=model))
        other = store.create_monitor(spec(deployment="prod"))
        assert store.list_monitors(model_name=model) == [a, b, c]
        assert store.list_monitors(model_name=model, deployment="prod") == [b]
        assert {m.id for m in store.list_monitors(deployment="prod")} >= {b.id, other.id}
        assert {m.id for m in store.list_monitors()} >= {a.id, b.id, c.id, other.id}
        names = [m.name for m in store.list_monitors()]
        assert names == sorted(names)
        assert store.list_monitors(model_name=unique("nobody")) == []

    def test_update_replaces_the_spec_and_renames(self, store: MetadataStore) -> None:
        created = store.create_monitor(full_spec())
        store.set_monitor_run(created.id, T0 + 5)
        wanted = spec(model_name=created.model_name, window_seconds=60)
        updated = store.update_monitor(created.id, wanted)
        assert spec_of(updated) == wanted.model_dump()
        assert (updated.id, updated.created_at, updated.last_run_at) == (
            created.id, created.created_at, T0 + 5)
        assert updated.updated_at > created.updated_at
        assert store.get_monitor(created.id) == updated
        assert store.get_monitor_by_name(wanted.name) == updated
        with pytest.raises(NotFound):
            store.get_monitor_by_name(created.name)
        again = store.update_monitor(created.id, wanted)
        assert again.updated_at > updated.updated_at

    def test_rename_to_a_taken_name_changes_nothing(self, store: MetadataStore) -> None:
        first, second = store.create_monitor(spec()), store.create_monitor(full_spec())
        with pytest.raises(AlreadyExists):
            store.update_monitor(second.id, spec(name=first.name, window_seconds=120))
        assert store.get_monitor(second.id) == second

    def test_set_run_leaves_the_spec_alone(self, store: MetadataStore, monitor: Monitor) -> None:
        assert store.set_monitor_run(monitor.id, T0 + 1) is None
        assert store.set_monitor_run(monitor.id, T0 + 2) is None
        found = store.get_monitor(monitor.id)
        assert found.last_run_at == T0 + 2
        assert found.model_copy(update={"last_run_at": None}) == monitor
        with pytest.raises(InvalidArgument):
            store.set_monitor_run(monitor.id, "soon")  # type: ignore[arg-type]

    def test_delete_takes_values_alerts_and_events_along(self, store: MetadataStore) -> None:
        doomed, kept = store.create_monitor(full_spec()), store.create_monitor(spec())
        for m in (doomed, kept):
            store.log_monitor_values([value(m.id, h) for h in range(3)])
            saved = store.save_alert(alert(m.id))
            store.record_alert_event(event(saved.id, T0))
        doomed_alert = store.list_alerts(monitor_id=doomed.id)[0]
        assert store.delete_monitor(doomed.id) == doomed
        assert_each_raises(NotFound, {
            "get": lambda: store.get_monitor(doomed.id),
            "by name": lambda: store.get_monitor_by_name(doomed.name),
            "values": lambda: store.get_monitor_values(doomed.id),
            "alert": lambda: store.get_alert(doomed_alert.id),
            "events": lambda: store.list_alert_events(doomed_alert.id),
            "again": lambda: store.delete_monitor(doomed.id),
        })
        assert store.list_alerts(monitor_id=doomed.id) == []
        assert len(store.get_monitor_values(kept.id)) == 3
        (kept_alert,) = store.list_alerts(monitor_id=kept.id)
        assert len(store.list_alert_events(kept_alert.id)) == 1
        store.create_monitor(spec(name=doomed.name))  # the name is free again

    # values per window ------------------------------------------------------------------
    def test_values_round_trip(self, store: MetadataStore, monitor: Monitor) -> None:
        written = [value(monitor.id, 0),
                   value(monitor.id, 0, metric="accuracy", feature="", cohort="plan=pro",
                         value=None, reference=None, count=3, status="no_data: 3 rows, 30 needed"),
                   value(monitor.id, 1, value=-1e300, reference=1e-300, count=0)]
        assert store.log_monitor_values(written) == 3
        found = store.get_monitor_values(monitor.id)
        assert found == sorted(written, key=lambda x: (x.window_start, x.metric, x.feature,
                                                       x.cohort))

    def test_a_value_written_again_replaces_the_stored_one(self, store: MetadataStore,
                                                          monitor: Monitor) -> None:
        store.log_monitor_values([value(monitor.id, 0), value(monitor.id, 1)])
        again = value(monitor.id, 0, value=None, reference=0.5, count=7, status="no_data: late",
                      window_end=T0 + 2 * HOUR, computed_at=T0 + 9 * HOUR)
        assert store.log_monitor_values([again]) == 1
        assert store.get_monitor_values(monitor.id) == [again, value(monitor.id, 1)]

    def test_a_key_given_twice_in_one_call_is_written_once(self, store: MetadataStore,
                                                           monitor: Monitor) -> None:
        first, later = value(monitor.id, value=1.0), value(monitor.id, value=2.0, status="later")
        assert store.log_monitor_values([first, later]) == 1
        assert store.get_monitor_values(monitor.id) == [later]

    def test_values_are_filtered_and_ordered(self, store: MetadataStore, monitor: Monitor) -> None:
        grid = [value(monitor.id, h, metric=m, feature=f, cohort=c, value=float(h))
                for h in (3, 0, 2, 1) for m in ("psi", "ks") for f in ("age", "plan")
                for c in ("", "plan=pro")]
        grid += [value(monitor.id, h, metric="rows", feature="", value=100.0) for h in range(4)]
        random.Random(7).shuffle(grid)
        assert store.log_monitor_values(grid) == len(grid) == 36

        def keys(found: list[MonitorValue]) -> list[tuple[int, str, str, str]]:
            return [(x.window_start, x.metric, x.feature, x.cohort) for x in found]

        everything = store.get_monitor_values(monitor.id)
        assert keys(everything) == sorted(keys(grid))
        middle = store.get_monitor_values(monitor.id, since=T0 + HOUR, until=T0 + 3 * HOUR)
        assert {x.window_start for x in middle} == {T0 + HOUR, T0 + 2 * HOUR} and len(middle) == 18
        assert len(store.get_monitor_values(monitor.id, since=T0 + 3 * HOUR)) == 9
        assert len(store.get_monitor_values(monitor.id, until=T0 + 1)) == 9
        assert store.get_monitor_values(monitor.id, since=T0 + 4 * HOUR) == []
        ks_age = store.get_monitor_values(monitor.id, metric="ks", feature="age")
        assert keys(ks_age) == sorted(keys(ks_age)) and len(ks_age) == 8
        assert {(x.metric, x.feature) for x in ks_age} == {("ks", "age")}
        whole = store.get_monitor_values(monitor.id, feature="")
        assert [x.metric for x in whole] == ["rows"] * 4
        pro = store.get_monitor_values(monitor.id, cohort="plan=pro", since=T0, until=T0 + HOUR)
        assert keys(pro) == [(T0, m, f, "plan=pro") for m in ("ks", "psi") for f in ("age", "plan")]
        assert store.get_monitor_values(monitor.id, cohort="", metric="nothing") == []

    def test_many_values_in_one_call(self, store: MetadataStore, monitor: Monitor) -> None:
        many = [value(monitor.id, h, feature=f"f{i}", value=float(i))
                for h in range(50) for i in range(100)]
        assert store.log_monitor_values(many) == 5_000
        assert len(store.get_monitor_values(monitor.id)) == 5_000
        (one,) = store.get_monitor_values(monitor.id, since=T0 + 7 * HOUR, until=T0 + 8 * HOUR,
                                          feature="f42")
        assert one.value == 42.0

    def test_values_of_several_monitors_in_one_call(self, store: MetadataStore) -> None:
        a, b = store.create_monitor(spec()), store.create_monitor(spec())
        assert store.log_monitor_values([value(a.id, 0), value(b.id, 0), value(a.id, 1)]) == 3
        assert len(store.get_monitor_values(a.id)) == 2
        assert len(store.get_monitor_values(b.id)) == 1

    def test_an_unknown_monitor_fails_the_whole_call(self, store: MetadataStore,
                                                     monitor: Monitor) -> None:
        with pytest.raises(NotFound):
            store.log_monitor_values([value(monitor.id), value(uuid.uuid4().hex)])
        assert store.get_monitor_values(monitor.id) == []
        assert store.log_monitor_values([]) == 0

    def test_concurrent_upserts_of_the_same_values(self, store: MetadataStore,
                                                   monitor: Monitor) -> None:
        keys = [(h, f) for h in range(10) for f in ("age", "plan", "zip")]

        def work(i: int) -> int:
            order = list(keys)
            random.Random(i).shuffle(order)  # the same keys, in another order per writer
            return store.log_monitor_values(
                [value(monitor.id, h, feature=f, value=float(i)) for h, f in order])

        results = in_threads(6, work)
        assert results == [30] * 6, results
        found = store.get_monitor_values(monitor.id)
        assert len(found) == 30 and len({x.value for x in found}) == 1  # one writer's, whole

    @pytest.mark.parametrize(("fields", "fragment"), [
        ({"value": float("nan")}, "value is nan"),
        ({"value": float("inf")}, "value is inf"),
        ({"reference": float("-inf")}, "reference is -inf"),
        ({"window_end": T0}, "window_end must be later"),
        ({"count": -1}, "count"),
        ({"metric": ""}, "metric must not be empty"),
        ({"metric": "m" * 251}, "limit is 250"),
        ({"feature": "x\n"}, "control characters"),
        ({"cohort": "c" * 251}, "limit is 250"),
        ({"status": "s" * 10_001}, "limit is 10,000"),
        ({"window_start": 2**63}, "64 bits"),
    ])
    def test_malformed_values_are_refused(self, store: MetadataStore, monitor: Monitor,
                                          fields: dict[str, Any], fragment: str) -> None:
        with pytest.raises(InvalidArgument, match=re.escape(fragment)):
            store.log_monitor_values([value(monitor.id, 1), value(monitor.id, **fields)])
        assert store.get_monitor_values(monitor.id) == []

    def test_too_many_values_are_refused(self, store: MetadataStore, monitor: Monitor) -> None:
        one = value(monitor.id)
        with pytest.raises(InvalidArgument, match="several calls"):
            store.log_monitor_values([one] * (MAX_VALUES_PER_CALL + 1))

    def test_bad_filters_are_refused(self, store: MetadataStore, monitor: Monitor) -> None:
        assert_each_raises(InvalidArgument, {
            "since": lambda: store.get_monitor_values(
                monitor.id, since="today"),  # type: ignore[arg-type]
            "until": lambda: store.get_monitor_values(monitor.id, until=2**64),
            "state": lambda: store.list_alerts(states=["open"]),
            "one state": lambda: store.list_alerts(states="open"),
            "max_results": lambda: store.list_alerts(max_results=0),
            "too many": lambda: store.list_alerts(max_results=10**9),
        })

    # alerts -----------------------------------------------------------------------------------
    def test_alerts_round_trip_and_are_replaced_by_id(self, store: MetadataStore,
                                                      monitor: Monitor) -> None:
        pending = alert(monitor.id, cohort="plan=pro")
        assert store.save_alert(pending) == pending
        assert store.get_alert(pending.id) == pending
        firing = pending.model_copy(update={"state": "firing", "fired_at": T0 + 5,
                                            "updated_at": T0 + 5, "value": 0.4,
                                            "summary": "still drifting"})
        assert store.save_alert(firing) == firing
        assert store.get_alert(pending.id) == firing
        assert store.list_alerts(monitor_id=monitor.id) == [firing]
        bare = alert(monitor.id, value=None, threshold=None, summary="", feature="")
        assert store.save_alert(bare) == store.get_alert(bare.id) == bare

    def test_one_open_alert_per_fingerprint(self, store: MetadataStore,
                                            monitor: Monitor) -> None:
        first = store.save_alert(alert(monitor.id, fingerprint="fp-open"))
        with pytest.raises(Conflict):
            store.save_alert(alert(monitor.id, fingerprint="fp-open", state="firing"))
        store.save_alert(first.model_copy(update={"state": "resolved", "resolved_at": T0 + 1}))
        again = store.save_alert(alert(monitor.id, fingerprint="fp-open"))  # a new episode
        assert {a.id for a in store.list_alerts(monitor_id=monitor.id)} == {first.id, again.id}

    def test_alerts_are_listed_by_monitor_and_state_newest_first(
            self, store: MetadataStore, monitor: Monitor) -> None:
        other = store.create_monitor(spec())
        saved = [store.save_alert(alert(monitor.id, state=state, updated_at=T0 + i))
                 for i, state in enumerate(["pending", "firing", "resolved", "firing"])]
        elsewhere = store.save_alert(alert(other.id, state="firing", updated_at=T0 + 10))
        newest_first = saved[::-1]
        assert store.list_alerts(monitor_id=monitor.id) == newest_first
        assert store.list_alerts(monitor_id=monitor.id, states=None) == newest_first
        assert store.list_alerts(monitor_id=monitor.id, states=[]) == newest_first
        assert store.list_alerts(monitor_id=monitor.id, states=["firing"]) == [saved[3], saved[1]]
        assert store.list_alerts(monitor_id=monitor.id, states="resolved") == [saved[2]]
        assert store.list_alerts(monitor_id=monitor.id, states=("pending", "resolved")) == [
            saved[2], saved[0]]
        assert store.list_alerts(monitor_id=monitor.id, max_results=2) == newest_first[:2]
        firing = {a.id for a in store.list_alerts(states=["firing"], max_results=50_000)}
        assert {saved[1].id, saved[3].id, elsewhere.id} <= firing
        assert saved[0].id not in firing

    def test_events_are_appended_and_listed_oldest_first(self, store: MetadataStore,
                                                         monitor: Monitor) -> None:
        saved = store.save_alert(alert(monitor.id))
        deliveries = [{"channel": "webhook https://hooks.example", "ok": True, "error": None},
                      {"channel": "email oncall@example.com", "ok": False,
                       "error": "SMTP 550", "attempts": 3}]
        recorded = [event(saved.id, T0, "pending", value=0.3, message="seen"),
                    event(saved.id, T0 + 3, "resolved", value=None),
                    event(saved.id, T0 + 2, "firing", message="first at +2",
                          deliveries=deliveries),
                    event(saved.id, T0 + 2, "firing", message="second at +2")]
        assert [store.record_alert_event(e) for e in recorded] == recorded
        assert store.list_alert_events(saved.id) == [recorded[0], recorded[2], recorded[3],
                                                     recorded[1]]
        store.save_alert(saved.model_copy(update={"state": "resolved"}))
        assert len(store.list_alert_events(saved.id)) == 4  # replacing an alert keeps its events

    @pytest.mark.parametrize(("fields", "fragment"), [
        ({"state": "open"}, "alert state 'open'"),
        ({"severity": "high"}, "alert severity 'high'"),
        ({"value": float("nan")}, "alert value is nan"),
        ({"threshold": float("inf")}, "alert threshold is inf"),
        ({"id": "a/b"}, "alert id 'a/b' is not valid"),
        ({"id": ""}, "alert id '' is not valid"),
        ({"rule": ""}, "alert rule must not be empty"),
        ({"fingerprint": ""}, "alert fingerprint must not be empty"),
        ({"summary": "x\x00"}, "NUL"),
    ])
    def test_malformed_alerts_are_refused(self, store: MetadataStore, monitor: Monitor,
                                          fields: dict[str, Any], fragment: str) -> None:
        bad = alert(monitor.id, **fields)
        with pytest.raises(InvalidArgument, match=re.escape(fragment)):
            store.save_alert(bad)
        assert store.list_alerts(monitor_id=monitor.id) == []

    @pytest.mark.parametrize(("fields", "fragment"), [
        ({"state": "acknowledged"}, "alert event state"),
        ({"value": float("inf")}, "alert event value is inf"),
        ({"message": "m" * 10_001}, "limit is 10,000"),
        ({"deliveries": [{"channel": "x", "when": {1, 2}}]}, "deliveries is not JSON"),
    ])
    def test_malformed_events_are_refused(self, store: MetadataStore, monitor: Monitor,
                                          fields: dict[str, Any], fragment: str) -> None:
        saved = store.save_alert(alert(monitor.id))
        with pytest.raises(InvalidArgument, match=re.escape(fragment)):
            store.record_alert_event(event(saved.id, T0, **fields))
        assert store.list_alert_events(saved.id) == []

    # validation of specs ---------------------------------------------------------------------
    @pytest.mark.parametrize("case", sorted(BAD_SPECS))
    def test_malformed_specs_are_refused(self, store: MetadataStore, monitor: Monitor,
                                         case: str) -> None:
        fields, fragment = BAD_SPECS[case]
        bad = spec(**fields)
        with pytest.raises(InvalidArgument, match=re.escape(fragment)):
            store.create_monitor(bad)
        with pytest.raises(InvalidArgument, match=re.escape(fragment)):
            store.update_monitor(monitor.id, bad)
        assert store.get_monitor(monitor.id) == monitor
        if isinstance(bad.name, str) and bad.name.strip() and "name" not in fields:
            with pytest.raises(NotFound):
                store.get_monitor_by_name(bad.name)


class TestSqliteMonitors(SqliteBackend, MonitorStoreContract):
    pass


class TestInMemorySqliteMonitors(InMemorySqliteBackend, MonitorStoreContract):
    pass


class TestPostgresMonitors(PostgresBackend, MonitorStoreContract):
    pass


class TestRestMonitors(RestBackend, MonitorStoreContract):
    pass
