"""Reading topic documents: see common/topic_log.py, which every reader goes through.

Kept so that `from common.documents import DocumentReader` goes on working."""

from __future__ import annotations

from common.topic_log import DocumentReader, HeadInvalid, merge_document, validate_header

__all__ = ["DocumentReader", "HeadInvalid", "merge_document", "validate_header"]
