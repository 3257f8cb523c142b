"""Trying a request to the store again: which errors are worth it, how long to wait, how often.

Every request to the store is tried again here and nowhere else: urllib3,
under the minio client, tries nothing again (its waits cannot be cancelled,
and tries at two levels would multiply). :class:`~.bucket.Bucket` runs
each of its requests through :func:`retrying`; a download, which can only
start over from its first byte, is retried whole by its caller (see
:func:`datayard.core.datasets.blobs.with_retries`). The one caller that
waits out a store that is away for longer than this budget, a training
run's mirror, makes each request once (:meth:`~.bucket.Bucket.tried_once`)
and tries again at its own pace (see :mod:`datayard.core.training.mirror`).

The budget: an error that may pass (the connection refused, dropped or timed
out; HTTP 500, 502, 503 or 504; ``SlowDown``, ``RequestTimeout``,
``InternalError``...) is tried :data:`ATTEMPTS` (5) times in all. The waits
between tries double from :data:`FIRST_WAIT_S` up to :data:`LONGEST_WAIT_S`
(0.5, 1, 2 and 4 s), each shortened at random by up to half, so that the
threads of a push that met the same busy server do not come back in step:
7.5 s in all at most. A wait ends at once when the operation is cancelled. Errors that
the same request would meet again (credentials, a missing bucket or object, a
failed precondition, a name that does not resolve, TLS) are not retried.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import TypeVar

from datayard.core.errors import AccessError, PreconditionFailedError, StorageError
from datayard.core.events import Cancelled, CancelToken
from datayard.core.store.s3 import S3Answer, http_status, s3_code, urllib3_error

log = logging.getLogger(__name__)

T = TypeVar("T")

ATTEMPTS = 5
FIRST_WAIT_S = 0.5
LONGEST_WAIT_S = 4.0

TRANSIENT_CODES = frozenset({"InternalError", "RequestTimeout", "ServiceUnavailable", "SlowDown"})
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})


def is_transient(error: BaseException) -> bool:
    """Whether the same request may succeed if it is tried again in a moment."""
    if not isinstance(error, StorageError) or isinstance(
        error, AccessError | PreconditionFailedError
    ):
        return False
    cause = error.__cause__
    if urllib3_error(cause, "NameResolutionError"):
        return False
    if urllib3_error(cause, "NewConnectionError", "ProtocolError", "TimeoutError"):
        return True
    if isinstance(cause, S3Answer) and cause.unanswered:
        return True
    return s3_code(cause) in TRANSIENT_CODES or http_status(cause) in TRANSIENT_STATUSES


def wait_before(attempt: int) -> float:
    """Seconds to wait before try ``attempt + 1``, after ``attempt`` tries failed."""
    longest = min(FIRST_WAIT_S * 2.0 ** (attempt - 1), LONGEST_WAIT_S)
    return longest * random.uniform(0.5, 1.0)


class Attempts:
    """The tries of one request, for code that cannot hand it over as one callable."""

    def __init__(
        self,
        what: str,
        cancel: CancelToken | None = None,
        worth_retrying: Callable[[BaseException], bool] = is_transient,
        attempts: int = ATTEMPTS,
    ) -> None:
        self.what = what
        self.cancel = cancel
        self.worth_retrying = worth_retrying
        self.attempts = attempts
        self.failures = 0

    def failed(self, error: Exception) -> None:
        """Wait before the next try; raise ``error`` when no try is left or worth making.

        :class:`Cancelled` when the operation is cancelled while it waits.
        """
        self.failures += 1
        if self.failures >= self.attempts or not self.worth_retrying(error):
            raise error
        delay = wait_before(self.failures)
        log.info(
            "%s: %s; trying again in %.1f s (try %d of %d)",
            self.what,
            error,
            delay,
            self.failures + 1,
            self.attempts,
        )
        if (self.cancel or CancelToken()).wait(delay):
            raise Cancelled


def retrying(
    action: Callable[[], T],
    what: str,
    *,
    cancel: CancelToken | None = None,
    worth_retrying: Callable[[BaseException], bool] = is_transient,
    attempts: int = ATTEMPTS,
) -> T:
    """``action()``, tried again as the module doc says, ``attempts`` times in all; ``action``
    must start from scratch."""
    tries = Attempts(what, cancel, worth_retrying, attempts)
    while True:
        try:
            return action()
        except StorageError as error:
            tries.failed(error)
