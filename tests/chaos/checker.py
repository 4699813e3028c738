"""The history checker: a chaos run's operations against what storage holds at the end.

Pure functions of a `History` (tests/chaos/history.py) and a `Storage` snapshot, so each
rule is unit-tested with hand-made histories (tests/chaos/test_checker.py).

Times are the clients' (`start`/`end` of each op); the broker acts on an op at some moment
in between. A rule reports a violation only when every ordering the times allow breaks it.
Leases are judged against the visibility timeout: the broker reaps a claim no earlier than
`visibility_timeout` after its last renewal (the claim or a heartbeat) landed, and
`clock_margin` absorbs the difference between the clients' monotonic clock and the
brokers' wall clock.

What the counters promise (broker/mutations.py; a chaos run never deletes or requeues):
- `enqueued` counts every job ever created, so it is the jobs stored plus the completed
  jobs retention trimmed plus the dead jobs dropped;
- `completed` counts every completion (ack, XACK, pop), and a job completes at most once;
- `dead` counts every death: the dead jobs stored plus those dropped;
- `reaped` counts every expired claim, so with nothing trimmed the attempts of all jobs
  are completions + reaps + nacks + jobs still claimed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from common.keys import checkpoint_generation

from .history import (
    COMPLETE,
    DELIVER,
    END_LEASE,
    LEASE,
    OWNER_CHECKED,
    PRODUCE,
    History,
    Kind,
    Op,
    Outcome,
)

COMPLETED, CLAIMED, DEAD = "completed", "claimed", "dead"


@dataclass(frozen=True)
class StoredJob:
    id: str
    tag: str | None  # payload["k"], None when the payload has no tag
    status: str
    attempts: int
    claimed_by: str | None = None


@dataclass(frozen=True)
class StoredGroup:
    """A named consumer group as stored: entries after `last_id` are new for it; `records`
    (entry id -> status) are those it delivered and has not acked."""

    last_id: str
    records: dict[str, str]

    def holds(self, entry_id: str) -> bool:
        """Is the entry still to be done in this group (new for it, or delivered)?"""
        return entry_id in self.records or _stream_id(entry_id) > _stream_id(self.last_id)


def _stream_id(entry_id: str) -> tuple[int, int]:
    """`<ms>-<seq>` as numbers (the fan-out stream's XADD ids)."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass
class StoredTopic:
    jobs: list[StoredJob]
    counters: dict[str, int]
    groups: dict[str, StoredGroup] = field(default_factory=dict)  # named consumer groups


@dataclass
class Storage:
    topics: dict[str, StoredTopic]
    files: list[str]  # every file (localfs, dot files included) or key (s3), relative
    heads: dict[str, str | None]  # topic -> the checkpoint its pointer names (None: format 1)


@dataclass(frozen=True)
class Rules:
    visibility_timeout: float
    completed_retention: int
    clock_margin: float = 0.25


@dataclass(frozen=True)
class Violation:
    check: str
    detail: str


@dataclass
class Report:
    violations: list[Violation] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def add(self, check: str, detail: str) -> None:
        self.violations.append(Violation(check, detail))

    def of(self, check: str) -> list[Violation]:
        return [v for v in self.violations if v.check == check]

    def checks_failed(self) -> set[str]:
        return {v.check for v in self.violations}

    def describe(self, examples: int = 3) -> str:
        """How many violations of each check, and the first few of each."""
        by_check: dict[str, list[Violation]] = defaultdict(list)
        for violation in self.violations:
            by_check[violation.check].append(violation)
        lines = []
        for name, found in sorted(by_check.items()):
            lines.append(f"{name}: {len(found)}")
            lines += [f"  {v.detail}" for v in found[:examples]]
        return "\n".join(lines)


def _show(op: Op) -> str:
    return (
        f"#{op.seq} {op.kind} by {op.client} on broker {op.broker} "
        f"[{op.start:.3f}-{op.end:.3f}] {op.outcome}"
        + (f" ({op.code})" if op.code else "")
        + (f" lease={op.lease}" if op.lease else "")
    )


class _Index:
    """The history grouped the ways the rules look at it."""

    def __init__(self, history: History) -> None:
        self.ops = history.ops
        self.topic_of: dict[str, str] = {}
        self.produced_ok: dict[str, set[str]] = defaultdict(set)  # topic -> tags
        self.produced_maybe: dict[str, set[str]] = defaultdict(set)
        self.deliveries: dict[str, list[Op]] = defaultdict(list)  # tag -> OK deliveries
        self.completions: dict[str, list[Op]] = defaultdict(list)  # tag -> OK completions
        self.maybe_completed: set[str] = set()  # tags an OK or UNKNOWN completion names
        self.unknown_pops: Counter[str] = Counter()  # topic -> jobs unknown pops may have taken
        self.claims: dict[tuple[str, str], Op] = {}  # (lease, tag) -> the OK claim
        self.claimers: dict[str, list[Op]] = defaultdict(list)  # lease -> claim ops
        self.lease_ops: dict[tuple[str, str], list[Op]] = defaultdict(list)
        self.xacks: dict[str, list[Op]] = defaultdict(list)  # tag -> XACKs that may have acted
        # (tag, group) -> a named group's XACKs of the entry: that may have acted, that did
        self.group_acks: dict[tuple[str, str], list[Op]] = defaultdict(list)
        self.group_acked: set[tuple[str, str]] = set()
        self.group_done_ok: dict[str, set[str]] = defaultdict(set)  # topic -> acked by all
        self.nacks = Counter[str]()  # topic -> nacks that may have landed
        for op in self.ops:
            self._add(op)

    def _add(self, op: Op) -> None:
        if op.kind in PRODUCE:
            for tag in op.tags:
                self.topic_of[tag] = op.topic
                if op.may_have_acted():
                    self.produced_maybe[op.topic].add(tag)
                if op.outcome is Outcome.OK:
                    self.produced_ok[op.topic].add(tag)
        if op.kind in LEASE and op.lease and op.may_have_acted():
            self.claimers[op.lease].append(op)
        if op.outcome is Outcome.OK and op.kind in DELIVER:
            for tag in op.tags:
                self.deliveries[tag].append(op)
                if op.kind in LEASE and op.lease:
                    self.claims[(op.lease, tag)] = op
        if op.kind is Kind.POP and op.outcome is Outcome.UNKNOWN:
            self.unknown_pops[op.topic] += op.count
        if op.kind in COMPLETE and op.may_have_acted():
            self.maybe_completed.update(op.tags)
            if op.outcome is Outcome.OK:
                for tag in op.tags:
                    self.completions[tag].append(op)
        if op.kind is Kind.NACK and op.may_have_acted():
            self.nacks[op.topic] += 1
        if op.kind is Kind.XACK and op.may_have_acted():
            for tag in op.tags:
                self.xacks[tag].append(op)
        if op.kind is Kind.GROUP_ACK and op.group and op.may_have_acted():
            for tag in op.tags:
                self.group_acks[(tag, op.group)].append(op)
                if op.outcome is Outcome.OK:
                    self.group_acked.add((tag, op.group))
        if op.lease and op.kind not in LEASE:
            for tag in op.tags:
                self.lease_ops[(op.lease, tag)].append(op)

    def renewed_before(self, lease: str, tag: str, moment: float) -> Op | None:
        """The latest-starting renewal of a lease (its claim, or an OK heartbeat) that
        certainly landed before `moment`."""
        claim = self.claims.get((lease, tag))
        renewals = [claim] if claim is not None else []
        renewals += [
            op
            for op in self.lease_ops[(lease, tag)]
            if op.kind is Kind.HEARTBEAT and op.outcome is Outcome.OK
        ]
        before = [op for op in renewals if op.end <= moment]
        return max(before, key=lambda op: op.start, default=None)

    def ended_before(self, lease: str, tag: str, moment: float, but: Op | None = None) -> bool:
        """Whether an ack or nack of this lease may have landed before `moment`."""
        return any(
            op is not but and op.kind in END_LEASE and op.may_have_acted() and op.start < moment
            for op in self.lease_ops[(lease, tag)]
        )

    def add_group_completions(self, topic: str, groups: list[str]) -> None:
        """A fan-out stream's entry completes once every group acked it: such entries may
        be completed (and trimmed), or certainly are when every group's ack is known."""
        if not groups:
            return  # not a fan-out stream: its jobs complete as jobs
        for tag in [tag for tag, t in self.topic_of.items() if t == topic]:
            if all(self.group_acks[(tag, group)] for group in groups):
                self.maybe_completed.add(tag)
            if all((tag, group) in self.group_acked for group in groups):
                self.group_done_ok[topic].add(tag)

    def xacked_before(self, tag: str, moment: float, but: Op) -> bool:
        """Whether an XACK of the job by anyone may have landed before `moment`: XACK
        names no consumer, so (as in Redis) a consumer whose claim was reaped and given to
        another may still complete the job, ending the new holder's lease."""
        return any(op is not but and op.start < moment for op in self.xacks[tag])


def check(history: History, storage: Storage, rules: Rules) -> Report:
    """Every rule of this module; the report lists each violation and the run's figures."""
    report = Report()
    index = _Index(history)
    for topic, contents in storage.topics.items():
        index.add_group_completions(topic, list(contents.groups))
    stored = _stored_by_tag(storage, index, report)
    lost = _check_presence(index, storage, stored, report)
    duplicates = _check_completions(index, report)
    duplicates += _check_leases(index, rules, report)
    refusals = _check_refusals(index, rules, report)
    _check_groups(index, storage, report)
    _check_claimed_jobs(index, stored, report)
    for topic, contents in storage.topics.items():
        _check_counters(index, topic, contents, rules, report)
    _check_garbage(storage, report)
    duplicates += len(report.of("stored_twice"))
    report.figures = _figures(history, index, storage, refusals, report, lost, duplicates)
    return report


def _stored_by_tag(
    storage: Storage, index: _Index, report: Report
) -> dict[str, tuple[str, StoredJob]]:
    stored: dict[str, tuple[str, StoredJob]] = {}
    for topic, contents in storage.topics.items():
        for job in contents.jobs:
            if job.tag is None or job.tag not in index.produced_maybe[topic]:
                report.add("phantom_job", f"{topic}/{job.id} (tag {job.tag}): nobody enqueued it")
                continue
            if job.tag in stored:
                report.add("stored_twice", f"tag {job.tag}: jobs {stored[job.tag][1].id}, {job.id}")
            stored[job.tag] = (topic, job)
    return stored


def _check_presence(
    index: _Index, storage: Storage, stored: dict[str, tuple[str, StoredJob]], report: Report
) -> int:
    """Every acknowledged enqueue is stored, or was completed and then trimmed; every
    acknowledged completion is stored as completed (or trimmed). Returns the jobs lost."""
    lost = 0
    for topic, contents in storage.topics.items():
        absent = sorted(index.produced_ok[topic] - stored.keys())
        unexplained = [tag for tag in absent if tag not in index.maybe_completed]
        trimmed = _trimmed(contents)
        extra = len(unexplained) - index.unknown_pops[topic]
        if contents.counters.get("dropped"):
            extra = 0  # dropped dead jobs are absent too, and no op names them
        lost += max(0, extra, len(absent) - trimmed)
        if extra > 0:
            report.add(
                "lost",
                f"{topic}: {extra} acknowledged enqueues are not stored and no completion "
                f"can explain it: {unexplained[:10]}",
            )
        if len(absent) > trimmed:
            report.add(
                "lost",
                f"{topic}: {len(absent)} acknowledged enqueues are not stored but retention "
                f"trimmed only {trimmed} jobs: {absent[:10]}",
            )
    for tag, completions in index.completions.items():
        found = stored.get(tag)
        if found is not None and found[1].status != COMPLETED:
            report.add(
                "acked_not_completed",
                f"tag {tag} is stored {found[1].status} after {_show(completions[0])}",
            )
    return lost


def _trimmed(contents: StoredTopic) -> int:
    completed = sum(1 for job in contents.jobs if job.status == COMPLETED)
    return contents.counters.get("completed", 0) - completed + contents.counters.get("dropped", 0)


def _check_completions(index: _Index, report: Report) -> int:
    """A job completes at most once, and is never delivered after it completed. Returns
    the deliveries too many."""
    duplicates = 0
    for tag, completions in index.completions.items():
        if len(completions) > 1:
            duplicates += len(completions) - 1
            report.add(
                "completed_twice", f"tag {tag}: " + "; ".join(_show(op) for op in completions)
            )
        first = min(completions, key=lambda op: op.end)
        for delivery in index.deliveries[tag]:
            if delivery.start > first.end:
                duplicates += 1
                report.add(
                    "delivered_after_completion",
                    f"tag {tag}: {_show(delivery)} after {_show(first)}",
                )
    return duplicates


def _check_leases(index: _Index, rules: Rules, report: Report) -> int:
    """No two leases of one job overlap: a new claim only once the old lease may have
    expired or ended, and no heartbeat or ack of the old lease succeeds after it.
    Returns the overlaps."""
    overlaps = 0
    by_tag: dict[str, list[tuple[str, Op]]] = defaultdict(list)
    for (lease, tag), claim in index.claims.items():
        by_tag[tag].append((lease, claim))
    for tag, leases in by_tag.items():
        for old_lease, old in leases:
            for _, new in leases:
                if new is old or new.start <= old.end:
                    continue  # `new` is not certainly the later claim
                for op in index.lease_ops[(old_lease, tag)]:
                    owner_ok = op.kind in OWNER_CHECKED and op.outcome is Outcome.OK
                    if owner_ok and op.start > new.end:
                        overlaps += 1
                        report.add(
                            "overlapping_leases",
                            f"tag {tag}: {_show(op)} succeeded after {_show(new)}",
                        )
                renewal = index.renewed_before(old_lease, tag, new.start)
                if (
                    renewal is not None
                    and new.end < renewal.start + rules.visibility_timeout - rules.clock_margin
                    and not index.ended_before(old_lease, tag, new.end)
                ):
                    overlaps += 1
                    report.add(
                        "overlapping_leases",
                        f"tag {tag}: {_show(new)} while {old_lease}'s lease, renewed by "
                        f"{_show(renewal)}, had not expired",
                    )
    return overlaps


@dataclass
class Refusals:
    total: int = 0
    justified: int = 0  # the lease may have expired, or an ack/nack of it may have landed
    reclaimed: int = 0  # ... and another claim of the job is on record
    unjustified: int = 0
    by_code: Counter[str] = field(default_factory=Counter)


def _check_refusals(index: _Index, rules: Rules, report: Report) -> Refusals:
    """A heartbeat, ack or nack is refused only when its lease may be over."""
    found = Refusals()
    for op in index.ops:
        if op.outcome is not Outcome.REFUSED or op.kind not in (OWNER_CHECKED | {Kind.XACK}):
            continue
        if not op.lease or not op.tags:
            continue
        tag = op.tags[0]
        found.total += 1
        found.by_code[f"{op.kind}:{op.code}"] += 1
        renewal = index.renewed_before(op.lease, tag, op.start)
        held = renewal is not None and (
            op.end < renewal.start + rules.visibility_timeout - rules.clock_margin
        )
        ended = index.ended_before(op.lease, tag, op.end, but=op)
        if held and not ended and not index.xacked_before(tag, op.end, but=op):
            # A broker that has not seen the claim (or a heartbeat) must not refuse from
            # its old copy of the topic: refusals are decided on the latest stored state.
            found.unjustified += 1
            assert renewal is not None
            report.add(
                "unjustified_refusal",
                f"tag {tag}: {_show(op)}, but the lease was renewed by {_show(renewal)} "
                f"less than {rules.visibility_timeout:g}s before",
            )
            continue
        found.justified += 1
        claim = index.claims.get((op.lease, tag))
        if claim is not None and any(
            claim.end < other.start < op.end for other in index.deliveries[tag]
        ):
            found.reclaimed += 1  # the job was delivered again before the refusal
    return found


def _check_claimed_jobs(
    index: _Index, stored: dict[str, tuple[str, StoredJob]], report: Report
) -> None:
    """A job stored as claimed is held by a claim whose answer listed it (or was lost)."""
    for tag, (topic, job) in stored.items():
        if job.status != CLAIMED:
            continue
        claims = index.claimers.get(job.claimed_by or "", [])
        if not any(op.outcome is Outcome.UNKNOWN or tag in op.tags for op in claims):
            report.add(
                "claimed_for_nobody",
                f"{topic}/{job.id} (tag {tag}) is claimed by {job.claimed_by!r}, "
                "but no claim of that worker delivered it",
            )


def _check_groups(index: _Index, storage: Storage, report: Report) -> None:
    """A fan-out stream's groups lose nothing: an entry is done in a group (no record, not
    after its cursor) only if an XACK in that group may have acted; an acknowledged XACK
    leaves no record; an entry is completed only once every group may have acked it."""
    for topic, contents in storage.topics.items():
        for job in contents.jobs:
            if job.tag is None:
                continue
            acked = {name: bool(index.group_acks[(job.tag, name)]) for name in contents.groups}
            for name, group in contents.groups.items():
                if not group.holds(job.id) and not acked[name]:
                    report.add("group_lost", f"{topic}/{job.id} (tag {job.tag}) is done in "
                               f"group {name}, which never acked it")  # fmt: skip
                if (job.tag, name) in index.group_acked and job.id in group.records:
                    report.add("group_ack_lost", f"{topic}/{job.id} (tag {job.tag}) was "
                               f"acked in group {name} and is still pending there")  # fmt: skip
            if contents.groups and job.status == COMPLETED and not all(acked.values()):
                report.add("completed_early", f"{topic}/{job.id} (tag {job.tag}) is completed "
                           f"before every group acked it: {acked}")  # fmt: skip


def _check_counters(
    index: _Index, topic: str, contents: StoredTopic, rules: Rules, report: Report
) -> None:
    counters = contents.counters
    statuses = Counter(job.status for job in contents.jobs)

    def broken(rule: str) -> None:
        report.add("counters", f"{topic}: {rule} (counters {counters}, stored {dict(statuses)})")

    enqueued, completed = counters.get("enqueued", 0), counters.get("completed", 0)
    dead, dropped = counters.get("dead", 0), counters.get("dropped", 0)
    if enqueued != len(contents.jobs) + _trimmed(contents):
        broken("enqueued != stored jobs + completed jobs trimmed + dead jobs dropped")
    if not statuses[COMPLETED] <= min(completed, rules.completed_retention):
        broken("more completed jobs stored than completed or than retention keeps")
    if dead != statuses[DEAD] + dropped:
        broken("dead != dead jobs stored + dropped")
    if not len(index.produced_ok[topic]) <= enqueued <= len(index.produced_maybe[topic]):
        broken(
            f"enqueued outside [{len(index.produced_ok[topic])}, "
            f"{len(index.produced_maybe[topic])}] (acknowledged, attempted)"
        )
    topic_tags = {tag for tag, t in index.topic_of.items() if t == topic}
    done_ok = sum(1 for tag in topic_tags if tag in index.completions)
    if contents.groups:
        done_ok = len(index.group_done_ok[topic])
    done_maybe = sum(1 for tag in topic_tags if tag in index.maybe_completed)
    if not done_ok <= completed <= done_maybe + index.unknown_pops[topic]:
        broken(
            f"completed outside [{done_ok}, {done_maybe + index.unknown_pops[topic]}] "
            "(acknowledged completions, possible ones)"
        )
    if _trimmed(contents) == 0 and not contents.groups:  # a group's attempts are its own
        attempts = sum(job.attempts for job in contents.jobs)
        floor = completed + counters.get("reaped", 0) + statuses[CLAIMED]
        if not floor <= attempts <= floor + index.nacks[topic]:
            broken(
                f"attempts {attempts} != completed + reaped + claimed ({floor}) "
                f"+ up to {index.nacks[topic]} nacks"
            )


def _check_garbage(storage: Storage, report: Report) -> None:
    """No temp files, no checkpoint older than the one each pointer names (a newer one is
    a checkpoint whose broker was killed before it moved the pointer: collected once the
    pointer passes it), no lock file without its key. Log objects the pointer's
    checkpoint covers are kept for the grace period (broker/checkpoints.py), so they are
    not garbage yet."""
    files = set(storage.files)
    for path in sorted(files):
        directory, _, name = path.rpartition("/")
        if name.startswith(".tmp-"):
            report.add("garbage", f"temp file left: {path}")
        elif name.startswith(".lock-"):
            target = f"{directory}/{name.removeprefix('.lock-')}".lstrip("/")
            if target not in files:
                # Lock files go with their key (a deleted checkpoint's included).
                report.add("garbage", f"lock file without its key: {path}")
        elif name.startswith("write-check-"):  # a start-up check's object: removed at once
            report.add("garbage", f"write check left: {path}")
        elif "/checkpoint-" in path:
            topic = directory.removeprefix("topics/")
            named = storage.heads.get(topic)
            floor = None if named is None else checkpoint_generation(named)
            generation = checkpoint_generation(path)
            if floor is None or generation is None or generation < floor:
                report.add("garbage", f"checkpoint {path} but the pointer of {topic} names {named}")


def _figures(
    history: History,
    index: _Index,
    storage: Storage,
    refusals: Refusals,
    report: Report,
    lost: int,
    duplicates: int,
) -> dict[str, Any]:
    ops = Counter(f"{op.kind}:{op.outcome}" for op in history.ops)
    failed = report.checks_failed()
    counters: Counter[str] = Counter()
    for contents in storage.topics.values():
        counters.update(contents.counters)
    return {
        "ops": dict(sorted(ops.items())),
        "acked_enqueues": sum(len(tags) for tags in index.produced_ok.values()),
        "acked_completions": len(index.completions),
        "lost": lost,
        "duplicates": duplicates,
        "refusals": refusals.total,
        "refusals_justified": refusals.justified,
        "refusals_reclaimed": refusals.reclaimed,
        "refusals_unjustified": refusals.unjustified,
        "refusals_by_code": dict(sorted(refusals.by_code.items())),
        "counters": dict(counters),
        "checks_failed": sorted(failed),
    }
