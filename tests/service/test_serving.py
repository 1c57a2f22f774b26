"""The micro-batcher and the model holder: a swap answers every request it finds waiting."""

import asyncio

import pytest

pytest.importorskip("fastapi")
from eqn.model.estimator import EQN  # noqa: E402
from eqn.service.serving import MicroBatcher, ModelHolder, ServiceLimits  # noqa: E402


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return EQN.load(tiny_model_dir)


def test_a_retired_batcher_answers_what_was_queued_and_what_comes_later(model):
    async def scenario():
        batcher = MicroBatcher(model, ServiceLimits(max_wait_ms=50))
        batcher.start()
        queued = [asyncio.create_task(batcher.score([f"text {i}"])) for i in range(5)]
        await asyncio.sleep(0)  # the requests are in the queue
        await batcher.retire()
        late = await asyncio.wait_for(batcher.score(["a late one"]), 30)
        return await asyncio.wait_for(asyncio.gather(*queued), 30), late, batcher.task.done()

    answers, late, finished = asyncio.run(scenario())
    assert [a.texts for a in answers] == [[f"text {i}"] for i in range(5)]
    assert late.texts == ["a late one"] and finished


def test_a_swap_serves_the_new_model_and_finishes_the_old_queue(model, tiny_transformer_dir):
    other = EQN.load(tiny_transformer_dir)

    async def scenario():
        holder = ModelHolder(ServiceLimits(max_wait_ms=50), model)
        first = holder.serving()
        waiting = asyncio.create_task(first.batcher.score(["I love it"]))
        await asyncio.sleep(0)
        second = holder.swap(other)
        answer = await asyncio.wait_for(waiting, 30)
        await holder.stop()
        return first, second, answer, holder.current

    first, second, answer, current = asyncio.run(scenario())
    assert answer.energies.shape == (1, len(model.labels))  # scored by the model it asked
    assert current is second and second.version == other.model_hash != first.version


def test_a_full_job_queue_answers_429_and_runs_in_its_own_thread():
    import threading

    from eqn.service.serving import JobQueue, ServiceError

    queue = JobQueue("explanations", size=1)
    release = threading.Event()

    async def scenario():
        first = asyncio.create_task(queue.run(release.wait, 30))
        await asyncio.sleep(0.05)
        with pytest.raises(ServiceError, match="1 explanations are already queued") as full:
            await queue.run(lambda: None)
        release.set()
        await first
        return full.value.status, threading.current_thread().name

    status, loop_thread = asyncio.run(scenario())
    assert status == 429 and not loop_thread.startswith("eqn-explanations")
