"""The Recording record and its REST representation (schema ``api.v2010.account.recording``,
twilio.com/docs/voice/api/recording)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.formats import rfc2822, v2010_uri

__all__ = ["Recording", "recording_json", "media_url", "transcription_url"]

DEFAULT_PUBLIC_URL = "http://localhost"  # a simulator not served by SimulatorServer


@dataclass(eq=False)
class Recording:
    """One recording made by ``<Record>`` on a call (``calls.record``).

    Attributes:
        sid: RE + 32 hex.
        account_sid, call_sid: Whose, and of which call.
        public_url: The simulator's base URL (``http://127.0.0.1:5100``), for RecordingUrl.
        started_at: Simulated epoch seconds when recording began (after the beep).
        updated_at: Simulated epoch seconds of its last change.
        status: "in-progress", then "completed", or "absent" (nothing was said).
        duration: Whole seconds of audio (after trimming; 0 while in progress or absent).
        text: What the phone said while it recorded, sentences joined by a space ("" if
            nothing).
        digits: The finishOnKey key that ended it, "hangup", or None.
        transcription_sid: TR + 32 hex if it is transcribed, else None.
        transcription_status: "completed" or "failed" once transcribed, else None.
    """

    sid: str
    account_sid: str
    call_sid: str
    public_url: str
    started_at: float
    updated_at: float
    status: str = "in-progress"
    duration: int = 0
    text: str = ""
    digits: str | None = None
    transcription_sid: str | None = None
    transcription_status: str | None = None


def media_url(item: Recording) -> str:
    """The RecordingUrl: the media, without an extension (twilio.com/docs/voice/api/recording#fetch-a-recording-media-file)."""
    return item.public_url + v2010_uri(item.account_sid, f"Recordings/{item.sid}")


def transcription_url(item: Recording) -> str:
    """The TranscriptionUrl of its transcription (the Transcription resource, not served)."""
    return item.public_url + v2010_uri(item.account_sid,
                                       f"Transcriptions/{item.transcription_sid}")


def recording_json(item: Recording) -> dict[str, Any]:
    """The Recording resource (twilio.com/docs/voice/api/recording#recording-properties)."""
    uri = v2010_uri(item.account_sid, f"Recordings/{item.sid}")
    return {
        "account_sid": item.account_sid,
        "api_version": "2010-04-01",
        "call_sid": item.call_sid,
        "conference_sid": None,
        "date_created": rfc2822(item.started_at),
        "date_updated": rfc2822(item.updated_at),
        "start_time": rfc2822(item.started_at),
        "duration": str(item.duration) if item.status == "completed" else None,
        "sid": item.sid,
        "price": None,
        "price_unit": "USD",
        "status": item.status,
        "channels": 1,
        "source": "RecordVerb",
        "error_code": None,
        "uri": uri + ".json",
        "encryption_details": None,
        "subresource_uris": {"add_on_results": f"{uri}/AddOnResults.json",
                             "transcriptions": f"{uri}/Transcriptions.json"},
        "media_url": media_url(item),
    }
