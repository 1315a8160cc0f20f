"""How far away the simulated Twilio is: REST response delay, webhook transit, speech length.

Three settings, each seconds as a float, all 0 by default but speech (0.06). Each comes from
the environment or a flag of ``python -m simulator`` (``SIM_REST_DELAY``/``--rest-delay``,
``SIM_WEBHOOK_DELAY``/``--webhook-delay``, ``SIM_SPEECH_SECONDS_PER_CHAR``/
``--speech-seconds-per-char``), or the config keys ``rest_delay``, ``webhook_delay`` and
``speech_seconds_per_char``, and may be changed while running through the control API
(``GET``/``POST /_sim/latency``, ``SimulatorClient.set_latency``); a reset restores the
configured values, as it does the clock.

- ``rest``: every REST API response (v2010 and Proxy v1) is sent this long after its
  request arrived (real seconds). The request takes effect on ARRIVAL: it is recorded then
  (the journal's ``received_at``) and its action happens at once (a call is placed, an
  announcement starts); only the HTTP response waits, as with a far-away Twilio, where the
  action happens at Twilio and the answer takes the trip back. Each response waits in its
  own request thread with no lock held, so the delay holds up nothing else; the request
  counts as in flight (``settle`` waits for it) until its response has gone.
- ``webhook``: each webhook and status callback the simulator sends leaves this long (real
  seconds) after the simulator decided to send it (simulated transit; a webhook entry's
  ``sent_at`` is when it left). A call's own requests (voice, action, Redirect...) hold up
  only that call, which is waiting for its TwiML anyway. Ordered callbacks (one queue per
  resource, ``core.delivery``) each leave at the time they were queued plus the delay, so
  their transits overlap: a burst of four callbacks takes one delay, not four.
- ``speech_per_char``: a ``<Say>``, an announcement or a phone's sentence takes 0.5 s plus
  this many simulated seconds per character (``twiml.say_seconds``).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

__all__ = ["Latency", "SPEECH_SECONDS_PER_CHAR", "CONFIG_KEYS", "configured", "changed",
           "seconds", "wait_until"]

SPEECH_SECONDS_PER_CHAR = 0.06  # simulated seconds per character of speech, by default

#: Each setting's config key (``create_simulator``), by its name in the control API.
CONFIG_KEYS = {"rest": "rest_delay", "webhook": "webhook_delay",
               "speech_per_char": "speech_seconds_per_char"}


@dataclass(frozen=True)
class Latency:
    """The latency settings in force (see the module docstring).

    Attributes:
        rest: Real seconds between a REST request's arrival and its response.
        webhook: Real seconds between deciding to send a webhook and sending it.
        speech_per_char: Simulated seconds of speech per character.
    """

    rest: float = 0.0
    webhook: float = 0.0
    speech_per_char: float = SPEECH_SECONDS_PER_CHAR

    def view(self) -> dict[str, float]:
        """``{"rest", "webhook", "speech_per_char"}``, in seconds."""
        return asdict(self)


def configured(config: dict[str, Any]) -> Latency:
    """The settings of a simulator's ``config`` (its ``rest_delay``, ``webhook_delay`` and
    ``speech_seconds_per_char`` keys; missing or None: the default).

    Raises:
        ValueError: Naming the key, if a value is not a finite number >= 0.
    """
    values = {}
    for name, key in CONFIG_KEYS.items():
        value = config.get(key)
        if value is not None:
            values[name] = seconds(key, value)
    return Latency(**values)


def changed(latency: Latency, **values: Any) -> Latency:
    """``latency`` with the given settings (``rest``, ``webhook``, ``speech_per_char``;
    None leaves one as it is) changed.

    Raises:
        ValueError: Naming the setting, if a value is not a finite number >= 0.
    """
    return replace(latency, **{name: seconds(name, value) for name, value in values.items()
                               if value is not None})


def wait_until(when: float | None) -> None:
    """Sleep the calling thread until ``time.monotonic()`` reaches ``when`` (None or past:
    return at once). Call it with no lock held: only this thread waits."""
    left = 0.0 if when is None else when - time.monotonic()
    if left > 0:
        time.sleep(left)


def seconds(name: str, value: Any) -> float:
    """``value`` (a number, or its text) as seconds.

    Raises:
        ValueError: Naming ``name``, if it is not a finite number >= 0.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")
    return number
