"""When to try a Twilio request again: which failures pass, and how long to wait.

Twilio's 429 (20429) is "never processed and is always safe to retry"
(twilio.com/docs/api/errors/20429); 5xx and network errors pass too, but their request
may have been applied, so the caller finds out what Twilio did before sending again.
Delays are exponential with full jitter (aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter),
never shorter than the answer's `Retry-After` (RFC 9110 section 10.2.3).
"""

from __future__ import annotations

import random

from requests.exceptions import RequestException
from twilio.base.exceptions import TwilioException, TwilioRestException

#: Seconds of the first retry's delay, and the most any retry waits.
BASE_SECONDS, CAP_SECONDS = 1.0, 60.0


def transient(exc: BaseException) -> bool:
    """True for a failure worth retrying: Twilio's 429 or 5xx, or no answer at all (timeout, dropped connection)."""
    if isinstance(exc, TwilioRestException):
        return exc.status == 429 or exc.status >= 500
    return isinstance(exc, (RequestException, TwilioException))


def applied_for_sure_not(exc: BaseException) -> bool:
    """True if Twilio surely did not apply the request: it answered 429 or 503 (not processed)."""
    return isinstance(exc, TwilioRestException) and exc.status in (429, 503)


def delay(tries: int, retry_after: float | None = None) -> float:
    """Seconds to wait before try number `tries + 1`.

    Args:
        tries: tries made so far, >= 1.
        retry_after: the last answer's `Retry-After` in seconds, if any.

    Returns:
        A random delay in [0, min(CAP, BASE * 2**(tries-1))], raised to `retry_after`; at least 0.5 s.
    """
    ceiling = min(CAP_SECONDS, BASE_SECONDS * 2 ** max(tries - 1, 0))
    return max(random.uniform(0, ceiling), retry_after or 0.0, 0.5)
