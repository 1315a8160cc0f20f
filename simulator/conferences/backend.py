"""Conferences and Participants API operations (twilio.com/docs/voice/api/conference-resource,
twilio.com/docs/voice/api/conference-participant-resource). Every function expects the
kernel's lock held and returns records."""

from __future__ import annotations

import re
from typing import Any

from ..calls import registry, runner, signals
from ..core.errors import not_found
from ..core.formats import v2010_uri
from ..core.kernel import Kernel
from . import announce, lifecycle
from .models import Conference, Participant

__all__ = ["get_conference", "list_conferences", "update_conference", "create_participant",
           "list_participants", "get_participant", "update_participant",
           "delete_participant"]


def get_conference(kernel: Kernel, key: str) -> Conference:
    """A conference by CF sid, or the live one with that FriendlyName.

    Raises:
        ApiError: 20404 if unknown.
    """
    conf = kernel.world.conferences.get(key) or lifecycle.find_active(kernel.world, key)
    if conf is None:
        raise not_found(v2010_uri(kernel.account_sid, f"Conferences/{key}") + ".json")
    return conf


def list_conferences(kernel: Kernel, friendly_name: str | None = None,
                     status: str | None = None) -> list[Conference]:
    """GET Conferences.json: matching conferences, newest first."""
    return [c for c in reversed(list(kernel.world.conferences.values()))
            if (friendly_name is None or c.friendly_name == friendly_name)
            and (status is None or c.status == status)]


def update_conference(kernel: Kernel, sid: str, status: str | None = None,
                      announce_url: str | None = None,
                      announce_method: str = "POST") -> Conference:
    """POST Conferences/{Sid}.json: end it (Status=completed) or announce into it.

    Raises:
        ApiError: 20404 if unknown, or as ``announce.announce``.
    """
    conf = get_conference(kernel, sid)
    if announce_url:
        announce.announce(kernel, conf, announce_url, announce_method)
    if status == "completed" and conf.status != "completed":
        lifecycle.end(kernel, conf, "conference-ended-via-api", None)
    return conf


def create_participant(kernel: Kernel, key: str, spec: dict[str, Any],
                       settings: dict[str, Any]) -> Participant:
    """POST Conferences/{ConferenceSid}/Participants.json: call ``spec["to"]`` into a
    conference; a FriendlyName that names no live conference creates one
    (twilio.com/docs/voice/conference#lifecycle-of-a-conference).

    Args:
        key: A CF sid, or a FriendlyName.
        spec: Call parameters, as for ``calls.backend.create_call`` (no url/twiml).
        settings: Participant settings (see ``lifecycle.join``).

    Returns:
        The Participant (status "queued").

    Raises:
        ApiError: 20404 for an unknown or completed CF sid.
    """
    world = kernel.world
    if re.fullmatch(r"CF[0-9a-fA-F]{32}", key):
        conf = world.conferences.get(key)
        if conf is None or conf.status == "completed":
            raise not_found(v2010_uri(kernel.account_sid, f"Conferences/{key}/Participants")
                            + ".json")
    else:
        conf = lifecycle.find_active(world, key) or lifecycle.create(kernel, world, key)
    call = registry.new_call(kernel, world, direction="outbound-api", **spec)
    call.plan = {"kind": "conference", "conference_sid": conf.sid, "settings": settings}
    part = lifecycle.new_participant(kernel, conf, call, settings)
    runner.start(kernel, call)
    return part


def _participant(kernel: Kernel, conf_key: str, key: str) -> tuple[Conference, Participant]:
    conf = get_conference(kernel, conf_key)
    part = conf.participants.get(key) or next(
        (p for p in conf.participants.values() if p.label == key), None)
    if part is None:
        raise not_found(v2010_uri(kernel.account_sid, f"Conferences/{conf.sid}"
                                                      f"/Participants/{key}") + ".json")
    return conf, part


def list_participants(kernel: Kernel, conf_key: str) -> list[Participant]:
    """GET Participants.json: the conference's participants, in joining order."""
    return list(get_conference(kernel, conf_key).participants.values())


def get_participant(kernel: Kernel, conf_key: str, key: str) -> Participant:
    """GET Participants/{CallSid or Label}.json. Raises ApiError 20404 if unknown."""
    return _participant(kernel, conf_key, key)[1]


def update_participant(kernel: Kernel, conf_key: str, key: str, changes: dict[str, Any],
                       announce_url: str | None = None,
                       announce_method: str = "POST") -> Participant:
    """POST Participants/{CallSid}.json: mute, hold, relabel, or whisper (AnnounceUrl).

    Args:
        changes: Participant fields to set: muted, hold, hold_url, hold_method, label,
            end_conference_on_exit, coaching, call_sid_to_coach (None: unchanged).

    Raises:
        ApiError: 20404 if unknown, or as ``announce.announce``.
    """
    conf, part = _participant(kernel, conf_key, key)
    lifecycle.update_participant(kernel, conf, part, changes)
    if announce_url:
        announce.announce(kernel, conf, announce_url, announce_method, call_sid=part.call_sid)
    return part


def delete_participant(kernel: Kernel, conf_key: str, key: str) -> None:
    """DELETE Participants/{CallSid}.json: kick a participant (its call goes on with the
    TwiML after <Dial>), or cancel one still being called."""
    conf, part = _participant(kernel, conf_key, key)
    call = kernel.world.calls[part.call_sid]
    if part.status == "connected":
        lifecycle.leave(kernel, call, "participant_updated_via_api", "in-progress", kicked=True)
        signals.signal(kernel, call, "poke")
    else:
        signals.signal(kernel, call, "hangup", "api")
