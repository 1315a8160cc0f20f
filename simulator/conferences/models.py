"""Conference and Participant records and their REST representations
(schemas ``api.v2010.account.conference`` and ``…conference.participant``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.formats import rfc2822, v2010_uri

__all__ = ["Conference", "Participant", "conference_json", "participant_json"]


@dataclass(eq=False)
class Participant:
    """A call's membership of a conference (the Participant resource)."""

    call_sid: str
    conference_sid: str
    created_at: float
    updated_at: float
    label: str | None = None
    status: str = "queued"  # queued | connecting | ringing | connected | complete | failed
    muted: bool = False
    hold: bool = False
    coaching: bool = False
    call_sid_to_coach: str | None = None
    start_conference_on_enter: bool = True
    end_conference_on_exit: bool = False
    beep: str = "true"
    wait_url: str | None = None  # None: Twilio's default hold music; "": silence
    wait_method: str | None = None  # None: GET for the default music, else POST
    hold_url: str | None = None  # None: Twilio's default hold music
    hold_method: str = "GET"  # HoldMethod's default


@dataclass(eq=False)
class Conference:
    """A conference room (the Conference resource) and its members."""

    sid: str
    account_sid: str
    friendly_name: str
    created_at: float
    updated_at: float
    world: Any = field(repr=False)
    status: str = "init"  # init (not started yet) | in-progress | completed
    region: str = "us1"
    reason_ended: str | None = None
    call_sid_ending: str | None = None
    participants: dict[str, Participant] = field(default_factory=dict)
    callback_url: str | None = None
    callback_method: str = "POST"
    callback_events: frozenset[str] = frozenset()
    callback_set: bool = False
    started: bool = False
    sequence: int = 0  # next SequenceNumber of its status callbacks
    announcing: int = 0  # announcements playing now

    def connected(self) -> list[Participant]:
        """Participants in the room now (status "connected")."""
        return [p for p in self.participants.values() if p.status == "connected"]


def conference_json(conf: Conference) -> dict[str, Any]:
    """The Conference resource (twilio.com/docs/voice/api/conference-resource)."""
    uri = v2010_uri(conf.account_sid, f"Conferences/{conf.sid}")
    return {
        "account_sid": conf.account_sid,
        "date_created": rfc2822(conf.created_at),
        "date_updated": rfc2822(conf.updated_at),
        "api_version": "2010-04-01",
        "friendly_name": conf.friendly_name,
        "region": conf.region,
        "sid": conf.sid,
        "status": conf.status,
        "uri": uri + ".json",
        "subresource_uris": {"participants": f"{uri}/Participants.json",
                             "recordings": f"{uri}/Recordings.json"},
        "reason_conference_ended": conf.reason_ended,
        "call_sid_ending_conference": conf.call_sid_ending,
    }


def participant_json(part: Participant, account_sid: str) -> dict[str, Any]:
    """The Participant resource (twilio.com/docs/voice/api/conference-participant-resource)."""
    return {
        "account_sid": account_sid,
        "call_sid": part.call_sid,
        "label": part.label,
        "call_sid_to_coach": part.call_sid_to_coach,
        "coaching": part.coaching,
        "conference_sid": part.conference_sid,
        "date_created": rfc2822(part.created_at),
        "date_updated": rfc2822(part.updated_at),
        "end_conference_on_exit": part.end_conference_on_exit,
        "muted": part.muted,
        "hold": part.hold,
        "start_conference_on_enter": part.start_conference_on_enter,
        "status": part.status,
        "queue_time": None,
        "uri": v2010_uri(account_sid, f"Conferences/{part.conference_sid}"
                                      f"/Participants/{part.call_sid}") + ".json",
    }
