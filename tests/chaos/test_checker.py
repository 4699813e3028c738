"""The history checker on hand-made histories: a clean one passes, and each broken rule is
reported (tests/chaos/checker.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from .checker import Report, Rules, Storage, StoredGroup, StoredJob, StoredTopic, check
from .history import History, Kind, Op, Outcome

T = "t"
RULES = Rules(visibility_timeout=2.0, completed_retention=100, clock_margin=0.1)
OK, REFUSED, UNKNOWN = Outcome.OK, Outcome.REFUSED, Outcome.UNKNOWN


@dataclass
class Script:
    """Builds a history op by op: `at` is when the op starts; each takes 0.01 s."""

    history: History = field(default_factory=History)

    def op(self, at: float, kind: Kind, outcome: Outcome = OK, *tags: str, **details: object) -> Op:
        op = Op(len(self.history.ops), "c", 0, kind, T, at, at + 0.01, outcome, tuple(tags))
        for name, value in details.items():
            setattr(op, name, value)
        self.history.ops.append(op)
        return op


def job(tag: str, status: str, attempts: int = 1, claimed_by: str | None = None) -> StoredJob:
    return StoredJob(f"id-{tag}", tag, status, attempts, claimed_by)


def counters(**values: int) -> dict[str, int]:
    return {"enqueued": 0, "completed": 0, "dead": 0, "reaped": 0, "dropped": 0, **values}


def storage(jobs: list[StoredJob], files: list[str] | None = None, **values: int) -> Storage:
    return Storage({T: StoredTopic(jobs, counters(**values))}, files or [], {T: None})


def checked(script: Script, stored: Storage) -> Report:
    return check(script.history, stored, RULES)


def clean_run() -> tuple[Script, Storage]:
    """a: enqueued, claimed, heartbeated, acked; b: pushed and popped; c: xadded, read,
    reaped (never acked) and read again; d: enqueued with a lost reply, still pending."""
    s = Script()
    s.op(0.0, Kind.ENQUEUE, OK, "a")
    s.op(0.1, Kind.CLAIM, OK, "a", lease="w1")
    s.op(1.0, Kind.HEARTBEAT, OK, "a", lease="w1")
    s.op(2.0, Kind.ACK, OK, "a", lease="w1")
    s.op(0.0, Kind.PUSH, OK, "b")
    s.op(0.5, Kind.POP, OK, "b")
    s.op(0.0, Kind.XADD, OK, "c")
    s.op(0.2, Kind.XREADGROUP, OK, "c", lease="x1")
    s.op(3.0, Kind.XREADGROUP, OK, "c", lease="x2")
    s.op(3.1, Kind.XACK, REFUSED, "c", lease="x1", code="xack_0")  # x1's lease expired
    s.op(3.2, Kind.XACK, OK, "c", lease="x2")
    s.op(0.0, Kind.ENQUEUE, UNKNOWN, "d")
    stored = storage(
        [job("a", "completed"), job("b", "completed"), job("c", "completed", 2),
         job("d", "pending", 0)],
        files=["broker.json", ".lock-broker.json", "topics/t.json", "topics/.lock-t.json"],
        enqueued=4, completed=3, reaped=1,
    )  # fmt: skip
    return s, stored


def test_a_clean_history_passes_and_counts_what_happened() -> None:
    report = checked(*clean_run())
    assert report.violations == []
    figures = report.figures
    assert (figures["acked_enqueues"], figures["acked_completions"]) == (3, 3)
    assert (figures["lost"], figures["duplicates"], figures["refusals"]) == (0, 0, 1)
    assert (figures["refusals_justified"], figures["refusals_reclaimed"]) == (1, 1)


def test_an_acknowledged_enqueue_missing_from_storage_is_lost() -> None:
    s, stored = clean_run()
    s.op(5.0, Kind.ENQUEUE, OK, "e")  # acknowledged, never completed, not stored
    report = checked(s, stored)
    assert report.checks_failed() == {"lost"} and report.figures["lost"] == 1


def test_a_missing_job_is_explained_only_by_as_many_trimmed_completions() -> None:
    s, _ = clean_run()
    # a is gone, and the counters say one completed job was trimmed: fine.
    trimmed = storage(
        [job("b", "completed"), job("c", "completed", 2), job("d", "pending", 0)],
        enqueued=4, completed=3, reaped=1,
    )  # fmt: skip
    assert checked(s, trimmed).violations == []
    # d was never completed: retention cannot have trimmed it.
    s.op(5.0, Kind.ENQUEUE, OK, "e")
    stored = storage(
        [job("b", "completed"), job("c", "completed", 2), job("d", "pending", 0)],
        enqueued=5, completed=4, reaped=1,
    )  # fmt: skip
    assert "lost" in checked(s, stored).checks_failed()


def test_an_acked_job_stored_as_pending_is_reported() -> None:
    s, stored = clean_run()
    stored.topics[T].jobs[0] = job("a", "pending")
    assert "acked_not_completed" in checked(s, stored).checks_failed()


def test_an_item_popped_by_two_clients_is_a_duplicate() -> None:
    s, stored = clean_run()
    s.op(0.6, Kind.POP, OK, "b")
    report = checked(s, stored)
    assert {"completed_twice", "delivered_after_completion"} <= report.checks_failed()
    assert report.figures["duplicates"] == 2


def test_two_successful_acks_of_one_job_are_a_duplicate() -> None:
    s, stored = clean_run()
    s.op(5.0, Kind.CLAIM, OK, "a", lease="w2")
    s.op(5.1, Kind.ACK, OK, "a", lease="w2")
    assert {"completed_twice", "delivered_after_completion"} <= checked(s, stored).checks_failed()


def test_an_ack_of_the_old_lease_after_a_new_claim_is_an_overlap() -> None:
    s = Script()
    s.op(0.0, Kind.ENQUEUE, OK, "a")
    s.op(0.1, Kind.CLAIM, OK, "a", lease="w1")
    s.op(3.0, Kind.CLAIM, OK, "a", lease="w2")  # w1's lease expired: a legitimate claim
    s.op(3.5, Kind.ACK, OK, "a", lease="w1")  # ... but w1 must then be refused
    stored = storage([job("a", "completed", 2)], enqueued=1, completed=1, reaped=1)
    report = checked(s, stored)
    assert report.checks_failed() == {"overlapping_leases"}


def test_a_claim_while_the_lease_is_still_fresh_is_an_overlap() -> None:
    s = Script()
    s.op(0.0, Kind.ENQUEUE, OK, "a")
    s.op(0.1, Kind.CLAIM, OK, "a", lease="w1")
    s.op(1.5, Kind.HEARTBEAT, OK, "a", lease="w1")
    s.op(2.5, Kind.CLAIM, OK, "a", lease="w2")  # 1 s after w1's heartbeat
    stored = storage([job("a", "claimed", 2, "w2")], enqueued=1, reaped=1)
    assert checked(s, stored).checks_failed() == {"overlapping_leases"}
    # After a nack (even one whose answer was lost) the job may be claimed at once.
    s.op(1.6, Kind.NACK, UNKNOWN, "a", lease="w1")
    stored = storage([job("a", "claimed", 2, "w2")], enqueued=1)
    assert checked(s, stored).violations == []


@pytest.mark.parametrize("kind", [Kind.ACK, Kind.HEARTBEAT, Kind.XACK])
def test_a_refusal_while_the_lease_is_fresh_is_unjustified(kind: Kind) -> None:
    s = Script()
    s.op(0.0, Kind.ENQUEUE, OK, "a")
    s.op(0.1, Kind.CLAIM, OK, "a", lease="w1")
    s.op(0.5, kind, REFUSED, "a", lease="w1", code="wrong_state")
    stored = storage([job("a", "claimed", 1, "w1")], enqueued=1)
    report = checked(s, stored)
    assert report.checks_failed() == {"unjustified_refusal"}
    assert report.figures["refusals_unjustified"] == 1


def test_a_refusal_after_an_ack_whose_answer_was_lost_is_justified() -> None:
    s = Script()
    s.op(0.0, Kind.ENQUEUE, OK, "a")
    s.op(0.1, Kind.CLAIM, OK, "a", lease="w1")
    s.op(0.5, Kind.ACK, UNKNOWN, "a", lease="w1")
    s.op(0.6, Kind.ACK, REFUSED, "a", lease="w1", code="wrong_state")
    stored = storage([job("a", "completed", 1)], enqueued=1, completed=1)
    assert checked(s, stored).violations == []


@pytest.mark.parametrize("kind", [Kind.ACK, Kind.HEARTBEAT, Kind.XACK])
def test_a_refusal_after_another_consumers_xack_is_justified(kind: Kind) -> None:
    """XACK names no consumer: x1, whose claim was reaped and given to w2, may still
    complete the job (as in Redis), and w2 is then refused."""
    s = Script()
    s.op(0.0, Kind.XADD, OK, "a")
    s.op(0.1, Kind.XREADGROUP, OK, "a", lease="x1")
    s.op(3.0, Kind.CLAIM, OK, "a", lease="w2")  # x1's lease expired: a legitimate claim
    s.op(3.1, Kind.XACK, OK, "a", lease="x1")
    s.op(3.2, kind, REFUSED, "a", lease="w2", code="wrong_state")
    stored = storage([job("a", "completed", 2, "w2")], enqueued=1, completed=1, reaped=1)
    assert checked(s, stored).violations == []
    s.history.ops[3].start = 3.25  # the XACK started after the refusal: no excuse
    assert checked(s, stored).checks_failed() == {"unjustified_refusal"}


def test_a_job_claimed_for_a_worker_whose_claim_did_not_get_it() -> None:
    s = Script()
    s.op(0.0, Kind.ENQUEUE, OK, "a")
    s.op(0.0, Kind.ENQUEUE, OK, "b")
    s.op(0.1, Kind.CLAIM, OK, "b", lease="w1")  # the answer named b, storage says a
    stored = storage([job("a", "claimed", 1, "w1"), job("b", "pending", 0)], enqueued=2)
    assert "claimed_for_nobody" in checked(s, stored).checks_failed()


def test_a_job_nobody_enqueued_and_a_job_stored_twice() -> None:
    s, stored = clean_run()
    stored.topics[T].jobs.append(job("zz", "pending", 0))
    stored.topics[T].jobs.append(StoredJob("other-id", "d", "pending", 0))
    stored.topics[T].counters["enqueued"] += 2
    assert {"phantom_job", "stored_twice"} <= checked(s, stored).checks_failed()


@pytest.mark.parametrize(
    "change",
    [
        {"enqueued": 5},  # one more job created than stored or trimmed
        {"completed": 2},  # fewer completions than acknowledged
        {"dead": 1},  # a death with no dead job stored or dropped
        {"reaped": 0},  # c's second attempt is unexplained
    ],
)
def test_counters_that_disagree_with_the_jobs(change: dict[str, int]) -> None:
    s, stored = clean_run()
    stored.topics[T].counters.update(change)
    assert "counters" in checked(s, stored).checks_failed()


@pytest.mark.parametrize(
    "leftover",
    [
        "topics/.tmp-t.json.123-abcd",  # a killed writer's temp file
        "topics/t/checkpoint-000000000007-0a0b0c0d.json",  # no head names it
        "topics/t/.lock-checkpoint-000000000007-0a0b0c0d.json",  # lock of a deleted key
    ],
)
def test_garbage_left_in_storage(leftover: str) -> None:
    s, stored = clean_run()
    stored.files.append(leftover)
    report = checked(s, stored)
    assert report.checks_failed() == {"garbage"}
    assert leftover in report.violations[0].detail


def test_a_checkpoint_older_than_the_pointers_is_garbage_and_a_newer_one_is_not() -> None:
    s, stored = clean_run()
    named = "topics/t/checkpoint-000000000007-0a0b0c0d.json"
    older = "topics/t/checkpoint-000000000006-0a0b0c0d.json"
    newer = "topics/t/checkpoint-000000000009-0a0b0c0d.json"  # its broker killed in flight
    stored.files += [named, newer, "topics/t/log/000000000007.json"]
    stored.heads[T] = named
    assert checked(s, stored).violations == []
    stored.files.append(older)
    report = checked(s, stored)
    assert report.checks_failed() == {"garbage"}
    assert older in report.violations[0].detail


def test_the_checkpoint_the_head_names_is_not_garbage() -> None:
    s, stored = clean_run()
    key = "topics/t/checkpoint-000000000007-0a0b0c0d.json"
    stored.files += [key, "topics/t/.lock-checkpoint-000000000007-0a0b0c0d.json"]
    stored.heads[T] = key
    assert checked(s, stored).violations == []


def fan_storage(status: str, billing: StoredGroup, audit: StoredGroup, **values: int) -> Storage:
    """One entry `a` (id 5-0) on a stream with the groups billing and audit."""
    entry = StoredJob("5-0", "a", status, 0)
    topic = StoredTopic(
        [entry], counters(enqueued=1, **values), {"billing": billing, "audit": audit}
    )
    return Storage({T: topic}, [], {T: None})


DONE, NEW = StoredGroup("9-0", {}), StoredGroup("0-0", {})  # past the entry, before it


def test_a_fan_out_entry_acked_by_every_group_is_completed_cleanly() -> None:
    s = Script()
    s.op(0.0, Kind.XADD, OK, "a")
    for group in ("billing", "audit"):
        s.op(0.1, Kind.GROUP_READ, OK, "a", lease=f"{group}-c", group=group)
        s.op(0.2, Kind.GROUP_ACK, OK, "a", lease=f"{group}-c", group=group)
    assert checked(s, fan_storage("completed", DONE, DONE, completed=1)).violations == []


def test_a_group_that_lost_an_entry_or_an_ack_is_reported() -> None:
    s = Script()
    s.op(0.0, Kind.XADD, OK, "a")
    s.op(0.1, Kind.GROUP_READ, OK, "a", lease="c1", group="billing")
    s.op(0.2, Kind.GROUP_ACK, OK, "a", lease="c1", group="billing")
    # audit never acked `a` but holds it no more; billing's ack left its record behind.
    report = checked(s, fan_storage("pending", StoredGroup("5-0", {"5-0": "claimed"}), DONE))
    assert report.checks_failed() == {"group_lost", "group_ack_lost"}
    # An entry completed while audit still holds it.
    report = checked(s, fan_storage("completed", DONE, NEW, completed=1))
    assert "completed_early" in report.checks_failed()
