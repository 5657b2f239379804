"""The job queue and its records: one run per job, recovery when a worker dies, expiry, and the
record stores (SQLite file; OpenSearch protocol through osmem)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest

from catalog.jobs import JobRecord, JobState, WorkerRecord, change, open_job_store, utc_now
from catalog.queue import JobQueue, QueueUnavailable
from tests.backends import make_settings, osmem_url, unique_index
from tests.workers import _ThreadConsumer, wait_for_job


@pytest.fixture(params=["sqlite", "osmem"])
def job_settings(request, tmp_path):
    if request.param == "sqlite":
        return make_settings(tmp_path)
    return make_settings(
        tmp_path,
        backend="opensearch",
        opensearch_url=osmem_url(request),
        opensearch_index=unique_index(),
    )


def _consume(queue: JobQueue) -> tuple[_ThreadConsumer, threading.Thread]:
    consumer = _ThreadConsumer(
        queue.huey, workers=1, worker_type="thread", periodic=False, initial_delay=0.02,
        max_delay=0.1,
    )
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    return consumer, thread


def _stop(*running: tuple[_ThreadConsumer, threading.Thread]) -> None:
    for consumer, thread in running:
        consumer.stop(graceful=True)
        thread.join(30)


def test_record_store_round_trip_and_compare_and_set(job_settings):
    jobs = open_job_store(job_settings)
    record = JobRecord(id="j1", kind="index", params={"paths": ["a.jpg"]}, actor="user:x")
    assert jobs.add(record) and not jobs.add(record)  # an id is taken once
    found, version = jobs.read("j1")
    assert found.params == {"paths": ["a.jpg"]} and found.state is JobState.queued
    assert jobs.write(found.model_copy(update={"done": 1}), version)
    assert not jobs.write(found.model_copy(update={"done": 2}), version)  # stale version
    assert jobs.get("j1").done == 1
    jobs.add(JobRecord(id="j2", kind="train", created_at=utc_now() + timedelta(seconds=1)))
    assert [r.id for r in jobs.list(10)] == ["j2", "j1"]  # newest first
    assert [r.id for r in jobs.list(10, kind="index")] == ["j1"]
    assert jobs.counts() == {"queued": 2}
    jobs.close()


def test_finished_records_expire_and_active_ones_stay(job_settings):
    queue = JobQueue(job_settings)
    old, active = queue.submit("index"), queue.submit("index")
    change(queue.jobs, old.id, lambda r: r.model_copy(
        update={"state": JobState.done, "finished_at": utc_now() - timedelta(days=30)}))
    assert queue.expire() == 1
    assert queue.jobs.get(old.id) is None and queue.jobs.get(active.id) is not None


def test_worker_heartbeats_tell_who_is_alive(job_settings):
    queue = JobQueue(job_settings, worker_name="host-a:1")
    record = queue.beat(utc_now(), concurrency=2)
    assert isinstance(record, WorkerRecord) and record.concurrency == 2
    assert [w.name for w in queue.live_workers()] == ["host-a:1"]
    later = utc_now() + timedelta(seconds=10 * job_settings.worker_heartbeat_s)
    assert queue.live_workers(later) == []
    queue.jobs.drop_worker("host-a:1")
    assert queue.jobs.workers() == []


def test_two_workers_never_run_the_same_job(tmp_path):
    settings = make_settings(tmp_path)
    runs: Counter[str] = Counter()
    by_worker: Counter[str] = Counter()
    lock = threading.Lock()

    def handler_for(name):
        def handler(params, progress):
            with lock:
                runs[params["n"]] += 1
                by_worker[name] += 1
            threading.Event().wait(0.02)
            return {"n": params["n"]}

        return handler

    workers = [JobQueue(settings, worker_name=f"w{i}") for i in range(2)]
    for queue in workers:
        queue.register("count", handler_for(queue.worker_name))
    running = [_consume(q) for q in workers]
    try:
        ids = [workers[0].submit("count", {"n": str(n)}).id for n in range(30)]
        for job_id in ids:
            assert wait_for_job(workers[0].jobs, job_id, 60).state is JobState.done
    finally:
        _stop(*running)
    assert set(runs.values()) == {1} and len(runs) == 30
    assert all(by_worker[q.worker_name] > 0 for q in workers)


def test_a_claim_is_taken_once(tmp_path):
    settings = make_settings(tmp_path)
    first, second = JobQueue(settings, worker_name="a"), JobQueue(settings, worker_name="b")
    job = first.submit("index")
    assert first.claim(job.id).worker == "a"
    assert second.claim(job.id) is None
    assert first.jobs.get(job.id).attempt == 1


def test_a_job_whose_worker_died_is_queued_again_then_failed_with_the_reason(tmp_path):
    settings = make_settings(tmp_path, job_max_attempts=2, job_stale_after_s=30)
    queue = JobQueue(settings, worker_name="dead:1")
    job = queue.submit("index")
    queue.claim(job.id)  # a worker took it, then died: no heartbeat follows
    later = utc_now() + timedelta(seconds=31)
    assert queue.recover(utc_now()) == []  # still fresh
    assert queue.recover(later) == [job.id]
    again = queue.jobs.get(job.id)
    assert again.state is JobState.queued and "dead:1 stopped responding" in again.message
    assert job.id in queue.pending_ids()
    assert queue.claim(job.id).attempt == 2
    queue.recover(later + timedelta(seconds=31))
    failed = queue.jobs.get(job.id)
    assert failed.state is JobState.failed and failed.finished_at is not None
    assert "gave up after 2 attempt(s)" in failed.message


def test_a_queued_job_whose_message_was_lost_is_sent_again(tmp_path):
    settings = make_settings(tmp_path, job_stale_after_s=30)
    queue = JobQueue(settings)
    job = queue.submit("index")
    queue.huey.flush()  # the message is gone (taken by a worker that died before claiming)
    assert queue.pending_ids() == set()
    assert queue.recover(utc_now() + timedelta(seconds=31)) == [job.id]
    assert queue.pending_ids() == {job.id}
    assert queue.recover(utc_now() + timedelta(seconds=31)) == []  # not resent twice


def test_a_worker_that_lost_its_claim_cannot_overwrite_the_record(tmp_path):
    settings = make_settings(tmp_path, job_heartbeat_s=0.05)
    release = threading.Event()
    started = threading.Event()

    def slow(params, progress):
        started.set()
        release.wait(30)
        return {"by": "slow"}

    slow_worker = JobQueue(settings, worker_name="slow")
    slow_worker.register("work", slow)
    fast_worker = JobQueue(settings, worker_name="fast")
    fast_worker.register("work", lambda params, progress: {"by": "fast"})
    running = [_consume(slow_worker)]
    try:
        job = slow_worker.submit("work")
        assert started.wait(30)
        # the slow worker looks dead (e.g. paused): recovery gives the job to another one
        assert slow_worker.recover(utc_now() + timedelta(hours=1)) == [job.id]
        running.append(_consume(fast_worker))
        done = wait_for_job(fast_worker.jobs, job.id, 30)
        release.set()
    finally:
        release.set()
        _stop(*running)
    final = fast_worker.jobs.get(job.id)
    assert done.summary == {"by": "fast"} and final.summary == {"by": "fast"}
    assert final.worker == "fast" and final.attempt == 2


def test_progress_and_errors_reach_the_record(tmp_path):
    settings = make_settings(tmp_path, job_heartbeat_s=0.05)
    seen = []
    step = threading.Event()

    def handler(params, progress):
        progress(1, 3, "a.jpg")
        step.wait(10)
        progress(3, 3, None)
        return {"assets": [{"path": "b.mp4", "status": "failed", "reason": "corrupt"},
                           {"path": "a.jpg", "status": "tagged", "reason": None}]}

    queue = JobQueue(settings)
    queue.register("work", handler)
    running = [_consume(queue)]
    try:
        job = queue.submit("work")

        def midway():
            record = queue.jobs.get(job.id)
            if record.done == 1:
                seen.append(record)
                return True
            return False

        from tests.processes import wait_until

        wait_until(midway, 30, "progress 1/3")
        step.set()
        final = wait_for_job(queue.jobs, job.id)
    finally:
        step.set()
        _stop(*running)
    assert seen[0].total == 3 and seen[0].current == "a.jpg" and seen[0].heartbeat_at
    assert final.done == final.total == 3
    assert final.errors == [{"path": "b.mp4", "status": "failed", "reason": "corrupt"}]


def test_a_failing_handler_fails_its_job_with_the_reason(tmp_path):
    queue = JobQueue(make_settings(tmp_path))

    def broken(params, progress):
        raise RuntimeError("the disk is full")

    queue.register("work", broken)
    running = [_consume(queue)]
    try:
        unknown = queue.submit("no-such-kind")
        job = queue.submit("work")
        assert wait_for_job(queue.jobs, job.id).message == "RuntimeError: the disk is full"
        assert "no task of kind" in wait_for_job(queue.jobs, unknown.id).message
    finally:
        _stop(*running)


def test_an_unreachable_redis_is_a_clear_error_and_the_record_says_so(tmp_path):
    from tests.processes import free_port

    settings = make_settings(tmp_path, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    queue = JobQueue(settings)
    with pytest.raises(QueueUnavailable, match="SMARTTAGS_REDIS_URL"):
        queue.submit("index")
    (record,) = queue.jobs.list(10)
    assert record.state is JobState.failed and "cannot be reached" in record.message
    with pytest.raises(QueueUnavailable):
        queue.ping()
