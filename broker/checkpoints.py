"""Checkpoints and garbage collection of a topic in the log layout (common/topic_log.py).

A commit writes one log object with its batch's changes (broker/committer.py). Reading a
topic means reading its checkpoint and every log object after it, so once the log since
the checkpoint outgrows a fraction of the checkpoint (`checkpoint_due`), the broker
writes a new checkpoint OFF the commit path: the state is encoded between two commits
(it is exactly generation G then), and a background task of the topic creates the
checkpoint (create-only, a random token in its key), then moves the pointer to it
(put_if on the pointer's ETag, only forward: a pointer already at G or past it is left
alone and the new checkpoint deleted). The pointer may lag the log: readers read forward.

Garbage: checkpoints older than the one the pointer names, and log objects the pointer's
checkpoint covers (generation <= the pointer's), are deleted by the broker that moved the
pointer, or by any broker that later sees them. Deleting a log object is the dangerous
part: create-only is the compare-and-set of a commit, and a deleted `log/g` can be
created again. A broker whose copy is at generation g-1 (stale: others wrote g, g+1, ...,
a checkpoint past g, and g was deleted) would then create `log/g`, succeed, and
acknowledge a write no reader will ever read (readers start at the pointer, past g).

The rule that makes this impossible (GRACE_SECONDS, CONFIRM_SECONDS = GRACE_SECONDS / 2):
1. A log object is deleted only once it has been known to exist for GRACE_SECONDS: the
   deleting broker saw it (created it, read it, or listed it) at least GRACE_SECONDS ago
   on its own monotonic clock.
2. A broker creates `log/g` only if its copy (generation g-1) was *confirmed* less than
   CONFIRM_SECONDS before the create is sent. A copy is confirmed at time t when, at t,
   `log/g` had never been created: the broker created `log/g-1` at t (nobody creates
   `log/g` before `log/g-1` exists), or a get of `log/g` sent at t found nothing and
   either the previous confirmation was less than CONFIRM_SECONDS before t or the pointer,
   read after that get, still named a generation below g (no deletion past the pointer).
   A copy older than that is first brought up to date (the get, then the pointer).
Why it is safe: say the broker's copy at g-1 was confirmed at t0 and it creates `log/g`
at t1 < t0 + CONFIRM_SECONDS (+ the create's own latency, seconds at most). If another
`log/g` was created, that was after t0, so whoever deletes it saw it after t0 and deletes
it after t0 + GRACE_SECONDS > t1: at t1 it still exists, the create fails, and the
broker reads it (a conflict, handled as always). The same argument covers the chain of
confirmations in rule 2: a get that found nothing less than CONFIRM_SECONDS after the
previous confirmation cannot have met a deleted object, since every object after the
confirmed generation was created after that confirmation. Only durations are compared,
each measured on one machine's monotonic clock, so clock offsets do not matter.
A reader that starts from the pointer reads the pointer again after finding the end of
the log (common/topic_log.py): a pointer still below the missing generation proves the
end was not deleted, and that read confirms a broker's freshly loaded copy.
"""

from __future__ import annotations

from common.keys import checkpoint_generation, log_generation

DEFAULT_CHECKPOINT_BYTES = 1024 * 1024
# A new checkpoint once the log outgrows 1/4 of the checkpoint: checkpoints then cost 4x
# the log's bytes, amortized, and a reader reads at most 1/4 more than the checkpoint
# (folded in memory while a broker loads: a bigger fraction costs memory at start-up).
CHANGES_FRACTION = 4
# ... or once it has this many objects (a reader's requests) and 1/64 of the checkpoint.
MANY_LOG_OBJECTS = 4000
GRACE_SECONDS = 300.0
CONFIRM_SECONDS = GRACE_SECONDS / 2
GC_INTERVAL_SECONDS = 10.0  # garbage is looked for at most this often per topic
LOG_LIST_SECONDS = GRACE_SECONDS / 2  # log objects left by others are listed this often


def checkpoint_due(
    log_bytes: int, log_objects: int, checkpoint_bytes: int, checkpoint_size: int
) -> bool:
    """Is a new checkpoint due? `log_bytes` and `log_objects` are the log's since the
    checkpoint the pointer names (of `checkpoint_size` bytes); `checkpoint_bytes` is the
    `--checkpoint-bytes` setting, of which a sixteenth is the least log worth one."""
    floor = max(1, checkpoint_bytes // 16)
    if log_bytes >= max(floor, checkpoint_size // CHANGES_FRACTION):
        return True
    return log_objects >= MANY_LOG_OBJECTS and log_bytes >= max(floor, checkpoint_size // 64)


def stale_checkpoints(keys: list[str], pointer_generation: int, named: str) -> list[str]:
    """Checkpoint keys older than the pointer's checkpoint (`named`, of generation
    `pointer_generation`). A newer one may be another broker's, about to be named, and
    is kept."""
    stale = []
    for key in keys:
        generation = checkpoint_generation(key)
        if generation is not None and generation < pointer_generation and key != named:
            stale.append(key)
    return stale


def covered_logs(keys: list[str], pointer_generation: int) -> list[tuple[int, str]]:
    """Log objects a checkpoint of `pointer_generation` covers, with their generations."""
    covered = []
    for key in keys:
        generation = log_generation(key)
        if generation is not None and generation <= pointer_generation:
            covered.append((generation, key))
    return covered
