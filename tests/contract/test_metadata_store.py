"""The MetadataStore contract, run against every backend.

``MetadataStoreContract`` holds the tests; each ``Test<Backend>Store``
subclass only provides the ``store`` fixture. A backend may share one
database across tests (a live server does), so no test assumes an empty
store: names carry a random suffix, and searches stay inside the
experiments, projects and audit resources the test itself created.
"""

from __future__ import annotations

import base64
import math
import random
import threading
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import pytest

from dockyard.entities import (
    AuditEvent,
    Batch,
    Experiment,
    Metric,
    NewRun,
    Param,
    Run,
    RunPage,
    RunSource,
    RunStatus,
    RunTag,
    now_ms,
)
from dockyard.entities.deployment import DeploymentSpec, Route
from dockyard.entities.downsample import downsample
from dockyard.errors import (
    AlreadyExists,
    Conflict,
    InvalidArgument,
    InvalidFilter,
    InvalidState,
    NotFound,
    PermissionDenied,
)
from dockyard.store.base import DEFAULT_PROJECT, MAX_POINTS_LIMIT, MAX_RESULTS_LIMIT, MetadataStore
from dockyard.store.http import USER_HEADER
from tests.contract.backends import (
    InMemorySqliteBackend,
    PostgresBackend,
    RestBackend,
    SqliteBackend,
)

T0 = 1_700_000_000_000
"""Start times of the search fixture (ms); fixed so that filters can name them."""

R = TypeVar("R")


def unique(prefix: str) -> str:
    # no "_" or "%": the names double as LIKE patterns
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def new_experiment(store: MetadataStore, **kwargs: object) -> Experiment:
    return store.create_experiment(unique("exp"), **kwargs)  # type: ignore[arg-type]


def log(
    store: MetadataStore,
    run_id: str,
    metrics: Iterable[Metric | tuple[str, float] | tuple[str, float, int]] = (),
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    **kwargs: object,
) -> bool:
    """Log a batch; returns ``applied``."""
    points = [
        m if isinstance(m, Metric) else Metric(key=m[0], value=m[1], step=m[2] if len(m) > 2 else 0)
        for m in metrics
    ]
    batch = Batch(
        run_id=run_id,
        metrics=points,
        params=[Param(key=k, value=v) for k, v in (params or {}).items()],
        tags=[RunTag(key=k, value=v) for k, v in (tags or {}).items()],
        **kwargs,  # type: ignore[arg-type]
    )
    return store.log_batch(batch).applied


def assert_each_raises(error: type[Exception], cases: dict[str, Callable[[], object]]) -> None:
    """Call every case and report each one that did not raise ``error``."""
    failures = []
    for label, call in cases.items():
        try:
            call()
        except error:
            continue
        except Exception as exc:
            failures.append(f"{label}: raised {exc.__class__.__name__}: {exc}")
        else:
            failures.append(f"{label}: did not raise {error.__name__}")
    assert not failures, "\n".join(failures)


def in_threads(n: int, work: Callable[[int], R]) -> list[R | Exception]:
    """Run ``work(i)`` in n threads released together; results or exceptions, by i."""
    barrier = threading.Barrier(n)
    results: list[R | Exception] = [RuntimeError("thread did not finish")] * n

    def target(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def names(runs: Iterable[Run]) -> list[str]:
    return [r.name for r in runs]


def snapshot(store: MetadataStore, run_id: str, metric_keys: Sequence[str] = ()) -> object:
    """Everything a failed write must leave untouched."""
    return (
        store.get_run(run_id).model_dump(),
        [store.get_metric_history(run_id, k).model_dump() for k in metric_keys],
    )


@dataclass
class SearchData:
    """Four runs with known metrics, params, tags and attributes."""

    experiment: Experiment
    runs: dict[str, Run]

    @property
    def ids(self) -> list[str]:
        return [self.experiment.id]

    def __getitem__(self, name: str) -> Run:
        return self.runs[name]


ALL = {"alpha", "beta", "gamma", "delta"}

METRIC_FILTERS: list[tuple[str, set[str]]] = [
    ("metrics.acc > 0.75", {"alpha", "gamma"}),
    ("metrics.acc >= 0.8", {"alpha", "gamma"}),
    ("metrics.acc < 0.8", {"beta"}),
    ("metrics.acc <= 0.8", {"beta", "gamma"}),
    ("metrics.acc = 0.7", {"beta"}),
    ("metrics.acc == 0.7", {"beta"}),
    # a run without the metric matches no comparison, not even !=
    ("metrics.acc != 0.7", {"alpha", "gamma"}),
    ("metrics.acc <> 0.7", {"alpha", "gamma"}),
    ("metrics.acc in (0.7, 0.8)", {"beta", "gamma"}),
    ("metrics.acc not in (0.7)", {"alpha", "gamma"}),
    # the latest point counts: alpha logged 0.5 at step 0, then 0.9
    ("metrics.acc < 0.6", set()),
    ("metrics.acc > 8e-1", {"alpha"}),
    ("metrics.bias < -1", {"gamma"}),
    ("metrics.bias > -1e0", {"alpha"}),
    ("metrics.val.loss < 0.22", {"alpha"}),
    ("metrics.`val.loss` >= 0.2", {"alpha", "beta"}),
    ('metrics."val.loss" > 0.22', {"beta"}),
    ("metrics.`my metric` = 5", {"gamma"}),
    ("metrics.missing > 0", set()),
    ("metrics.ACC > 0", set()),  # keys are case-sensitive
]

PARAM_FILTERS: list[tuple[str, set[str]]] = [
    ("params.lr = '0.01'", {"alpha"}),
    ('params.lr = "0.1"', {"beta"}),
    ("params.lr != '0.01'", {"beta", "gamma"}),
    ("params.model = 'cnn'", set()),
    # LIKE is case-sensitive on every backend; ILIKE is not
    ("params.model like 'cnn%'", {"beta"}),
    ("params.model like 'CNN%'", {"alpha"}),
    ("params.model like '%NN'", {"alpha", "gamma"}),
    ("params.model like '_nn'", {"delta"}),
    ("params.model ilike 'cnn%'", {"alpha", "beta"}),
    ("params.model ilike 'RNN'", {"gamma", "delta"}),
    ("params.model in ('CNN', 'rnn')", {"alpha", "delta"}),
    ("params.model not in ('CNN', 'rnn')", {"beta", "gamma"}),
    ("params.owner = 'O''Brien'", {"alpha"}),
    ("params.owner = 'O\\'Brien'", {"alpha"}),
    ("params.owner like '%''%'", {"alpha"}),
    ("params.LR = '0.01'", set()),
]

TAG_FILTERS: list[tuple[str, set[str]]] = [
    ("tags.team = 'vision'", {"beta"}),
    ("tags.team = 'Vision'", {"alpha"}),
    ("tags.team like 'V%'", {"alpha"}),
    ("tags.team like 'v%'", {"beta"}),
    ("tags.team ilike 'VISION'", {"alpha", "beta"}),
    ("tags.team ilike '%I%'", {"alpha", "beta"}),
    ("tags.stage != 'prod'", {"gamma"}),
    ("tags.`team` in ('nlp', 'Vision')", {"alpha", "gamma"}),
    ("tags.team not in ('nlp')", {"alpha", "beta"}),
    ("tags.stage like '%'", {"alpha", "gamma"}),
]

ATTRIBUTE_FILTERS: list[tuple[str, set[str]]] = [
    ("status = 'FINISHED'", {"alpha"}),
    ("attributes.status = 'running'", {"beta"}),
    ("status != 'RUNNING'", {"gamma", "alpha", "delta"}),
    ("status in ('FAILED', 'KILLED')", {"gamma", "delta"}),
    ("status not in ('FAILED', 'KILLED')", {"alpha", "beta"}),
    ("status like 'FIN%'", {"alpha"}),
    ("status like 'fin%'", set()),
    ("status ilike 'fin%'", {"alpha"}),
    ("name = 'alpha'", {"alpha"}),
    ("run_name = 'beta'", {"beta"}),
    ("attributes.name like 'gam%'", {"gamma"}),
    ("attributes.name ilike 'DELTA'", {"delta"}),
    ("name != 'alpha'", {"beta", "gamma", "delta"}),
    ("user = 'ann'", {"alpha", "gamma"}),
    ("user = ''", {"delta"}),
    (f"start_time > {T0 + 2000}", {"gamma", "delta"}),
    (f"start_time >= {T0 + 2000}", {"beta", "gamma", "delta"}),
    (f"start_time < {T0 + 2000}", {"alpha"}),
    (f"start_time <= {T0 + 2000}", {"alpha", "beta"}),
    (f"start_time = {T0 + 3000}", {"gamma"}),
    (f"start_time != {T0 + 3000}", {"alpha", "beta", "delta"}),
    (f"attributes.start_time in ({T0 + 1000}, {T0 + 4000})", {"alpha", "delta"}),
    # duration = end_time - start_time; a running run has none
    ("duration > 3500", {"alpha"}),
    ("duration = 3000", {"gamma", "delta"}),
    ("attributes.duration != 3000", {"alpha"}),
    ("duration >= 0", {"alpha", "gamma", "delta"}),
    # beta is still running: no end_time, so no match
    (f"end_time < {T0 + 6500}", {"alpha", "gamma"}),
    (f"end_time not in ({T0 + 5000})", {"gamma", "delta"}),
]

BOOLEAN_FILTERS: list[tuple[str | None, set[str]]] = [
    ("metrics.acc > 0.75 and params.model like 'R%'", {"gamma"}),
    ("metrics.acc > 0.85 or tags.team = 'nlp'", {"alpha", "gamma"}),
    ("(metrics.acc > 0.85 or tags.team = 'nlp') and status = 'FAILED'", {"gamma"}),
    # and binds tighter than or
    ("metrics.acc > 0.85 or tags.team = 'nlp' and status = 'FINISHED'", {"alpha"}),
    ("(metrics.acc > 0.85 or tags.team = 'nlp') and status = 'FINISHED'", {"alpha"}),
    ("tags.team ilike 'vision' and metrics.acc < 0.8 or user = ''", {"beta", "delta"}),
    ("tags.team ilike 'vision' and (metrics.acc < 0.8 or user = '')", {"beta"}),
    ("METRICS.acc > 0.75 AND Params.model LIKE 'R%'", {"gamma"}),
    ("status = 'RUNNING' OR status = 'KILLED'", {"beta", "delta"}),
    ("((params.lr = '0.01'))", {"alpha"}),
    ("params.lr in ('0.01', '0.1') and (tags.team = 'Vision' or tags.team = 'nlp')", {"alpha"}),
    ("metrics.acc > 0 and metrics.loss > 0 and metrics.bias > 0", {"alpha"}),
    ("metrics.acc < 0 or params.model = 'x' or tags.team = 'y'", set()),
    (None, ALL),
    ("", ALL),
    ("   ", ALL),
]

ORDERINGS: list[tuple[list[str] | None, list[str]]] = [
    (None, ["delta", "gamma", "beta", "alpha"]),  # newest first
    (["metrics.acc DESC"], ["alpha", "gamma", "beta", "delta"]),  # missing last
    (["metrics.acc"], ["beta", "gamma", "alpha", "delta"]),  # missing last, ascending too
    (["metrics.acc asc"], ["beta", "gamma", "alpha", "delta"]),
    # ties among runs without the metric fall back to newest first
    (["metrics.loss"], ["alpha", "beta", "delta", "gamma"]),
    (["metrics.loss DESC"], ["beta", "alpha", "delta", "gamma"]),
    (["start_time"], ["alpha", "beta", "gamma", "delta"]),
    (["attributes.start_time DESC"], ["delta", "gamma", "beta", "alpha"]),
    (["name"], ["alpha", "beta", "delta", "gamma"]),
    (["run_name DESC"], ["gamma", "delta", "beta", "alpha"]),
    (["params.lr"], ["gamma", "alpha", "beta", "delta"]),
    (["params.lr desc"], ["beta", "alpha", "gamma", "delta"]),
    (["tags.stage", "metrics.acc DESC"], ["gamma", "alpha", "beta", "delta"]),
    (["end_time DESC"], ["delta", "gamma", "alpha", "beta"]),
    (["end_time"], ["alpha", "gamma", "delta", "beta"]),
    (["status"], ["gamma", "alpha", "delta", "beta"]),
    (["user", "start_time"], ["delta", "alpha", "gamma", "beta"]),
    (["duration DESC"], ["alpha", "delta", "gamma", "beta"]),  # running last, ties newest first
    (["duration"], ["delta", "gamma", "alpha", "beta"]),
]


class MetadataStoreContract:
    """Every MetadataStore implementation passes these tests."""

    @pytest.fixture
    def store(self) -> Iterator[MetadataStore]:
        raise NotImplementedError("each backend's test class provides the store fixture")

    @pytest.fixture
    def experiment(self, store: MetadataStore) -> Experiment:
        return new_experiment(store)

    @pytest.fixture
    def run(self, store: MetadataStore, experiment: Experiment) -> Run:
        return store.create_run(experiment.id, name="r")

    @pytest.fixture
    def data(self, store: MetadataStore, experiment: Experiment) -> SearchData:
        s, eid = store, experiment.id
        alpha = s.create_run(eid, name="alpha", start_time=T0 + 1000, source=RunSource(user="ann"))
        beta = s.create_run(eid, name="beta", start_time=T0 + 2000, source=RunSource(user="bob"))
        gamma = s.create_run(eid, name="gamma", start_time=T0 + 3000, source=RunSource(user="ann"))
        delta = s.create_run(eid, name="delta", start_time=T0 + 4000, parent_id=alpha.id)
        log(s, alpha.id,
            [("acc", 0.5, 0), ("acc", 0.9, 1), ("loss", 0.1), ("val.loss", 0.2), ("bias", 1e-3)],
            params={"lr": "0.01", "model": "CNN", "owner": "O'Brien"},
            tags={"team": "Vision", "stage": "prod"},
            end_status=RunStatus.FINISHED, end_time=T0 + 5000)
        log(s, beta.id, [("acc", 0.7), ("loss", 0.3), ("val.loss", 0.25)],
            params={"lr": "0.1", "model": "cnn-large"}, tags={"team": "vision"})
        log(s, gamma.id, [("acc", 0.8), ("my metric", 5.0), ("bias", -2.5)],
            params={"lr": "0.001", "model": "RNN"}, tags={"team": "nlp", "stage": "dev"},
            end_status=RunStatus.FAILED, end_time=T0 + 6000)
        log(s, delta.id, params={"model": "rnn"}, end_status=RunStatus.KILLED, end_time=T0 + 7000)
        runs = {r.name: s.get_run(r.id) for r in (alpha, beta, gamma, delta)}
        return SearchData(experiment, runs)

    def check_filters(
        self, store: MetadataStore, ids: list[str], cases: Sequence[tuple[str | None, set[str]]]
    ) -> None:
        """Run every case and report all mismatches at once."""
        failures = []
        for text, expected in cases:
            try:
                got = set(names(store.search_runs(ids, text)))
            except Exception as exc:  # report and go on: one broken filter hides no others
                failures.append(f"{text!r}: raised {exc.__class__.__name__}: {exc}")
                continue
            if got != expected:
                failures.append(f"{text!r}: expected {sorted(expected)}, got {sorted(got)}")
        assert not failures, "\n".join(failures)

    # projects -------------------------------------------------------------------

    def test_default_project_exists(self, store: MetadataStore) -> None:
        listed = {p.name: p for p in store.list_projects()}
        assert DEFAULT_PROJECT in listed
        default = store.get_project_by_name(DEFAULT_PROJECT)
        assert default == listed[DEFAULT_PROJECT]
        assert store.get_project(default.id) == default

    def test_create_and_get_project(self, store: MetadataStore) -> None:
        before = now_ms()
        name = unique("proj")
        project = store.create_project(name, description="a team's models")
        assert project.name == name
        assert project.description == "a team's models"
        assert before <= project.created_at <= now_ms()
        assert store.get_project(project.id) == project
        assert store.get_project_by_name(name) == project
        assert project in store.list_projects()

    def test_list_projects_is_ordered_by_name(self, store: MetadataStore) -> None:
        base = unique("proj")
        for suffix in ("c", "a", "b"):
            store.create_project(f"{base}-{suffix}")
        ours = [p.name for p in store.list_projects() if p.name.startswith(base)]
        assert ours == [f"{base}-a", f"{base}-b", f"{base}-c"]

    def test_duplicate_project(self, store: MetadataStore) -> None:
        name = unique("proj")
        store.create_project(name)
        with pytest.raises(AlreadyExists):
            store.create_project(name)
        with pytest.raises(AlreadyExists):
            store.create_project(DEFAULT_PROJECT)
        assert [p.name for p in store.list_projects()].count(name) == 1

    def test_unknown_project(self, store: MetadataStore) -> None:
        with pytest.raises(NotFound):
            store.get_project(uuid.uuid4().hex)
        with pytest.raises(NotFound):
            store.get_project_by_name(unique("missing"))

    def test_bad_project_input(self, store: MetadataStore) -> None:
        assert_each_raises(InvalidArgument, {
            repr(name): lambda name=name: store.create_project(name)  # type: ignore[misc]
            for name in ["", "   ", "x" * 251, "line\nbreak"]
        } | {"description": lambda: store.create_project(unique("p"), description="d" * 10_001)})

    # experiments ----------------------------------------------------------------

    def test_create_and_get_experiment(self, store: MetadataStore) -> None:
        before = now_ms()
        name = unique("exp")
        exp = store.create_experiment(name, description="churn", tags={"team": "risk", "k": ""})
        assert exp.name == name
        assert exp.description == "churn"
        assert exp.tags == {"team": "risk", "k": ""}
        assert exp.project_id == store.get_project_by_name(DEFAULT_PROJECT).id
        assert before <= exp.created_at <= exp.updated_at <= now_ms()
        assert store.get_experiment(exp.id) == exp
        assert store.get_experiment_by_name(name) == exp

    def test_experiment_defaults(self, store: MetadataStore) -> None:
        exp = new_experiment(store)
        assert exp.description == ""
        assert exp.tags == {}
        assert store.get_experiment(exp.id) == exp

    def test_experiments_in_projects(self, store: MetadataStore) -> None:
        project = store.create_project(unique("proj"))
        name = unique("exp")
        in_default = store.create_experiment(name)
        in_project = store.create_experiment(name, project_id=project.id)  # names are per project
        assert in_project.project_id == project.id
        assert in_project.id != in_default.id
        assert store.get_experiment_by_name(name, project_id=project.id) == in_project
        assert store.get_experiment_by_name(name) == in_default
        with pytest.raises(AlreadyExists):
            store.create_experiment(name, project_id=project.id)
        only_project = store.create_experiment(unique("exp"), project_id=project.id)
        with pytest.raises(NotFound):
            store.get_experiment_by_name(only_project.name)

    def test_duplicate_experiment(self, store: MetadataStore) -> None:
        exp = new_experiment(store)
        with pytest.raises(AlreadyExists):
            store.create_experiment(exp.name, description="again")
        assert store.get_experiment(exp.id) == exp

    def test_experiment_in_unknown_project(self, store: MetadataStore) -> None:
        name = unique("exp")
        with pytest.raises(NotFound):
            store.create_experiment(name, project_id=uuid.uuid4().hex)
        with pytest.raises(NotFound):
            store.get_experiment_by_name(name)

    def test_unknown_experiment(self, store: MetadataStore) -> None:
        exp = new_experiment(store)
        with pytest.raises(NotFound):
            store.get_experiment(uuid.uuid4().hex)
        with pytest.raises(NotFound):
            store.get_experiment_by_name(unique("missing"))
        with pytest.raises(NotFound):
            store.get_experiment_by_name(exp.name, project_id=uuid.uuid4().hex)
        with pytest.raises(NotFound):
            store.update_experiment(uuid.uuid4().hex, description="x")

    def test_bad_experiment_name(self, store: MetadataStore) -> None:
        assert_each_raises(InvalidArgument, {
            repr(name): lambda name=name: store.create_experiment(name)  # type: ignore[misc]
            for name in ["", "   ", "x" * 251, "tab\there"]
        })

    def test_bad_experiment_input(self, store: MetadataStore) -> None:
        name = unique("exp")
        cases: list[dict[str, object]] = [
            {"tags": {"bad;key": "v"}},
            {"tags": {"": "v"}},
            {"tags": {"k": "v" * 8001}},
            {"tags": {"ok": "1", "bad key!": "2"}},
            {"description": "d" * 10_001},
        ]
        assert_each_raises(InvalidArgument, {
            str(kwargs)[:60]: lambda kwargs=kwargs: store.create_experiment(name, **kwargs)  # type: ignore[misc]
            for kwargs in cases
        })
        with pytest.raises(NotFound):
            store.get_experiment_by_name(name)

    def test_experiment_name_limit(self, store: MetadataStore) -> None:
        name = unique("e")
        name += "x" * (250 - len(name))
        assert len(name) == 250
        assert store.create_experiment(name).name == name

    def test_search_experiments_by_pattern_with_paging(self, store: MetadataStore) -> None:
        prefix = unique("search")
        created = [store.create_experiment(f"{prefix}-{i}") for i in (3, 0, 4, 1, 2)]
        store.create_experiment(unique("other"))
        page = store.search_experiments(name_like=f"{prefix}-%", max_results=2)
        seen = []
        sizes = []
        while True:
            sizes.append(len(page))
            seen += [e.name for e in page]
            if page.next_page_token is None:
                break
            page = store.search_experiments(
                name_like=f"{prefix}-%", max_results=2, page_token=page.next_page_token
            )
        assert seen == [f"{prefix}-{i}" for i in range(5)]  # by name, each once
        assert sizes == [2, 2, 1]
        whole = store.search_experiments(name_like=f"{prefix}-%")
        assert whole.next_page_token is None
        assert {e.id for e in whole} == {e.id for e in created}
        assert [e.name for e in store.search_experiments(name_like=f"{prefix}-3")] == [
            f"{prefix}-3"
        ]

    def test_search_experiments_returns_full_experiments(self, store: MetadataStore) -> None:
        exp = store.create_experiment(unique("full"), description="d", tags={"a": "1"})
        assert list(store.search_experiments(name_like=exp.name)) == [exp]

    def test_search_experiments_like_is_case_sensitive(self, store: MetadataStore) -> None:
        prefix = unique("case")
        store.create_experiment(f"{prefix}-Upper")
        store.create_experiment(f"{prefix}-upper")
        found = store.search_experiments(name_like=f"{prefix}-U%")
        assert [e.name for e in found] == [f"{prefix}-Upper"]

    def test_search_experiments_by_project(self, store: MetadataStore) -> None:
        project = store.create_project(unique("proj"))
        prefix = unique("scoped")
        mine = store.create_experiment(f"{prefix}-a", project_id=project.id)
        store.create_experiment(f"{prefix}-b")
        assert list(store.search_experiments(project_id=project.id)) == [mine]
        both = store.search_experiments(name_like=f"{prefix}-%")
        assert [e.name for e in both] == [f"{prefix}-a", f"{prefix}-b"]

    def test_search_experiments_bad_arguments(self, store: MetadataStore) -> None:
        for bad in (0, -1, MAX_RESULTS_LIMIT + 1):
            with pytest.raises(InvalidArgument):
                store.search_experiments(max_results=bad)
        for token in ("not a token", "!!!", "e30="):
            with pytest.raises(InvalidArgument):
                store.search_experiments(page_token=token)

    def test_update_experiment(self, store: MetadataStore) -> None:
        exp = store.create_experiment(
            unique("exp"), description="old", tags={"keep": "1", "change": "a"}
        )
        new_name = unique("renamed")
        updated = store.update_experiment(
            exp.id, name=new_name, description="new", tags={"change": "b", "add": "c"}
        )
        assert updated.id == exp.id
        assert updated.name == new_name
        assert updated.description == "new"
        assert updated.tags == {"keep": "1", "change": "b", "add": "c"}  # merged
        assert updated.created_at == exp.created_at
        assert updated.updated_at >= exp.updated_at
        assert store.get_experiment(exp.id) == updated
        assert store.get_experiment_by_name(new_name) == updated
        with pytest.raises(NotFound):
            store.get_experiment_by_name(exp.name)

    def test_update_experiment_changes_only_what_is_given(self, store: MetadataStore) -> None:
        exp = store.create_experiment(unique("exp"), description="d", tags={"a": "1"})
        tagged = store.update_experiment(exp.id, tags={"b": "2"})
        assert (tagged.name, tagged.description, tagged.tags) == (exp.name, "d", {"a": "1", "b": "2"})
        described = store.update_experiment(exp.id, description="")
        assert (described.name, described.description) == (exp.name, "")
        same = store.update_experiment(exp.id, name=exp.name)  # renaming to itself is fine
        assert same.name == exp.name

    def test_update_experiment_to_taken_name(self, store: MetadataStore) -> None:
        first, second = new_experiment(store), new_experiment(store)
        with pytest.raises(AlreadyExists):
            store.update_experiment(second.id, name=first.name, description="lost")
        assert store.get_experiment(second.id) == second

    def test_bad_experiment_update_writes_nothing(self, store: MetadataStore) -> None:
        exp = store.create_experiment(unique("exp"), description="d", tags={"a": "1"})
        for kwargs in ({"name": ""}, {"tags": {"bad key!": "x"}}, {"name": "n" * 251}):
            with pytest.raises(InvalidArgument):
                store.update_experiment(exp.id, description="changed", **kwargs)  # type: ignore[arg-type]
        assert store.get_experiment(exp.id) == exp

    # runs -------------------------------------------------------------------------

    def test_create_run(self, store: MetadataStore, experiment: Experiment) -> None:
        parent = store.create_run(experiment.id, name="parent")
        source = RunSource(
            user="ann", entry_point="train.py", git_commit="a" * 40, git_dirty=True,
            python_version="3.11.9",
        )
        run = store.create_run(
            experiment.id, name="child", start_time=T0, parent_id=parent.id,
            tags={"team": "risk", "note": "first try"}, source=source,
        )
        assert run.experiment_id == experiment.id
        assert run.name == "child"
        assert run.status is RunStatus.RUNNING
        assert run.start_time == T0
        assert run.end_time is None
        assert run.parent_id == parent.id
        assert (run.user, run.entry_point, run.git_commit, run.git_dirty, run.python_version) == (
            "ann", "train.py", "a" * 40, True, "3.11.9"
        )
        assert run.tags == {"team": "risk", "note": "first try"}
        assert run.params == {} and run.metrics == {}
        assert run.artifact_location
        assert store.get_run(run.id).model_dump() == run.model_dump()
        assert run.id != parent.id

    def test_create_run_defaults(self, store: MetadataStore, experiment: Experiment) -> None:
        before = now_ms()
        run = store.create_run(experiment.id)
        assert isinstance(run.name, str) and run.name.strip()  # a generated name
        assert before <= run.start_time <= now_ms()
        assert run.status is RunStatus.RUNNING
        assert run.parent_id is None
        assert run.git_commit is None and run.git_dirty is None
        assert run.tags == {}
        assert store.get_run(run.id).model_dump() == run.model_dump()

    def test_run_ids_are_unique(self, store: MetadataStore, experiment: Experiment) -> None:
        ids = {store.create_run(experiment.id, name="same").id for _ in range(5)}
        assert len(ids) == 5

    def test_create_run_in_unknown_experiment(self, store: MetadataStore) -> None:
        with pytest.raises(NotFound):
            store.create_run(uuid.uuid4().hex, name="r")

    def test_create_run_with_unknown_parent(
        self, store: MetadataStore, experiment: Experiment
    ) -> None:
        with pytest.raises(NotFound):
            store.create_run(experiment.id, name="orphan", parent_id=uuid.uuid4().hex)
        assert len(store.search_runs([experiment.id])) == 0

    def test_bad_run_input(self, store: MetadataStore, experiment: Experiment) -> None:
        cases: list[dict[str, object]] = [
            {"name": ""},
            {"name": "x" * 251},
            {"name": "new\nline"},
            {"tags": {"bad;key": "v"}},
            {"tags": {"k": "v" * 8001}},
            {"start_time": 2**63},
            {"source": RunSource(git_commit="f" * 65)},
        ]
        assert_each_raises(InvalidArgument, {
            str(kwargs)[:60]: lambda kwargs=kwargs: store.create_run(experiment.id, **kwargs)  # type: ignore[misc]
            for kwargs in cases
        })
        assert len(store.search_runs([experiment.id])) == 0

    def test_unknown_run(self, store: MetadataStore) -> None:
        missing = uuid.uuid4().hex
        with pytest.raises(NotFound):
            store.get_run(missing)
        with pytest.raises(NotFound):
            store.update_run(missing, status=RunStatus.FINISHED)
        with pytest.raises(NotFound):
            store.get_metric_history(missing, "loss")
        with pytest.raises(NotFound):
            log(store, missing, [("loss", 1.0)])

    def test_rename_run(self, store: MetadataStore, run: Run) -> None:
        renamed = store.update_run(run.id, name="better name")
        assert renamed.name == "better name"
        assert renamed.status is RunStatus.RUNNING
        assert store.get_run(run.id).name == "better name"
        with pytest.raises(InvalidArgument):
            store.update_run(run.id, name="")

    def test_finish_run_sets_end_time(self, store: MetadataStore, run: Run) -> None:
        before = now_ms()
        finished = store.update_run(run.id, status=RunStatus.FINISHED)
        assert finished.status is RunStatus.FINISHED
        assert finished.end_time is not None
        assert before <= finished.end_time <= now_ms()
        assert store.get_run(run.id).model_dump() == finished.model_dump()

    @pytest.mark.parametrize("status", [RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED])
    def test_end_run_with_given_time(
        self, store: MetadataStore, experiment: Experiment, status: RunStatus
    ) -> None:
        run = store.create_run(experiment.id, start_time=T0)
        ended = store.update_run(run.id, status=status, end_time=T0 + 1234)
        assert ended.status is status
        assert ended.end_time == T0 + 1234
        assert ended.duration_ms == 1234

    def test_running_to_running_is_allowed(self, store: MetadataStore, run: Run) -> None:
        same = store.update_run(run.id, status=RunStatus.RUNNING)
        assert same.status is RunStatus.RUNNING
        assert same.end_time is None

    def test_finished_run_cannot_change_status(self, store: MetadataStore, run: Run) -> None:
        finished = store.update_run(run.id, status=RunStatus.FINISHED, end_time=T0)
        for other in (RunStatus.RUNNING, RunStatus.FAILED, RunStatus.KILLED):
            with pytest.raises(InvalidState):
                store.update_run(run.id, status=other)
        assert store.get_run(run.id).model_dump() == finished.model_dump()

    def test_same_terminal_status_is_a_no_op(self, store: MetadataStore, run: Run) -> None:
        failed = store.update_run(run.id, status=RunStatus.FAILED, end_time=T0)
        again = store.update_run(run.id, status=RunStatus.FAILED)
        assert again.model_dump() == failed.model_dump()
        again = store.update_run(run.id, status=RunStatus.FAILED, end_time=T0 + 99)
        assert again.end_time == T0  # the first end stands

    def test_finished_run_can_be_renamed(self, store: MetadataStore, run: Run) -> None:
        store.update_run(run.id, status=RunStatus.FINISHED)
        assert store.update_run(run.id, name="kept").name == "kept"

    def test_bad_status(self, store: MetadataStore, run: Run) -> None:
        with pytest.raises(InvalidArgument):
            store.update_run(run.id, status="DONE")  # type: ignore[arg-type]
        assert store.get_run(run.id).status is RunStatus.RUNNING

    # log_batch ----------------------------------------------------------------------

    def test_log_batch_writes_everything(self, store: MetadataStore, run: Run) -> None:
        assert log(
            store, run.id, [("loss", 0.5, 0), ("loss", 0.25, 1), ("acc", 0.75, 1)],
            params={"lr": "0.01", "layers": "3"}, tags={"team": "risk"},
        )
        got = store.get_run(run.id)
        assert got.params == {"lr": "0.01", "layers": "3"}
        assert got.tags == {"team": "risk"}
        assert {k: (m.value, m.step) for k, m in got.metrics.items()} == {
            "loss": (0.25, 1), "acc": (0.75, 1)
        }
        assert got.metrics["loss"].key == "loss"
        assert got.status is RunStatus.RUNNING

    def test_empty_batch(self, store: MetadataStore, run: Run) -> None:
        assert log(store, run.id)
        assert store.get_run(run.id).model_dump() == run.model_dump()

    def test_metric_history_is_kept_in_full(self, store: MetadataStore, run: Run) -> None:
        log(store, run.id, [Metric(key="loss", value=1.0, step=0, timestamp=T0)])
        log(store, run.id, [
            Metric(key="loss", value=0.5, step=1, timestamp=T0 + 10),
            Metric(key="loss", value=0.6, step=1, timestamp=T0 + 5),  # same step, earlier
            Metric(key="other", value=9.0, step=0, timestamp=T0),
        ])
        log(store, run.id, [Metric(key="loss", value=0.25, step=2, timestamp=T0 + 20)])
        history = store.get_metric_history(run.id, "loss")
        assert history.run_id == run.id and history.key == "loss"
        assert history.steps == [0, 1, 1, 2]
        assert history.values == [1.0, 0.6, 0.5, 0.25]
        assert history.timestamps == [T0, T0 + 5, T0 + 10, T0 + 20]
        assert len(history) == 4
        assert history.to_metrics()[1] == Metric(key="loss", value=0.6, step=1, timestamp=T0 + 5)

    def test_metric_history_orders_by_step_then_timestamp(
        self, store: MetadataStore, run: Run
    ) -> None:
        # written out of order, across batches
        points = [(3, T0 + 1), (1, T0 + 9), (2, T0 + 2), (1, T0 + 3), (0, T0 + 100), (2, T0 + 1)]
        for step, ts in points:
            log(store, run.id, [Metric(key="m", value=step + ts / 1e13, step=step, timestamp=ts)])
        history = store.get_metric_history(run.id, "m")
        assert list(zip(history.steps, history.timestamps)) == sorted(points)

    def test_metric_history_of_unlogged_key_is_empty(self, store: MetadataStore, run: Run) -> None:
        log(store, run.id, [("loss", 1.0)])
        empty = store.get_metric_history(run.id, "never")
        assert (empty.steps, empty.values, empty.timestamps) == ([], [], [])
        assert len(store.get_metric_history(run.id, "LOSS")) == 0  # keys are case-sensitive

    def test_metric_history_downsampled(self, store: MetadataStore, run: Run) -> None:
        rng = random.Random(11)
        values = [math.sin(i / 300) + rng.uniform(-0.05, 0.05) for i in range(5000)]
        values[1234], values[3456] = 25.0, -25.0
        steps, timestamps = list(range(5000)), [T0 + i for i in range(5000)]
        log(store, run.id, [Metric(key="m", value=val, step=step, timestamp=ts)
                            for step, val, ts in zip(steps, values, timestamps)])
        history = store.get_metric_history(run.id, "m", max_points=300)
        # the same points from every backend: those the pure function picks
        expected = downsample(steps, values, timestamps, 300)
        assert (history.steps, history.values, history.timestamps) == expected
        assert len(history) <= 300 and history.sampled_from == 5000
        assert {1234, 3456} <= set(history.steps)
        full = store.get_metric_history(run.id, "m")
        assert len(full) == 5000 and full.sampled_from is None
        for enough in (5000, MAX_POINTS_LIMIT):
            assert store.get_metric_history(run.id, "m", max_points=enough) == full
        empty = store.get_metric_history(run.id, "never", max_points=4)
        assert len(empty) == 0 and empty.sampled_from is None

    def test_metric_history_max_points_bounds(self, store: MetadataStore, run: Run) -> None:
        log(store, run.id, [("m", float(i), i) for i in range(10)])

        def history(max_points: object) -> Callable[[], object]:
            return lambda: store.get_metric_history(run.id, "m", max_points)  # type: ignore[arg-type]

        bad = (3, 0, -4, MAX_POINTS_LIMIT + 1, 2**70, 10.0, "ten", True)
        assert_each_raises(InvalidArgument, {repr(b): history(b) for b in bad})
        assert store.get_metric_history(run.id, "m", max_points=4).steps == [0, 1, 8, 9]

    def test_identical_point_is_kept_once(self, store: MetadataStore, run: Run) -> None:
        # A point is (step, timestamp, value): logging the very same one again adds nothing.
        point = Metric(key="m", value=1.0, step=0, timestamp=T0)
        log(store, run.id, [point, point])
        log(store, run.id, [point])
        assert len(store.get_metric_history(run.id, "m")) == 1
        # any difference is a new point
        log(store, run.id, [Metric(key="m", value=2.0, step=0, timestamp=T0),
                            Metric(key="m", value=1.0, step=0, timestamp=T0 + 1),
                            Metric(key="m", value=1.0, step=1, timestamp=T0)])
        assert len(store.get_metric_history(run.id, "m")) == 4

    def test_latest_metric_is_highest_step_then_timestamp(
        self, store: MetadataStore, run: Run
    ) -> None:
        def latest() -> tuple[float, int, int]:
            m = store.get_run(run.id).metrics["acc"]
            return m.value, m.step, m.timestamp

        log(store, run.id, [Metric(key="acc", value=0.5, step=5, timestamp=T0 + 1000)])
        assert latest() == (0.5, 5, T0 + 1000)
        # an older step arriving later does not replace it
        log(store, run.id, [Metric(key="acc", value=0.2, step=2, timestamp=T0 + 2000)])
        assert latest() == (0.5, 5, T0 + 1000)
        # the same step with an older timestamp does not either
        log(store, run.id, [Metric(key="acc", value=0.4, step=5, timestamp=T0 + 900)])
        assert latest() == (0.5, 5, T0 + 1000)
        # the same step, newer timestamp does
        log(store, run.id, [Metric(key="acc", value=0.6, step=5, timestamp=T0 + 1100)])
        assert latest() == (0.6, 5, T0 + 1100)
        # within one batch, the highest step wins whatever the order
        log(store, run.id, [
            Metric(key="acc", value=0.9, step=9, timestamp=T0 + 10),
            Metric(key="acc", value=0.7, step=7, timestamp=T0 + 3000),
        ])
        assert latest() == (0.9, 9, T0 + 10)
        found = store.search_runs([run.experiment_id], "metrics.acc = 0.9")
        assert [r.id for r in found] == [run.id]

    def test_metric_values_and_steps_at_the_limits(self, store: MetadataStore, run: Run) -> None:
        big = 2**63 - 1
        log(store, run.id, [
            Metric(key="m", value=-1e300, step=-big - 1, timestamp=0),
            Metric(key="m", value=1e-300, step=0, timestamp=T0),
            Metric(key="m", value=0.0, step=big, timestamp=T0),
            Metric(key="i", value=3, step=0, timestamp=T0),
        ])
        history = store.get_metric_history(run.id, "m")
        assert history.steps == [-big - 1, 0, big]
        assert history.values == [-1e300, 1e-300, 0.0]
        assert store.get_run(run.id).metrics["i"].value == 3.0

    def test_params_are_immutable(self, store: MetadataStore, run: Run) -> None:
        log(store, run.id, params={"lr": "0.01"})
        assert log(store, run.id, params={"lr": "0.01", "other": "x"})  # same value: fine
        before = snapshot(store, run.id, ["loss"])
        with pytest.raises(Conflict):
            log(store, run.id, [("loss", 1.0)], params={"lr": "0.02", "new": "y"},
                tags={"t": "v"})
        # nothing from the failed batch was written
        assert snapshot(store, run.id, ["loss"]) == before
        assert store.get_run(run.id).params == {"lr": "0.01", "other": "x"}

    def test_conflicting_params_in_one_batch(self, store: MetadataStore, run: Run) -> None:
        batch = Batch(run_id=run.id, params=[Param(key="a", value="1"), Param(key="a", value="2")],
                      metrics=[Metric(key="m", value=1.0)])
        before = snapshot(store, run.id, ["m"])
        with pytest.raises(Conflict):
            store.log_batch(batch)
        assert snapshot(store, run.id, ["m"]) == before
        same = Batch(run_id=run.id, params=[Param(key="a", value="1"), Param(key="a", value="1")])
        assert store.log_batch(same).applied
        assert store.get_run(run.id).params == {"a": "1"}

    def test_tags_overwrite(self, store: MetadataStore, experiment: Experiment) -> None:
        run = store.create_run(experiment.id, tags={"a": "1", "b": "2"})
        log(store, run.id, tags={"a": "changed", "c": "3"})
        log(store, run.id, tags={"c": "again"})
        assert store.get_run(run.id).tags == {"a": "changed", "b": "2", "c": "again"}
        found = store.search_runs([experiment.id], "tags.a = 'changed'")
        assert [r.id for r in found] == [run.id]
        assert len(store.search_runs([experiment.id], "tags.a = '1'")) == 0

    def test_batch_replay_is_exactly_once(self, store: MetadataStore, run: Run) -> None:
        batch_id = uuid.uuid4().hex
        kwargs = {"params": {"p": "1"}, "tags": {"t": "x"}, "batch_id": batch_id}
        assert log(store, run.id, [("m", 1.0, 0), ("m", 2.0, 1)], **kwargs) is True
        after_first = snapshot(store, run.id, ["m"])
        assert log(store, run.id, [("m", 1.0, 0), ("m", 2.0, 1)], **kwargs) is False
        assert snapshot(store, run.id, ["m"]) == after_first
        assert len(store.get_metric_history(run.id, "m")) == 2
        # another id is another batch
        assert log(store, run.id, [("m", 3.0, 2)], batch_id=uuid.uuid4().hex) is True
        assert len(store.get_metric_history(run.id, "m")) == 3

    def test_replay_of_the_batch_that_ended_the_run(
        self, store: MetadataStore, run: Run
    ) -> None:
        # a client that lost the answer replays the batch; the run has finished since
        batch_id = uuid.uuid4().hex
        assert log(store, run.id, [("m", 1.0)], batch_id=batch_id,
                   end_status=RunStatus.FINISHED, end_time=T0 + 5)
        assert log(store, run.id, [("m", 1.0)], batch_id=batch_id,
                   end_status=RunStatus.FINISHED, end_time=T0 + 5) is False
        got = store.get_run(run.id)
        assert (got.status, got.end_time) == (RunStatus.FINISHED, T0 + 5)
        assert len(store.get_metric_history(run.id, "m")) == 1

    def test_a_failed_batch_is_not_marked_applied(self, store: MetadataStore, run: Run) -> None:
        log(store, run.id, params={"p": "1"})
        batch_id = uuid.uuid4().hex
        for _ in range(2):  # the retry fails the same way instead of reporting a replay
            with pytest.raises(Conflict):
                log(store, run.id, [("m", 1.0)], params={"p": "2"}, batch_id=batch_id)
        assert len(store.get_metric_history(run.id, "m")) == 0

    def test_batch_can_end_the_run(self, store: MetadataStore, run: Run) -> None:
        log(store, run.id, [("m", 1.0)], params={"p": "1"}, end_status=RunStatus.FAILED,
            end_time=T0 + 42)
        got = store.get_run(run.id)
        assert got.status is RunStatus.FAILED
        assert got.end_time == T0 + 42
        assert got.params == {"p": "1"}
        assert got.metrics["m"].value == 1.0

    def test_batch_end_without_time_uses_now(self, store: MetadataStore, run: Run) -> None:
        before = now_ms()
        log(store, run.id, end_status=RunStatus.FINISHED)
        got = store.get_run(run.id)
        assert got.status is RunStatus.FINISHED
        assert got.end_time is not None and before <= got.end_time <= now_ms()

    def test_batch_cannot_set_running(self, store: MetadataStore, run: Run) -> None:
        with pytest.raises(InvalidArgument):
            log(store, run.id, [("m", 1.0)], end_status=RunStatus.RUNNING)
        assert len(store.get_metric_history(run.id, "m")) == 0

    @pytest.mark.parametrize("status", [RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED])
    def test_finished_run_accepts_no_writes(
        self, store: MetadataStore, run: Run, status: RunStatus
    ) -> None:
        store.update_run(run.id, status=status)
        before = snapshot(store, run.id, ["m"])
        for kwargs in (
            {"metrics": [("m", 1.0)]},
            {"params": {"p": "1"}},
            {"tags": {"t": "1"}},
            {"metrics": [("m", 1.0)], "batch_id": uuid.uuid4().hex},
            {"end_status": RunStatus.FINISHED},
        ):
            with pytest.raises(InvalidState):
                log(store, run.id, **kwargs)  # type: ignore[arg-type]
        assert snapshot(store, run.id, ["m"]) == before

    def test_non_finite_metric(self, store: MetadataStore, run: Run) -> None:
        assert_each_raises(InvalidArgument, {
            repr(value): lambda value=value: log(  # type: ignore[misc]
                store, run.id, [("ok", 1.0), ("bad", value)], params={"p": "1"})
            for value in (math.nan, math.inf, -math.inf)
        })
        got = store.get_run(run.id)
        assert got.metrics == {} and got.params == {}
        assert len(store.get_metric_history(run.id, "ok")) == 0

    @pytest.mark.parametrize("kind", ["metric", "param", "tag"])
    def test_bad_keys(self, store: MetadataStore, run: Run, kind: str) -> None:
        def write(key: str) -> None:
            metrics: list[tuple[str, float]] = [("fine", 1.0)]
            params, tags = {"fine": "1"}, {"fine": "1"}
            if kind == "metric":
                metrics.append((key, 1.0))
            elif kind == "param":
                params[key] = "v"
            else:
                tags[key] = "v"
            log(store, run.id, metrics, params=params, tags=tags)

        bad = ["", "a;b", "new\nline", "tab\tkey", "quote'key", 'dq"key', "back`tick",
               "/absolute", "a/../b", "caf\u00e9", "x" * 251]
        assert_each_raises(InvalidArgument, {
            repr(key): lambda key=key: write(key) for key in bad  # type: ignore[misc]
        })
        got = store.get_run(run.id)
        assert got.metrics == {} and got.params == {} and got.tags == {}

    def test_allowed_keys(self, store: MetadataStore, run: Run) -> None:
        keys = ["val.loss", "train/loss", "a-b_c", "with space", "time:ms", "Upper", "k" * 250]
        log(store, run.id, [(k, 1.0) for k in keys], params={k: "1" for k in keys},
            tags={k: "1" for k in keys})
        got = store.get_run(run.id)
        assert set(got.metrics) == set(got.params) == set(got.tags) == set(keys)

    def test_value_length_limits(self, store: MetadataStore, run: Run) -> None:
        log(store, run.id, params={"p": "v" * 6000}, tags={"t": "v" * 8000})
        with pytest.raises(InvalidArgument):
            log(store, run.id, params={"q": "v" * 6001})
        with pytest.raises(InvalidArgument):
            log(store, run.id, tags={"u": "v" * 8001})
        got = store.get_run(run.id)
        assert got.params == {"p": "v" * 6000}
        assert got.tags == {"t": "v" * 8000}

    def test_values_keep_their_text(self, store: MetadataStore, run: Run) -> None:
        text = "multi\nline, 'quoted', \"double\", unicode \u2713, 100%_done"
        log(store, run.id, params={"p": text, "empty": ""}, tags={"t": text})
        got = store.get_run(run.id)
        assert got.params == {"p": text, "empty": ""}
        assert got.tags == {"t": text}

    def test_step_must_fit_in_64_bits(self, store: MetadataStore, run: Run) -> None:
        with pytest.raises(InvalidArgument):
            log(store, run.id, [Metric(key="m", value=1.0, step=2**63, timestamp=T0)])
        assert len(store.get_metric_history(run.id, "m")) == 0

    def test_batch_size_limit(self, store: MetadataStore, run: Run) -> None:
        points = [Metric(key="m", value=float(i), step=i, timestamp=T0) for i in range(9_998)]
        assert log(store, run.id, points, params={"p": "1"}, tags={"t": "1"})  # 10,000 items
        assert len(store.get_metric_history(run.id, "m")) == 9_998
        with pytest.raises(InvalidArgument):
            log(store, run.id, points + [Metric(key="n", value=0.0)], params={"q": "1"},
                tags={"u": "1"})
        assert "n" not in store.get_run(run.id).metrics
        assert len(store.get_metric_history(run.id, "m")) == 9_998

    def test_bad_batch_id(self, store: MetadataStore, run: Run) -> None:
        for batch_id in ("", "b" * 65):
            with pytest.raises(InvalidArgument):
                log(store, run.id, [("m", 1.0)], batch_id=batch_id)
        assert len(store.get_metric_history(run.id, "m")) == 0

    # search_runs ---------------------------------------------------------------------

    def test_search_fixture(self, data: SearchData) -> None:
        assert data["alpha"].metrics["acc"].value == 0.9
        assert data["delta"].parent_id == data["alpha"].id
        assert data["beta"].status is RunStatus.RUNNING

    def test_search_by_metrics(self, store: MetadataStore, data: SearchData) -> None:
        self.check_filters(store, data.ids, METRIC_FILTERS)

    def test_search_by_params(self, store: MetadataStore, data: SearchData) -> None:
        self.check_filters(store, data.ids, PARAM_FILTERS)

    def test_search_by_tags(self, store: MetadataStore, data: SearchData) -> None:
        self.check_filters(store, data.ids, TAG_FILTERS)

    def test_search_by_attributes(self, store: MetadataStore, data: SearchData) -> None:
        self.check_filters(store, data.ids, ATTRIBUTE_FILTERS)

    def test_search_by_ids(self, store: MetadataStore, data: SearchData) -> None:
        a, b, g = data["alpha"].id, data["beta"].id, data["gamma"].id
        self.check_filters(store, data.ids, [
            (f"id = '{a}'", {"alpha"}),
            (f"run_id = '{b}'", {"beta"}),
            (f"attributes.id in ('{a}', '{g}')", {"alpha", "gamma"}),
            (f"id not in ('{a}', '{g}')", {"beta", "delta"}),
            (f"parent_id = '{a}'", {"delta"}),
            (f"experiment_id = '{data.experiment.id}'", ALL),
            (f"experiment_id != '{data.experiment.id}'", set()),
        ])

    def test_search_with_and_or_parentheses(self, store: MetadataStore, data: SearchData) -> None:
        self.check_filters(store, data.ids, BOOLEAN_FILTERS)

    def test_search_returns_full_runs(self, store: MetadataStore, data: SearchData) -> None:
        [found] = store.search_runs(data.ids, "name = 'alpha'")
        assert found.model_dump() == data["alpha"].model_dump()
        assert found.params["owner"] == "O'Brien"
        assert found.metrics["acc"].step == 1

    def test_search_order(self, store: MetadataStore, data: SearchData) -> None:
        failures = []
        for order_by, expected in ORDERINGS:
            got = names(store.search_runs(data.ids, order_by=order_by))
            if got != expected:
                failures.append(f"{order_by}: expected {expected}, got {got}")
        assert not failures, "\n".join(failures)

    def test_search_filter_and_order_together(
        self, store: MetadataStore, data: SearchData
    ) -> None:
        found = store.search_runs(data.ids, "metrics.acc > 0", order_by=["metrics.acc DESC"])
        assert names(found) == ["alpha", "gamma", "beta"]
        found = store.search_runs(data.ids, "params.lr != '0.1'", order_by=["params.lr DESC"])
        assert names(found) == ["alpha", "gamma"]
        found = store.search_runs(data.ids, "params.model ilike '%nn%'", order_by=["params.lr"])
        assert names(found) == ["gamma", "alpha", "beta", "delta"]

    def test_search_across_experiments(self, store: MetadataStore, data: SearchData) -> None:
        other = new_experiment(store)
        o1 = store.create_run(other.id, name="other-1", start_time=T0 + 1500)
        o2 = store.create_run(other.id, name="other-2", start_time=T0 + 9000)
        log(store, o1.id, [("acc", 0.95)], tags={"team": "nlp"})
        log(store, o2.id, [("acc", 0.1)])
        ids = [data.experiment.id, other.id]
        assert names(store.search_runs(ids)) == [
            "other-2", "delta", "gamma", "beta", "other-1", "alpha"
        ]
        assert names(store.search_runs(ids, order_by=["metrics.acc DESC"])) == [
            "other-1", "alpha", "gamma", "beta", "other-2", "delta"
        ]
        assert set(names(store.search_runs(ids, "tags.team = 'nlp'"))) == {"gamma", "other-1"}
        assert names(store.search_runs([other.id])) == ["other-2", "other-1"]
        assert names(store.search_runs([other.id], f"experiment_id = '{data.experiment.id}'")) == []

    def test_search_runs_json_is_the_same_page(self, store: MetadataStore, data: SearchData) -> None:
        for filter_, order_by, max_results in [
            (None, None, 1000), ("metrics.acc > 0", ["metrics.acc DESC"], 1000),
            ("tags.team = 'nlp' or params.lr = '0.1'", ["params.lr", "name"], 1000),
            (None, ["start_time"], 3), ("name = 'nobody'", None, 10),
        ]:
            page = store.search_runs(data.ids, filter_, order_by, max_results)
            assert RunPage.model_validate_json(
                store.search_runs_json(data.ids, filter_, order_by, max_results)) == page
            if page.next_page_token:
                assert RunPage.model_validate_json(store.search_runs_json(
                    data.ids, filter_, order_by, max_results, page.next_page_token)
                ) == store.search_runs(data.ids, filter_, order_by, max_results, page.next_page_token)
        assert RunPage.model_validate_json(store.search_runs_json([])).items == []

    def test_search_runs_json_keeps_every_value_exactly(
        self, store: MetadataStore, experiment: Experiment
    ) -> None:
        values = [0.1, 1 / 3, -2.5, 0.0, 1e-300, 5e-324, 1.7976931348623157e308,
                  float(2**53 + 1), 123456789.123456789, *(random.Random(3).uniform(-1e6, 1e6) for _ in range(40))]
        text = 'tab\tnew\nline "dq" \\ back \u2713 \u00e9 \x01 end'
        runs = []
        for dirty in (True, False, None):
            run = store.create_run(experiment.id, name=f"exact-{dirty}", source=RunSource(
                user=text, entry_point=text, git_commit="ab" * 20, git_dirty=dirty))
            log(store, run.id, [Metric(key=f"m{i}", value=value, step=2**63 - 1 - i, timestamp=T0 + i)
                                for i, value in enumerate(values)],
                params={"p": text, "empty": ""}, tags={"t": text})
            runs.append(run.id)
        store.update_run(runs[0], status=RunStatus.FINISHED)
        via_json = RunPage.model_validate_json(store.search_runs_json([experiment.id]))
        assert via_json == store.search_runs([experiment.id])
        for run in via_json:
            got = [run.metrics[f"m{i}"].value for i in range(len(values))]
            assert got == values
            assert run.params["p"] == run.tags["t"] == run.user == text

    def test_search_no_experiments(self, store: MetadataStore, data: SearchData) -> None:
        assert len(store.search_runs([])) == 0
        assert len(store.search_runs([uuid.uuid4().hex])) == 0

    def test_search_parent_and_child(self, store: MetadataStore, experiment: Experiment) -> None:
        parent = store.create_run(experiment.id, name="parent")
        children = {store.create_run(experiment.id, name=f"c{i}", parent_id=parent.id).id
                    for i in range(3)}
        found = store.search_runs([experiment.id], f"parent_id = '{parent.id}'")
        assert {r.id for r in found} == children

    @pytest.mark.parametrize(
        "order_by", [None, ["metrics.m DESC"], ["params.p"], ["tags.t desc", "name"], ["start_time"]]
    )
    def test_paging_covers_every_run_once(
        self, store: MetadataStore, experiment: Experiment, order_by: list[str] | None
    ) -> None:
        # equal start times and repeated values: the order must still be total
        created = []
        for i in range(7):
            run = store.create_run(experiment.id, name=f"r{i}", start_time=T0)
            points = [("m", float(i % 3))] if i != 5 else []
            log(store, run.id, points, params={"p": str(i % 2)}, tags={"t": "x"} if i % 3 else {})
            created.append(run.id)
        whole = store.search_runs([experiment.id], order_by=order_by)
        assert len(whole) == 7 and whole.next_page_token is None
        seen: list[str] = []
        sizes = []
        token = None
        for _ in range(10):
            page = store.search_runs(
                [experiment.id], order_by=order_by, max_results=3, page_token=token
            )
            sizes.append(len(page))
            seen += [r.id for r in page]
            token = page.next_page_token
            if token is None:
                break
        assert sorted(seen) == sorted(created)  # each run exactly once
        assert seen == [r.id for r in whole]  # in the same order as one big page
        assert sizes == [3, 3, 1]

    def test_paging_with_a_filter(self, store: MetadataStore, experiment: Experiment) -> None:
        for i in range(6):
            run = store.create_run(experiment.id, name=f"r{i}", start_time=T0 + i)
            log(store, run.id, [("m", float(i))])
        seen = []
        token = None
        while True:
            page = store.search_runs([experiment.id], "metrics.m >= 1", max_results=2,
                                     page_token=token)
            seen += names(page)
            token = page.next_page_token
            if token is None:
                break
        assert seen == ["r5", "r4", "r3", "r2", "r1"]

    def test_bad_page_token(self, store: MetadataStore, data: SearchData) -> None:
        # "e30=" is "{}", the last one {"offset": -1}: well-formed base64, meaningless tokens
        tokens = ["not a token", "!!!", "e30=", "eyJvZmZzZXQiOiAtMX0="]
        assert_each_raises(InvalidArgument, {
            t: lambda t=t: store.search_runs(data.ids, page_token=t) for t in tokens  # type: ignore[misc]
        })

    def test_max_results_bounds(self, store: MetadataStore, data: SearchData) -> None:
        for bad in (0, -1, MAX_RESULTS_LIMIT + 1):
            with pytest.raises(InvalidArgument):
                store.search_runs(data.ids, max_results=bad)
        assert len(store.search_runs(data.ids, max_results=MAX_RESULTS_LIMIT)) == 4
        page = store.search_runs(data.ids, max_results=1)
        assert names(page) == ["delta"] and page.next_page_token is not None

    def test_malformed_filter(self, store: MetadataStore, data: SearchData) -> None:
        cases = [
            ("metrics.acc >", 13),
            ("bogus = 'x'", 0),
            ("params.lr = 0.1", 12),
            ("metrics.acc > 'high'", 14),
            ("metrics.acc > 1 garbage", 16),
            ("params.model not like 'x'", 17),
            ("(metrics.acc > 1", 16),
            ("params.a = 'unterminated", 11),
            ("status = 'DONE'", 9),
            ("params.lr in ()", 14),
        ]
        failures = []
        for text, position in cases:
            try:
                store.search_runs(data.ids, text)
            except InvalidFilter as exc:
                if exc.error_code != "INVALID_FILTER" or exc.details.get("position") != position:
                    failures.append(f"{text!r}: {exc.error_code} {exc.details}, want {position}")
            except Exception as exc:
                failures.append(f"{text!r}: raised {exc.__class__.__name__}: {exc}")
            else:
                failures.append(f"{text!r}: did not raise InvalidFilter")
        assert not failures, "\n".join(failures)

    def test_malformed_order_by(self, store: MetadataStore, data: SearchData) -> None:
        for order_by in (["bogus"], ["metrics.acc sideways"], [""], ["metrics.acc", "nope"]):
            with pytest.raises(InvalidFilter) as info:
                store.search_runs(data.ids, order_by=order_by)
            assert "position" in info.value.details, order_by

    def test_filter_values_are_data_not_query_text(
        self, store: MetadataStore, data: SearchData
    ) -> None:
        assert len(store.search_runs(data.ids, "params.model = 'x'' or ''1''=''1'")) == 0
        assert len(store.search_runs(data.ids, "tags.team = 'nlp''; --'")) == 0
        assert len(store.search_runs(data.ids, "tags.`team = 'nlp'` = 'x'")) == 0

    # runs started by the client ------------------------------------------------------

    def test_client_chosen_run_id(self, store: MetadataStore, experiment: Experiment) -> None:
        run_id = uuid.uuid4().hex
        run = store.create_run(experiment.id, name="mine", run_id=run_id)
        assert run.id == run_id and store.get_run(run_id).name == "mine"
        assert run.artifact_location == f"{experiment.id}/{run_id}/artifacts"
        with pytest.raises(AlreadyExists):
            store.create_run(experiment.id, run_id=run_id)
        for bad in ("short", "A" * 32, "g" * 32, "../" + "a" * 29):
            with pytest.raises(InvalidArgument):
                store.create_run(experiment.id, run_id=bad)

    def test_batch_can_start_and_end_a_run(self, store: MetadataStore, experiment: Experiment) -> None:
        run_id, batch_id = uuid.uuid4().hex, uuid.uuid4().hex
        new = NewRun(experiment_id=experiment.id, name="one-shot", start_time=T0,
                     tags={"t": "1"}, source=RunSource(user="ann", python_version="3.11.7"))
        batch = Batch(run_id=run_id, create=new, metrics=[Metric(key="m", value=1.0)],
                      params=[Param(key="p", value="1")], batch_id=batch_id,
                      end_status=RunStatus.FINISHED, end_time=T0 + 5)
        assert store.log_batch(batch).applied is True
        run = store.get_run(run_id)
        assert (run.name, run.status, run.start_time, run.end_time) == (
            "one-shot", RunStatus.FINISHED, T0, T0 + 5)
        assert run.user == "ann" and run.tags == {"t": "1"} and run.params == {"p": "1"}
        assert store.log_batch(batch).applied is False  # a replay creates nothing twice
        assert len(store.get_metric_history(run_id, "m")) == 1

    def test_batch_that_starts_a_run_fails_whole(self, store: MetadataStore, experiment: Experiment) -> None:
        run_id = uuid.uuid4().hex
        missing = NewRun(experiment_id=uuid.uuid4().hex)
        with pytest.raises(NotFound):
            store.log_batch(Batch(run_id=run_id, create=missing, metrics=[Metric(key="m", value=1.0)]))
        bad_metric = NewRun(experiment_id=experiment.id)
        with pytest.raises(InvalidArgument):
            store.log_batch(Batch(run_id=run_id, create=bad_metric,
                                  metrics=[Metric(key="bad key!", value=1.0)]))
        with pytest.raises(NotFound):
            store.get_run(run_id)

    def test_batch_id_reused_for_another_run(self, store: MetadataStore, experiment: Experiment) -> None:
        first, second = (store.create_run(experiment.id) for _ in range(2))
        batch_id = uuid.uuid4().hex
        assert log(store, first.id, [("m", 1.0)], batch_id=batch_id) is True
        with pytest.raises(Conflict, match="another run"):
            log(store, second.id, [("m", 2.0)], batch_id=batch_id)
        assert store.get_run(second.id).metrics == {}

    def test_malformed_ids_and_bounds(self, store: MetadataStore, experiment: Experiment) -> None:
        for bad in ("x" * 40, "../" + "a" * 29, "A" * 32):
            with pytest.raises(NotFound):
                log(store, bad, [("m", 1.0)], batch_id=uuid.uuid4().hex)
        with pytest.raises(InvalidArgument):
            store.search_runs([uuid.uuid4().hex] * 1001)
        huge = base64.urlsafe_b64encode(b'{"offset": 100000000000000000000}').decode()
        with pytest.raises(InvalidArgument):
            store.search_runs([experiment.id], page_token=huge)
        with pytest.raises(InvalidArgument):
            store.search_audit_events(since=2**70)
        with pytest.raises(InvalidArgument):
            store.create_experiment(unique("nul"), description="a\x00b")
        with pytest.raises(InvalidFilter):
            store.search_runs([experiment.id], "tags.t = 'a\x00b'")
        run = store.create_run(experiment.id)
        with pytest.raises(InvalidArgument):
            store.get_metric_history(run.id, "a\x00b")

    # audit ---------------------------------------------------------------------------

    def test_record_audit_event(self, store: MetadataStore) -> None:
        event = AuditEvent(
            time=T0, actor=unique("user"), action="runs.create", resource_type="run",
            resource_id=uuid.uuid4().hex,
            request={"name": "r", "tags": ["a", "b"], "nested": {"n": 1, "ok": True},
                     "text": "\u2713"},
            status=201,
        )
        recorded = store.record_audit_event(event)
        assert recorded.id is not None
        assert recorded.model_dump(exclude={"id"}) == event.model_dump(exclude={"id"})
        [found] = store.search_audit_events(resource_type="run", resource_id=event.resource_id)
        assert found == recorded and found.before is None

    def test_audit_event_keeps_the_state_it_replaced(self, store: MetadataStore) -> None:
        before = {"revision": 3, "routes": [{"version": "2", "weight": 90}], "empty": {},
                  "text": "\u2713"}
        event = store.record_audit_event(AuditEvent(
            time=T0, actor=unique("user"), action="update_deployment",
            resource_type="deployment", resource_id=unique("d"), request={"revision": 4},
            before=before))
        [found] = store.search_audit_events(resource_id=event.resource_id)
        assert found == event and found.before == before
        empty = store.record_audit_event(event.model_copy(update={"id": None, "before": {}}))
        assert store.search_audit_events(after_id=event.id, resource_id=event.resource_id) == [
            empty]
        assert empty.before == {}

    def test_audit_events_by_resource_and_actor(self, store: MetadataStore) -> None:
        ann, bob = unique("ann"), unique("bob")
        res = uuid.uuid4().hex

        def record(actor: str, rtype: str, rid: str | None, t: int) -> AuditEvent:
            return store.record_audit_event(AuditEvent(
                time=t, actor=actor, action=f"{rtype}s.update", resource_type=rtype,
                resource_id=rid))

        e1 = record(ann, "run", res, T0 + 1)
        e2 = record(bob, "run", res, T0 + 2)
        e3 = record(ann, "experiment", res, T0 + 3)
        e4 = record(ann, "run", None, T0 + 4)
        assert e1.id is not None and e2.id is not None and e3.id is not None
        assert e1.id < e2.id < e3.id  # ids grow
        assert store.search_audit_events(resource_type="run", resource_id=res) == [e1, e2]
        assert store.search_audit_events(resource_id=res) == [e1, e2, e3]  # oldest first
        assert store.search_audit_events(actor=ann) == [e1, e3, e4]
        assert store.search_audit_events(actor=ann, resource_type="run") == [e1, e4]
        assert store.search_audit_events(actor=bob, resource_id=res) == [e2]
        assert store.search_audit_events(actor=unique("nobody")) == []
        assert store.search_audit_events(actor=ann, max_results=2) == [e1, e3]

    def test_audit_events_page_by_id(self, store: MetadataStore) -> None:
        actor = unique("pager")
        events = [store.record_audit_event(AuditEvent(
            time=T0 + 10 - i, actor=actor, action="runs.update", resource_type="run"))
            for i in range(5)]  # ids grow while times fall: pages follow the ids
        assert_pages_by_id(store, actor, events)

    def test_audit_events_without_a_filter(self, store: MetadataStore) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no filter at all once built a deprecated empty and_()
            assert isinstance(store.search_audit_events(max_results=1), list)

    def test_audit_events_by_time(self, store: MetadataStore) -> None:
        actor = unique("clock")
        events = [
            store.record_audit_event(AuditEvent(
                time=t, actor=actor, action="runs.update", resource_type="run"))
            for t in (T0 + 1000, T0 + 2000, T0 + 3000)
        ]
        assert store.search_audit_events(actor=actor, since=T0 + 1500) == events[1:]
        assert store.search_audit_events(actor=actor, since=T0 + 2000) == events[1:]
        assert store.search_audit_events(actor=actor, until=T0 + 2500) == events[:2]
        assert store.search_audit_events(actor=actor, since=T0 + 1500, until=T0 + 2500) == [
            events[1]
        ]
        assert store.search_audit_events(actor=actor, since=T0 + 4000) == []

    def test_audit_search_bounds(self, store: MetadataStore) -> None:
        for bad in (0, -1, MAX_RESULTS_LIMIT + 1):
            with pytest.raises(InvalidArgument):
                store.search_audit_events(max_results=bad)

    def test_overlong_audit_fields(self, store: MetadataStore) -> None:
        marker = unique("audit")

        def record(field: str, length: int) -> None:
            fields: dict[str, object] = {"time": T0, "actor": marker, "action": "runs.create",
                                         "resource_type": "run", "resource_id": marker}
            fields[field] = (marker + "x" * length)[:length]
            store.record_audit_event(AuditEvent(**fields))  # type: ignore[arg-type]

        limits = {"actor": 250, "action": 100, "resource_type": 50, "resource_id": 250}
        assert_each_raises(InvalidArgument, {
            f: lambda f=f, n=n: record(f, n + 1) for f, n in limits.items()  # type: ignore[misc]
        })
        assert store.search_audit_events(resource_id=marker) == []
        for field, limit in limits.items():  # the limits themselves are fine
            record(field, limit)

    # concurrency -----------------------------------------------------------------------

    def test_concurrent_batches_to_one_run(self, store: MetadataStore, run: Run) -> None:
        def work(i: int) -> None:
            for j in range(10):
                step = i * 100 + j
                log(store, run.id, [("m", float(step), step), ("n", 1.0, step)],
                    tags={f"t{i}": str(j)})
                store.get_run(run.id)

        results = in_threads(4, work)
        assert [r for r in results if r is not None] == []
        assert len(store.get_metric_history(run.id, "m")) == 40
        got = store.get_run(run.id)
        assert got.metrics["m"].step == 309
        assert got.tags == {f"t{i}": "9" for i in range(4)}

    def test_concurrent_creates_of_one_name(self, store: MetadataStore) -> None:
        # exactly one wins; the others hear AlreadyExists, never another error
        for create in (store.create_experiment, store.create_project):
            name = unique("race")
            results = in_threads(6, lambda _i, create=create, name=name: create(name))  # type: ignore[misc]
            winners = [r for r in results if not isinstance(r, Exception)]
            losers = [r for r in results if isinstance(r, Exception)]
            assert len(winners) == 1, results
            assert all(isinstance(e, AlreadyExists) for e in losers), losers

    def test_concurrent_replays_of_one_batch(self, store: MetadataStore, run: Run) -> None:
        batch_id = uuid.uuid4().hex
        results = in_threads(6, lambda _i: log(
            store, run.id, [("m", 1.0)], params={"p": "1"}, batch_id=batch_id,
            end_status=RunStatus.FINISHED, end_time=T0))
        assert sorted(results, key=str) == [False] * 5 + [True], results
        assert len(store.get_metric_history(run.id, "m")) == 1
        assert store.get_run(run.id).status is RunStatus.FINISHED


def assert_pages_by_id(store: MetadataStore, actor: str, events: list[AuditEvent]) -> None:
    """Five events of ``actor``, read whole in pages of two by ``after_id``, either way."""
    ids = [e.id for e in events]
    assert all(isinstance(i, int) for i in ids) and ids == sorted(ids)
    pages, after = [], None
    while True:
        page = store.search_audit_events(actor=actor, max_results=2, after_id=after)
        pages.append(page)
        if len(page) < 2:
            break
        after = page[-1].id
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [e for p in pages for e in p] == events
    assert store.search_audit_events(actor=actor, after_id=ids[-1]) == []
    assert store.search_audit_events(actor=actor, after_id=0) == events
    assert store.search_audit_events(actor=actor, after_id=ids[1],
                                     since=events[3].time, until=events[3].time + 1) == [
        events[3]]
    newest = store.search_audit_events(actor=actor, max_results=2, newest_first=True)
    assert newest == events[::-1][:2]
    assert store.search_audit_events(actor=actor, newest_first=True,
                                     after_id=newest[-1].id) == events[::-1][2:]
    with pytest.raises(InvalidArgument):
        store.search_audit_events(actor=actor, after_id=2**70)


class TestSqliteStore(SqliteBackend, MetadataStoreContract):
    pass


class TestInMemorySqliteStore(InMemorySqliteBackend, MetadataStoreContract):
    pass


class TestPostgresStore(PostgresBackend, MetadataStoreContract):
    pass


class TestRestStore(RestBackend, MetadataStoreContract):
    """Clients cannot write audit events (the server records its own), so the
    tests that record arbitrary events are replaced by ones that check that.
    """

    def test_record_audit_event(self, store: MetadataStore) -> None:
        with pytest.raises(PermissionDenied):
            store.record_audit_event(AuditEvent(time=T0, actor="me", action="x", resource_type="run"))

    def test_audit_events_by_resource_and_actor(self, store: MetadataStore) -> None:
        actor = store.http.client.headers[USER_HEADER]  # type: ignore[attr-defined]
        exp = new_experiment(store)
        run = store.create_run(exp.id, name="audited")
        log(store, run.id, [("m", 1.0)])
        store.update_run(run.id, RunStatus.FINISHED)
        mine = store.search_audit_events(actor=actor)
        assert [(e.action, e.resource_id) for e in mine] == [
            ("create_experiment", exp.id), ("create_run", run.id), ("log_batch", run.id),
            ("update_run", run.id)]
        assert [e.action for e in store.search_audit_events(resource_type="run", resource_id=run.id)] == [
            "create_run", "log_batch", "update_run"]
        assert mine[2].request["metrics"] == 1 and mine[3].request == {"status": "FINISHED"}

    def test_audit_event_keeps_the_state_it_replaced(self, store: MetadataStore) -> None:
        name = unique("d")
        made = store.create_deployment(DeploymentSpec(
            name=name, routes=[Route(model_name=unique("m"), version="1")]))
        store.update_deployment(made.spec().model_copy(update={"description": "v2"}))
        created, updated = store.search_audit_events(resource_type="deployment",
                                                     resource_id=name)
        assert created.before is None
        assert updated.before is not None and updated.before["revision"] == 1
        assert updated.before["description"] == "" and "scaling" not in updated.before

    def test_audit_events_page_by_id(self, store: MetadataStore) -> None:
        actor = store.http.client.headers[USER_HEADER]  # type: ignore[attr-defined]
        for _ in range(5):
            new_experiment(store)
        events = store.search_audit_events(actor=actor)
        assert len(events) == 5
        assert_pages_by_id(store, actor, events)

    def test_audit_events_by_time(self, store: MetadataStore) -> None:
        actor = store.http.client.headers[USER_HEADER]  # type: ignore[attr-defined]
        new_experiment(store)
        [event] = store.search_audit_events(actor=actor)
        assert store.search_audit_events(actor=actor, since=event.time) == [event]
        assert store.search_audit_events(actor=actor, until=event.time) == []
        assert store.search_audit_events(actor=actor, since=event.time + 1) == []

    def test_overlong_audit_fields(self, store: MetadataStore) -> None:
        with pytest.raises(PermissionDenied):
            store.record_audit_event(AuditEvent(time=T0, actor="x" * 300, action="x",
                                                resource_type="run"))
