"""TwiML: the strict parser (``parser``) and the one interpreter that runs TwiML on calls,
announcements and hold music (``interpreter``)."""

from .parser import (ANNOUNCEMENT_VERBS, CALL_EVENTS, CONFERENCE_EVENTS, RECORDING_EVENTS, Node,
                     TwimlError, loops, parse, parse_document, parse_events, say_seconds,
                     seconds)

__all__ = ["Node", "TwimlError", "parse", "parse_document", "parse_events", "say_seconds",
           "seconds", "loops", "ANNOUNCEMENT_VERBS", "CALL_EVENTS", "CONFERENCE_EVENTS",
           "RECORDING_EVENTS"]
