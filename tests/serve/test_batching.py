"""Adaptive batching: coalescing, ordering, errors, overload, timeouts, drain.

No test measures time. Batches are made deterministic with a gate: the
model blocks in its worker thread until the test opens the gate, so the
test decides which requests are queued while a predict runs.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest

from dockyard.errors import DockyardError, InvalidState, ServerUnavailable, error_from_body
from dockyard.serve.batching import (
    AdaptiveBatcher,
    BatcherClosed,
    BatchInfo,
    Overloaded,
    RequestTimeout,
    batch_key,
    concat_rows,
    count_rows,
    split_rows,
)

GUARD = 30.0  # seconds: only a guard against a hang, never an assertion


def run(coro: Awaitable[Any]) -> Any:
    async def guarded() -> Any:
        return await asyncio.wait_for(coro, GUARD)

    return asyncio.run(guarded())


async def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(int(GUARD * 1000)):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"never happened: {what}")


def rows_of(request: int, n: int) -> np.ndarray:
    """Request ``request``'s input: row j is ``[request, j]``."""
    return np.array([[request, j] for j in range(n)], dtype=np.float64)


def encode(x: np.ndarray) -> np.ndarray:
    """A 1-D output that names the request and row it came from."""
    return x[:, 0] * 1000 + x[:, 1]


class Model:
    """A predict that records its batches, optionally blocks, optionally fails."""

    def __init__(self, *, gated: bool = False, fail_on: set[int] = frozenset(), output=encode):
        self.batches: list[Any] = []
        self.gate = threading.Event()
        if not gated:
            self.gate.set()
        self.fail_on = fail_on
        self.output = output
        self.threads: set[str] = set()

    def __call__(self, x: Any) -> Any:
        self.batches.append(x)
        self.threads.add(threading.current_thread().name)
        assert self.gate.wait(GUARD)
        if isinstance(x, np.ndarray) and self.fail_on & set(x[:, 0].astype(int).tolist()):
            raise ValueError("model cannot take request " + repr(sorted(self.fail_on)))
        return self.output(x)

    @property
    def sizes(self) -> list[int]:
        return [count_rows(b) for b in self.batches]


def collect() -> tuple[list[BatchInfo], Callable[[BatchInfo], None]]:
    infos: list[BatchInfo] = []
    return infos, infos.append


# ------------------------------------------------------------------ dispatch policy


def test_lone_request_dispatches_at_once_without_a_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        model = Model()
        infos, hook = collect()
        batcher = AdaptiveBatcher(model, max_wait_ms=600_000, on_batch=hook)
        loop = asyncio.get_running_loop()
        timers: list[float] = []
        real_call_later = loop.call_later

        def spy(delay: float, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
            timers.append(delay)
            return real_call_later(delay, *args, **kwargs)

        monkeypatch.setattr(loop, "call_later", spy)
        for i in range(5):  # one after the other: each is alone
            out = await batcher.submit(rows_of(i, 1))
            assert out.tolist() == [i * 1000.0]
        await batcher.close()
        assert timers == []  # nothing ever waited for max_wait_ms
        assert [i.reason for i in infos] == ["idle"] * 5
        assert [(i.rows, i.requests) for i in infos] == [(1, 1)] * 5
        assert model.sizes == [1] * 5

    run(main())


def test_lone_request_gets_the_model_output_as_is() -> None:
    async def main() -> None:
        item = rows_of(3, 2)
        seen: list[Any] = []

        def predict(x: np.ndarray) -> str:
            seen.append(x)
            return "not row aligned"

        async with AdaptiveBatcher(predict) as batcher:
            assert await batcher.submit(item) == "not row aligned"
        assert seen[0] is item  # no copy, no concatenation

    run(main())


def test_requests_accumulate_while_a_predict_runs() -> None:
    async def main() -> None:
        model = Model(gated=True)
        infos, hook = collect()
        batcher = AdaptiveBatcher(model, max_batch_size=32, on_batch=hook)
        first = asyncio.create_task(batcher.submit(rows_of(0, 1)))
        await until(lambda: len(model.batches) == 1, "first predict started")
        rest = [asyncio.create_task(batcher.submit(rows_of(i, 1))) for i in range(1, 64)]
        await until(lambda: batcher.queued_requests == 63, "63 requests queued")
        assert len(model.batches) == 1  # they wait for the running predict
        assert batcher.in_flight == 64 and batcher.running_batches == 1
        model.gate.set()
        results = await asyncio.gather(first, *rest)
        for i, out in enumerate(results):
            assert out.tolist() == [i * 1000.0]
        assert model.sizes == [1, 32, 31]
        assert [i.reason for i in infos] == ["idle", "full", "idle"]
        await batcher.close()

    run(main())


def test_64_concurrent_submits_are_coalesced_in_order() -> None:
    async def main() -> None:
        model = Model(output=lambda x: np.stack([encode(x), -x[:, 1]], axis=1))
        batcher = AdaptiveBatcher(model, max_batch_size=16)
        sizes = [1 + (i * 7) % 5 for i in range(64)]  # 1..5 rows, mixed
        results = await asyncio.gather(
            *(batcher.submit(rows_of(i, n)) for i, n in enumerate(sizes))
        )
        await batcher.close()
        assert len(model.batches) <= 64 // 4
        assert all(size <= 16 for size in model.sizes)
        assert sum(model.sizes) == sum(sizes)
        for i, (n, out) in enumerate(zip(sizes, results)):
            assert out.shape == (n, 2)
            assert out[:, 0].tolist() == [i * 1000.0 + j for j in range(n)]
            assert out[:, 1].tolist() == [-float(j) for j in range(n)]
        # the batches kept the submission order
        seen = np.concatenate([b[:, 0] for b in model.batches]).astype(int).tolist()
        assert seen == [i for i, n in enumerate(sizes) for _ in range(n)]
        assert model.threads and all(t.startswith("dockyard-predict") for t in model.threads)

    run(main())


def test_a_request_larger_than_the_batch_runs_alone() -> None:
    async def main() -> None:
        model = Model(gated=True)
        batcher = AdaptiveBatcher(model, max_batch_size=4)
        first = asyncio.create_task(batcher.submit(rows_of(0, 1)))
        await until(lambda: len(model.batches) == 1, "first predict started")
        small = asyncio.create_task(batcher.submit(rows_of(1, 2)))
        big = asyncio.create_task(batcher.submit(rows_of(2, 9)))
        after = asyncio.create_task(batcher.submit(rows_of(3, 1)))
        await until(lambda: batcher.queued_requests == 3, "queued")
        model.gate.set()
        outs = await asyncio.gather(first, small, big, after)
        assert [len(o) for o in outs] == [1, 2, 9, 1]
        assert outs[2].tolist() == [2000.0 + j for j in range(9)]
        assert model.sizes == [1, 2, 9, 1]
        await batcher.close()

    run(main())


def test_without_eager_dispatch_the_queue_fills_the_batch() -> None:
    async def main() -> None:
        model = Model()
        infos, hook = collect()
        batcher = AdaptiveBatcher(
            model, max_batch_size=4, max_wait_ms=600_000, eager=False, on_batch=hook
        )
        tasks = [asyncio.create_task(batcher.submit(rows_of(0, 1)))]
        for _ in range(5):
            await asyncio.sleep(0)
        assert model.batches == [] and batcher.queued_requests == 1  # held to fill the batch
        tasks += [asyncio.create_task(batcher.submit(rows_of(i, 1))) for i in range(1, 4)]
        await asyncio.gather(*tasks)
        assert model.sizes == [4] and [i.reason for i in infos] == ["full"]
        await batcher.close()

    run(main())


def test_max_wait_zero_dispatches_what_is_there() -> None:
    async def main() -> None:
        model = Model()
        infos, hook = collect()
        async with AdaptiveBatcher(model, max_wait_ms=0, eager=False, on_batch=hook) as batcher:
            assert (await batcher.submit(rows_of(5, 2))).tolist() == [5000.0, 5001.0]
        assert [i.reason for i in infos] == ["wait"]

    run(main())


def test_a_free_slot_waits_for_a_fuller_batch_while_another_runs() -> None:
    async def main() -> None:
        model = Model(gated=True)
        infos, hook = collect()
        batcher = AdaptiveBatcher(
            model, max_batch_size=2, max_wait_ms=600_000, max_concurrent_batches=2, on_batch=hook
        )
        first = asyncio.create_task(batcher.submit(rows_of(0, 1)))
        await until(lambda: len(model.batches) == 1, "first predict started")
        second = asyncio.create_task(batcher.submit(rows_of(1, 1)))
        for _ in range(5):
            await asyncio.sleep(0)
        assert batcher.running_batches == 1 and batcher.queued_requests == 1
        third = asyncio.create_task(batcher.submit(rows_of(2, 1)))
        await until(lambda: len(model.batches) == 2, "second predict started")
        assert batcher.running_batches == 2  # two predicts at once
        model.gate.set()
        outs = await asyncio.gather(first, second, third)
        assert [o.tolist() for o in outs] == [[0.0], [1000.0], [2000.0]]
        assert model.sizes == [1, 2]
        assert sorted(i.reason for i in infos) == ["full", "idle"]
        await batcher.close()

    run(main())


# ------------------------------------------------------------------ items and outputs


def test_dict_items_and_dict_outputs() -> None:
    def predict(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {
            "id": cols["req"] * 1000 + cols["row"],
            "pair": np.stack([cols["req"], cols["row"]], axis=1),
        }

    async def main() -> None:
        model = Model(output=predict)
        batcher = AdaptiveBatcher(model, max_batch_size=8)
        sizes = [1, 3, 2, 1, 4, 1, 2]
        items = [
            {"req": np.full(n, i, dtype=np.int64), "row": np.arange(n, dtype=np.int64)}
            for i, n in enumerate(sizes)
        ]
        outs = await asyncio.gather(*(batcher.submit(item) for item in items))
        await batcher.close()
        assert len(model.batches) < len(sizes)
        for i, (n, out) in enumerate(zip(sizes, outs)):
            assert set(out) == {"id", "pair"}
            assert out["id"].tolist() == [i * 1000 + j for j in range(n)]
            assert out["pair"].tolist() == [[i, j] for j in range(n)]

    run(main())


def test_items_of_another_structure_never_share_a_batch() -> None:
    def predict(x: Any) -> Any:
        if isinstance(x, dict):
            return {"y": x["a"] * 2}
        return x[:, 0] * 2

    async def main() -> None:
        model = Model(output=predict)
        batcher = AdaptiveBatcher(model, max_batch_size=64)
        items = [
            np.array([[1.0, 0.0]]),
            np.array([[2.0, 0.0]]),
            np.array([[3, 0]], dtype=np.int64),  # another dtype
            np.array([[4.0, 0.0, 0.0]]),  # another width
            {"a": np.array([5.0])},
            {"a": np.array([6.0])},
            np.array([[7.0, 0.0]]),
        ]
        outs = await asyncio.gather(*(batcher.submit(item) for item in items))
        await batcher.close()
        assert outs[2].dtype == np.int64 and outs[2].tolist() == [6]
        assert [o["y"].tolist() for o in outs[4:6]] == [[10.0], [12.0]]
        assert [o.tolist() for o in (outs[0], outs[1], outs[3], outs[6])] == [
            [2.0],
            [4.0],
            [8.0],
            [14.0],
        ]
        assert len(model.batches) == 5  # [1,2] [3] [4] [5,6] [7]

    run(main())


def test_list_items_for_text_models() -> None:
    async def main() -> None:
        model = Model(output=lambda texts: [t.upper() for t in texts])
        async with AdaptiveBatcher(model) as batcher:
            outs = await asyncio.gather(batcher.submit(["a", "b"]), batcher.submit(["c"]))
        assert outs == [["A", "B"], ["C"]]

    run(main())


def test_split_rows_shapes() -> None:
    pd = pytest.importorskip("pandas")
    sizes = [2, 1, 3]
    parts = split_rows((np.arange(6), [10, 11, 12, 13, 14, 15]), sizes)
    assert [p[0].tolist() for p in parts] == [[0, 1], [2], [3, 4, 5]]
    assert [p[1] for p in parts] == [[10, 11], [12], [13, 14, 15]]
    frames = split_rows(pd.DataFrame({"y": range(6)}), sizes)
    assert [f["y"].tolist() for f in frames] == [[0, 1], [2], [3, 4, 5]]
    with pytest.raises(DockyardError, match="5 rows in 'y' for 6 input rows"):
        split_rows({"y": np.arange(5)}, sizes)
    with pytest.raises(DockyardError, match="cannot split"):
        split_rows(object(), sizes)
    merged = concat_rows([{"a": np.arange(2)}, {"a": np.arange(3)}])
    assert merged["a"].tolist() == [0, 1, 0, 1, 2]
    assert batch_key({"a": np.zeros(2), "b": np.zeros(2)}) == batch_key(
        {"b": np.ones(5), "a": np.ones(1)}
    )
    assert batch_key(np.array(["ab"])) == batch_key(np.array(["abcdef"]))


# ------------------------------------------------------------------ errors


def test_a_predict_error_reaches_exactly_its_batch() -> None:
    async def main() -> None:
        model = Model(gated=True, fail_on={2})
        infos, hook = collect()
        batcher = AdaptiveBatcher(model, max_batch_size=2, on_batch=hook)
        a = asyncio.create_task(batcher.submit(rows_of(0, 1)))
        await until(lambda: len(model.batches) == 1, "first predict started")
        b1 = asyncio.create_task(batcher.submit(rows_of(1, 1)))
        b2 = asyncio.create_task(batcher.submit(rows_of(2, 1)))  # the model fails on it
        c = asyncio.create_task(batcher.submit(rows_of(3, 1)))
        await until(lambda: batcher.queued_requests == 3, "queued")
        model.gate.set()
        results = await asyncio.gather(a, b1, b2, c, return_exceptions=True)
        assert results[0].tolist() == [0.0]
        assert isinstance(results[1], ValueError) and isinstance(results[2], ValueError)
        assert "cannot take request" in str(results[1])
        assert results[3].tolist() == [3000.0]
        assert model.sizes == [1, 2, 1]
        assert [type(i.error).__name__ for i in infos] == ["NoneType", "ValueError", "NoneType"]
        # the batcher keeps serving
        assert (await batcher.submit(rows_of(4, 1))).tolist() == [4000.0]
        await batcher.close()

    run(main())


def test_an_output_with_the_wrong_row_count_fails_its_batch() -> None:
    async def main() -> None:
        model = Model(gated=True, output=lambda x: encode(x)[:-1])
        batcher = AdaptiveBatcher(model)
        lone = asyncio.create_task(batcher.submit(rows_of(0, 2)))
        await until(lambda: len(model.batches) == 1, "first predict started")
        pair = [asyncio.create_task(batcher.submit(rows_of(i, 1))) for i in (1, 2)]
        await until(lambda: batcher.queued_requests == 2, "queued")
        model.gate.set()
        assert (await lone).tolist() == [0.0]  # a lone request's output is not split
        for task in pair:
            with pytest.raises(DockyardError, match="predict returned 1 rows for 2 input rows"):
                await task
        await batcher.close()

    run(main())


def test_a_failing_hook_is_logged_and_ignored(caplog: pytest.LogCaptureFixture) -> None:
    def hook(info: BatchInfo) -> None:
        raise RuntimeError("metrics broke")

    async def main() -> None:
        async with AdaptiveBatcher(Model(), on_batch=hook, name="m") as batcher:
            assert (await batcher.submit(rows_of(1, 1))).tolist() == [1000.0]

    with caplog.at_level(logging.ERROR, logger="dockyard.serve"):
        run(main())
    assert "on_batch hook of model 'm' failed" in caplog.text


# ------------------------------------------------------------------ overload


def test_overload_raises_at_once_with_retry_after() -> None:
    async def main() -> None:
        model = Model(gated=True)
        batcher = AdaptiveBatcher(model, max_queue=2, name="churn")
        running = asyncio.create_task(batcher.submit(rows_of(0, 1)))
        await until(lambda: len(model.batches) == 1, "first predict started")
        queued = [asyncio.create_task(batcher.submit(rows_of(i, 1))) for i in (1, 2)]
        await until(lambda: batcher.queued_requests == 2, "queued")
        with pytest.raises(Overloaded) as caught:
            await batcher.submit(rows_of(3, 1))
        err = caught.value
        assert isinstance(err, ServerUnavailable)
        assert err.http_status == 503 and err.error_code == "OVERLOADED"
        assert isinstance(err.retry_after, int) and err.retry_after >= 1
        assert err.details == {
            "retry_after": err.retry_after,
            "queued_requests": 2,
            "queued_rows": 2,
        }
        rebuilt = error_from_body(503, err.to_dict())
        assert isinstance(rebuilt, Overloaded) and rebuilt.retry_after == err.retry_after
        assert batcher.queued_requests == 2 and batcher.in_flight == 3  # nothing was added
        model.gate.set()
        outs = await asyncio.gather(running, *queued)
        assert [o.tolist() for o in outs] == [[0.0], [1000.0], [2000.0]]
        await batcher.close()

    run(main())


def test_overload_by_queued_rows() -> None:
    async def main() -> None:
        model = Model(gated=True)
        batcher = AdaptiveBatcher(model, max_queue_rows=10)
        running = asyncio.create_task(batcher.submit(rows_of(0, 1)))
        await until(lambda: len(model.batches) == 1, "first predict started")
        big = asyncio.create_task(batcher.submit(rows_of(1, 12)))  # an empty queue takes it
        await until(lambda: batcher.queued_rows == 12, "queued")
        with pytest.raises(Overloaded):
            await batcher.submit(rows_of(2, 1))
        model.gate.set()
        assert len(await big) == 12
        await running
        await batcher.close()

    run(main())


# ------------------------------------------------------------------ timeouts and cancellation


def test_a_timed_out_request_is_dropped_from_the_queue() -> None:
    async def main() -> None:
        model = Model(gated=True)
        batcher = AdaptiveBatcher(model)
        running = asyncio.create_task(batcher.submit(rows_of(0, 1)))
        await until(lambda: len(model.batches) == 1, "first predict started")
        with pytest.raises(RequestTimeout) as caught:
            await batcher.submit(rows_of(1, 3), timeout=0.01)
        assert isinstance(caught.value, asyncio.TimeoutError)
        assert caught.value.http_status == 504
        assert batcher.queued_requests == 0 and batcher.queued_rows == 0
        later = asyncio.create_task(batcher.submit(rows_of(2, 1)))
        await until(lambda: batcher.queued_requests == 1, "queued")
        model.gate.set()
        assert (await running).tolist() == [0.0]
        assert (await later).tolist() == [2000.0]
        ids = [set(b[:, 0].astype(int).tolist()) for b in model.batches]
        assert ids == [{0}, {2}]  # request 1's rows never reached the model
        await batcher.close()

    run(main())


def test_a_request_timing_out_while_running_does_not_hurt_its_batch() -> None:
    async def main() -> None:
        model = Model(gated=True)
        batcher = AdaptiveBatcher(model, timeout=0.01)  # the default timeout
        patient = asyncio.create_task(batcher.submit(rows_of(0, 1), timeout=None))
        hasty = asyncio.create_task(batcher.submit(rows_of(1, 1)))  # same batch
        await until(lambda: len(model.batches) == 1, "predict started")
        assert model.sizes == [2]
        with pytest.raises(RequestTimeout):
            await hasty
        assert not patient.done() and batcher.in_flight == 2  # its batch still runs
        model.gate.set()
        assert (await patient).tolist() == [0.0]
        assert batcher.in_flight == 0
        await batcher.close()

    run(main())


def test_a_cancelled_caller_is_dropped_from_the_queue() -> None:
    async def main() -> None:
        model = Model(gated=True)
        batcher = AdaptiveBatcher(model)
        running = asyncio.create_task(batcher.submit(rows_of(0, 1)))
        await until(lambda: len(model.batches) == 1, "first predict started")
        gone = asyncio.create_task(batcher.submit(rows_of(1, 1)))
        kept = asyncio.create_task(batcher.submit(rows_of(2, 1)))
        await until(lambda: batcher.queued_requests == 2, "queued")
        gone.cancel()
        await asyncio.gather(gone, return_exceptions=True)
        assert batcher.queued_requests == 1
        model.gate.set()
        await running
        assert (await kept).tolist() == [2000.0]
        assert [b[:, 0].tolist() for b in model.batches] == [[0.0], [2.0]]
        await batcher.close()

    run(main())


# ------------------------------------------------------------------ drain


def test_close_drains_queued_and_running_batches() -> None:
    async def main() -> None:
        model = Model(gated=True)
        infos, hook = collect()
        batcher = AdaptiveBatcher(model, max_batch_size=2, on_batch=hook)
        tasks = [asyncio.create_task(batcher.submit(rows_of(0, 1)))]
        await until(lambda: len(model.batches) == 1, "first predict started")
        tasks += [asyncio.create_task(batcher.submit(rows_of(i, 1))) for i in (1, 2, 3)]
        await until(lambda: batcher.queued_requests == 3, "queued")
        closing = asyncio.create_task(batcher.close())
        for _ in range(5):
            await asyncio.sleep(0)
        assert not closing.done() and batcher.closed
        with pytest.raises(BatcherClosed):
            await batcher.submit(rows_of(9, 1))
        model.gate.set()
        await closing
        assert all(t.done() for t in tasks)
        assert [t.result().tolist() for t in tasks] == [[0.0], [1000.0], [2000.0], [3000.0]]
        assert [i.reason for i in infos] == ["idle", "drain", "drain"]
        assert batcher.in_flight == 0

    run(main())


def test_close_of_an_unused_batcher() -> None:
    async def main() -> None:
        batcher = AdaptiveBatcher(Model())
        await batcher.close()
        with pytest.raises(BatcherClosed):
            await batcher.submit(rows_of(0, 1))

    run(main())


def test_bad_settings_are_rejected() -> None:
    bad = [
        {"max_batch_size": 0},
        {"max_wait_ms": -1},
        {"max_queue": 0},
        {"max_queue_rows": 0},
        {"max_concurrent_batches": 0},
        {"timeout": 0},
    ]
    for kwargs in bad:
        with pytest.raises(DockyardError):
            AdaptiveBatcher(Model(), **kwargs)


def test_a_given_executor_runs_predict_and_is_left_open() -> None:
    import concurrent.futures

    async def main() -> None:
        model = Model()
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="pool") as pool:
            batcher = AdaptiveBatcher(model, executor=pool)
            outs = await asyncio.gather(*(batcher.submit(rows_of(i, 1)) for i in range(4)))
            await batcher.close()
            assert [o.tolist() for o in outs] == [[0.0], [1000.0], [2000.0], [3000.0]]
            assert all(t.startswith("pool") for t in model.threads)
            assert pool.submit(lambda: 1).result() == 1  # still usable

    run(main())


def test_worker_threads_end_on_close() -> None:
    async def main() -> list[threading.Thread]:
        batcher = AdaptiveBatcher(Model(), max_concurrent_batches=2, name="ends")
        assert (await batcher.submit(rows_of(1, 1))).tolist() == [1000.0]
        threads = [t for t in threading.enumerate() if t.name.startswith("dockyard-predict-ends-")]
        assert len(threads) == 2
        await batcher.close()
        return threads

    for thread in run(main()):
        thread.join(GUARD)
        assert not thread.is_alive()


def test_a_batcher_serves_one_event_loop() -> None:
    batcher = AdaptiveBatcher(Model())

    async def use() -> None:
        assert (await batcher.submit(rows_of(1, 1))).tolist() == [1000.0]

    run(use())
    with pytest.raises(InvalidState, match="another event loop"):
        run(use())
