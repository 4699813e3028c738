"""What one commit writes: a whole document, or a head over a checkpoint.

A commit that rewrote the whole topic document would cost time in proportion to the topic:
72 ms at 100k pending jobs, most of it writing and fsyncing 27 MB. So a topic whose
document is bigger than `checkpoint_bytes` keeps its jobs in a checkpoint, an immutable
object holding the whole (format-1) document as of one generation, and its topic document
becomes a head (format 2) holding only what changed since then. A commit writes the head;
its cost follows the changes, not the topic. When the changes outgrow a sixteenth of the
checkpoint, the commit writes a new checkpoint (create-only, under a fresh key) before
the head that refers to it. A topic that shrinks back under `checkpoint_bytes` is written
whole again. The head stays the one compare-and-set point, so the CAS rules of broker/DESIGN.md
hold unchanged: a checkpoint nobody refers to is garbage, removed after the next head
lands (`stale_checkpoints`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from common.keys import checkpoint_generation, checkpoint_key

from .state import CheckpointRef, TopicState

DEFAULT_CHECKPOINT_BYTES = 1024 * 1024
CHANGES_FRACTION = 16  # a new checkpoint once the changes outgrow 1/16 of it


@dataclass(frozen=True, slots=True)
class Write:
    head: bytes  # the topic document: a whole format-1 document or a format-2 head
    ref: CheckpointRef | None  # the checkpoint `head` refers to
    checkpoint: bytes | None = None  # a new checkpoint to create (at ref.key) first


def plan_write(
    state: TopicState, generation: int, writer: str, now: int, checkpoint_bytes: int
) -> Write:
    """What to write for the state's current changes as `generation`."""
    ref = state.checkpoint
    if ref is not None:
        head = state.encode_head(generation, writer, now)
        limit = max(checkpoint_bytes // 4, ref.size // CHANGES_FRACTION)
        if len(head) <= limit or state.loading is not None:  # no whole write half loaded
            return Write(head, ref)
    whole = state.encode(generation, writer, now)
    if len(whole) <= checkpoint_bytes:
        return Write(whole, None)
    key = checkpoint_key(state.name, generation, secrets.token_hex(4))
    new = CheckpointRef(key, generation, len(state.jobs), len(whole))
    return Write(state.encode_head(generation, writer, now, new), new, whole)


def stale_checkpoints(
    keys: list[str], head_generation: int, ref: CheckpointRef | None
) -> list[str]:
    """Checkpoint keys no head can refer to any more, once a head of `head_generation`
    referring to `ref` has landed: any with a lower generation than `ref` (or than the
    head, when it is a whole document). A newer one may be another broker's, about to be
    referred to, and is kept."""
    floor = ref.generation if ref is not None else head_generation
    stale = []
    for key in keys:
        generation = checkpoint_generation(key)
        if generation is not None and generation < floor:
            stale.append(key)
    return stale
