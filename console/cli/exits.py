"""Exit statuses of `simplequeue`, one per kind of failure a script may want to branch on."""

from __future__ import annotations

from common.errors import (
    BrokerUnavailable,
    ClientError,
    JobConflict,
    NothingToClaim,
    ResourceNotFound,
    StorageFailed,
    Unauthorized,
)

OK = 0
ERROR = 1  # anything else: refused request, payload too large, unexpected reply
USAGE = 2  # bad flags or arguments, invalid JSON payload, invalid topic name
NOTHING_TO_CLAIM = 3
NOT_FOUND = 4  # no such job (or topic document)
UNREACHABLE = 5  # broker unreachable, or no live broker registered in storage
CONFLICT = 6  # the job is not in a state that allows it (wrong state, lease lost)
UNAUTHORIZED = 7  # missing or wrong --token
STORAGE = 8  # the broker answers, but its storage failed or a stored document is invalid
NOT_READY = 9  # `health`: the broker answers but is not ready (its reasons are printed)
INTERRUPTED = 130

EXIT_CODES_HELP = """exit status:
  0  ok                  5  broker unreachable / no live broker registered
  1  other error         6  conflict (wrong job state, lease lost)
  2  usage               7  unauthorized (missing or wrong --token)
  3  nothing to claim    8  storage error (storage failing, or an invalid document)
  4  not found           9  health: the broker answers but is not ready"""


def exit_code(error: ClientError) -> int:
    if error.code == "invalid_topic":
        return USAGE
    for kind, code in (
        (NothingToClaim, NOTHING_TO_CLAIM),
        (ResourceNotFound, NOT_FOUND),
        (StorageFailed, STORAGE),  # before BrokerUnavailable, which it is a kind of
        (BrokerUnavailable, UNREACHABLE),
        (JobConflict, CONFLICT),
        (Unauthorized, UNAUTHORIZED),
    ):
        if isinstance(error, kind):
            return code
    return ERROR
