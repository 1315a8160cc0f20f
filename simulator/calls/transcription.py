"""Real-time transcription of a call (twilio.com/docs/voice/twiml/transcription)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urljoin

from ..core import delivery, timeline
from ..core.ids import new_sid
from ..core.kernel import Kernel
from ..twiml import Node
from .models import Call

__all__ = ["start", "event"]


def start(kernel: Kernel, call: Call, node: Node, base: str) -> None:
    """<Start><Transcription>: begin transcribing the call (lock NOT held); its
    statusCallbackUrl gets transcription-started now and transcription-stopped when
    the call ends."""
    attrs = node.attrs
    transcription = {"sid": new_sid("GT"), "attrs": attrs, "sequence": 1,
                     "url": urljoin(base, attrs["statusCallbackUrl"])
                     if "statusCallbackUrl" in attrs else None}
    with kernel.lock:
        call.transcriptions.append(transcription)
        timeline.record(kernel, call.world, "transcription", call_sid=call.sid,
                        transcription_sid=transcription["sid"], attrs=dict(attrs))
        event(kernel, call, transcription, "transcription-started")


def event(kernel: Kernel, call: Call, transcription: dict[str, Any], name: str) -> None:
    """Queue one transcription webhook on the call's queue (lock held), with the
    parameters of twilio.com/docs/voice/twiml/transcription#statuscallbackurl."""
    if not transcription["url"]:
        return
    attrs = transcription["attrs"]
    stamp = datetime.fromtimestamp(kernel.clock.now(), timezone.utc)
    params = {"AccountSid": call.account_sid, "CallSid": call.sid,
              "TranscriptionSid": transcription["sid"], "TranscriptionEvent": name,
              "Timestamp": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
              "SequenceId": str(transcription["sequence"])}
    transcription["sequence"] += 1
    if name == "transcription-started":
        params.update(
            ProviderConfiguration=json.dumps({
                "profanityFilter": attrs.get("profanityFilter", "true"),
                "speechModel": attrs.get("speechModel", "telephony"),
                "enableAutomaticPunctuation": attrs.get("enableAutomaticPunctuation", "true")}),
            TranscriptionEngine=attrs.get("transcriptionEngine", "google"),
            Name=attrs.get("name", ""), Track=attrs.get("track", "both_tracks"),
            InboundTrackLabel=attrs.get("inboundTrackLabel", ""),
            OutboundTrackLabel=attrs.get("outboundTrackLabel", ""),
            PartialResults=attrs.get("partialResults", "false"),
            LanguageCode=attrs.get("languageCode", "en-US"))
    delivery.enqueue(kernel, call.world, f"call:{call.sid}", {
        "purpose": "transcription", "url": transcription["url"], "method": "POST",
        "params": params, "call_sid": call.sid})
