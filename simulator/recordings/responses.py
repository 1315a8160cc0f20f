"""REST API v2010 Recordings (twilio.com/docs/voice/api/recording): fetch and list the
Recording resource (HTTP Basic auth), and the media file behind each RecordingUrl.

The media (``Recordings/{Sid}`` with no extension, or ``.wav``) is served without auth,
as Twilio does unless an account turns on HTTP auth for media: a WAV of silence as long
as the recording (8 kHz, 8-bit mono). It is not a REST operation of Twilio's spec, so
the REST journal leaves it out (``core.rest.is_api``).
"""

from __future__ import annotations

import io
import wave

from flask import Blueprint, Response, jsonify, request

from ..core.errors import not_found
from ..core.formats import V2010
from ..core.rest import locked, v2010_blueprint, v2010_page
from .models import Recording, media_url, recording_json

__all__ = ["bp", "media", "control", "wav"]

bp = v2010_blueprint("recordings")
media = Blueprint("recording_media", __name__,
                  url_prefix=f"{V2010}/Accounts/<account_sid>/Recordings")
control = Blueprint("recordings_control", __name__, url_prefix="/_sim")  # the control API

SAMPLE_RATE = 8000  # Hz


def _recording(sid: str) -> Recording:
    """The recording ``sid`` (lock held). Raises ApiError 20404 if there is none."""
    with locked() as kernel:
        item = kernel.world.recordings.get(sid)
    if item is None:
        raise not_found(request.path)
    return item


@bp.get("/Recordings/<sid>.json")
def get_recording(sid: str) -> Response:
    """GET Recordings/{Sid}.json: the Recording resource."""
    with locked():
        return jsonify(recording_json(_recording(sid)))


@bp.get("/Recordings.json")
def list_recordings() -> Response:
    """GET Recordings.json, newest first, optionally of one ``CallSid``."""
    call_sid = request.args.get("CallSid")
    with locked() as kernel:
        items = [r for r in reversed(list(kernel.world.recordings.values()))
                 if call_sid in (None, r.call_sid)]
        return v2010_page("recordings", items, recording_json, {"CallSid": call_sid})


def wav(seconds: int) -> bytes:
    """A WAV file of ``seconds`` of silence (8 kHz, 8-bit unsigned mono PCM)."""
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(1)
        writer.setframerate(SAMPLE_RATE)
        writer.writeframes(b"\x80" * (SAMPLE_RATE * max(0, seconds)))
    return out.getvalue()


@media.get("/<name>")
def get_media(account_sid: str, name: str) -> Response:
    """GET Recordings/{Sid} or Recordings/{Sid}.wav: the audio (audio/x-wav), or 404."""
    sid = name.removesuffix(".wav")
    with locked() as kernel:
        item = kernel.world.recordings.get(sid)
        if item is None or account_sid != kernel.account_sid or item.status != "completed":
            return Response("Not found", 404, mimetype="text/plain")
        seconds = item.duration
    return Response(wav(seconds), mimetype="audio/x-wav")


@control.get("/recordings")
def recordings() -> Response:
    """Every ``<Record>`` recording (or those of ``?call_sid=``), oldest first: ``{"sid",
    "call_sid", "status" ("in-progress", "completed" or "absent"), "text" (what the phone
    said while it recorded), "duration" (whole seconds), "url" (the RecordingUrl),
    "digits" (the key that ended it, "hangup" or None), "started_at" (simulated epoch
    seconds), "transcription_sid", "transcription_status"}``."""
    call_sid = request.args.get("call_sid")
    with locked() as kernel:
        return jsonify([{"sid": item.sid, "call_sid": item.call_sid, "status": item.status,
                         "text": item.text, "duration": item.duration, "url": media_url(item),
                         "digits": item.digits, "started_at": item.started_at,
                         "transcription_sid": item.transcription_sid,
                         "transcription_status": item.transcription_status}
                        for item in kernel.world.recordings.values()
                        if call_sid in (None, item.call_sid)])
