"""The error codes of the HTTP API, in one table shared by the broker and the client.

The broker answers an error as `{"error": <message>, "code": <code>}` with the code's HTTP
status (broker/http/errors.py); the client raises the code's exception (common/client.py).
Each code is one line of `CODES`, so both sides change together. Nothing here imports
the client or the broker: common/discovery.py raises these errors too.
"""

from __future__ import annotations

from typing import NamedTuple


class ClientError(Exception):
    """A request the broker refused, or could not be asked. `code` is the JSON code."""

    default_code = "error"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.status = status


class BadRequest(ClientError):
    default_code = "bad_request"  # also invalid_topic


class Unauthorized(ClientError):
    default_code = "unauthorized"


class ResourceNotFound(ClientError):
    """An unknown route, or a topic without a document (code `not_found`)."""

    default_code = "not_found"


class JobNotFound(ResourceNotFound):
    default_code = "job_not_found"


class NothingToClaim(ClientError):
    """Only raised by claim_one(); claim() returns an empty list."""

    default_code = "empty"


class JobConflict(ClientError):
    """The job is not in a state that allows the operation (code `wrong_state`)."""

    default_code = "wrong_state"


class LeaseLost(JobConflict):
    """The job was reaped or claimed by another worker (code `lease_lost`)."""

    default_code = "lease_lost"


class PayloadTooLarge(ClientError):
    default_code = "payload_too_large"


class BrokerUnavailable(ClientError):
    """Connection refused, timeout, or 503 after the retries allowed for the call."""

    default_code = "unavailable"


class StorageFailed(BrokerUnavailable):
    """The broker answers but its storage failed (code `storage_unavailable`): nothing
    changed. A BrokerUnavailable, so code that retries those retries this too."""

    default_code = "storage_unavailable"


class DocumentBroken(StorageFailed):
    """A stored document of the topic is invalid (code `document_invalid`): the broker
    will not write over it; the message names the key and the field. Retrying does not
    help until an operator repairs or resets it."""

    default_code = "document_invalid"


class Code(NamedTuple):
    status: int  # what the broker answers
    error: type[ClientError]  # what the client raises


CODES: dict[str, Code] = {
    "bad_request": Code(400, BadRequest),
    "invalid_topic": Code(400, BadRequest),
    "unauthorized": Code(401, Unauthorized),
    "job_not_found": Code(404, JobNotFound),
    "not_found": Code(404, ResourceNotFound),
    "empty": Code(404, NothingToClaim),
    "method_not_allowed": Code(405, ClientError),
    "request_timeout": Code(408, ClientError),
    "wrong_state": Code(409, JobConflict),
    "lease_lost": Code(409, LeaseLost),
    "topic_has_groups": Code(409, JobConflict),  # consumed through its consumer groups
    "payload_too_large": Code(413, PayloadTooLarge),
    "internal": Code(500, ClientError),
    "storage_unavailable": Code(503, StorageFailed),
    "document_invalid": Code(503, DocumentBroken),
    "too_many_connections": Code(503, BrokerUnavailable),  # before any route
}

#: 503 codes that a retry cannot cure (every other 503 is retried by the client).
NOT_RETRIED = frozenset({"document_invalid"})

#: The code to assume for a reply without a JSON error body (a proxy in between, say).
CODE_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    409: "wrong_state",
    413: "payload_too_large",
    503: "storage_unavailable",
}
