"""Hold and mute of a conference participant
(twilio.com/docs/voice/api/conference-participant-resource#update-a-participant-resource):
a held participant hears its HoldUrl's music and neither hears nor is heard by the
conference until Hold=false; a muted one hears but is not heard."""

from __future__ import annotations

from simulator import SimulatorClient
from simulator.conferences.hold import DEFAULT_HOLD_URL
from tests.openapi_check import api_v2010
from tests.simulator.conftest import CALLEE, CALLER, SETTLE, join_room, say_twiml

MUSIC = ('<Response><Say>お待ちください</Say>'
         '<Play loop="0">https://example.com/music.mp3</Play></Response>')


def check_journal(sim: SimulatorClient) -> None:
    """Every REST exchange of the test (HoldUrl, HoldMethod included) conforms to Twilio's spec."""
    for exchange in sim.requests():
        api_v2010().validate_exchange(exchange)


def said_to(sim: SimulatorClient, number: str) -> list[tuple[str, str]]:
    """(source, text) of every say the phone heard, oldest first."""
    return [(h["source"], h["text"]) for h in sim.phone(number).heard() if h["kind"] == "say"]


def test_a_held_participant_hears_hold_music_not_the_conference_until_resumed(
        sim, app, twilio):
    caller, callee = join_room(sim, app, CALLER, CALLEE)
    sim.set_clock("manual")  # the hold music loops on the clock: it moves only when told
    app.routes["/hold-music"] = MUSIC
    app.routes["/announce"] = say_twiml("新しいメッセージです")
    conference = twilio.conferences.list(friendly_name="room-1")[0].sid
    held = twilio.conferences(conference).participants(caller).update(
        hold=True, hold_url=app.url + "/hold-music")
    assert held.hold is True
    assert sim.settle(SETTLE) == []

    hold, music = sim.phone(CALLER).heard()[-2:]
    assert (hold["kind"], hold["url"], hold["source"]) == ("hold", app.url + "/hold-music", "hold")
    assert (music["kind"], music["text"], music["source"]) == ("say", "お待ちください", "hold")
    [fetch] = [h for h in app.hits if h["path"] == "/hold-music"]
    assert (fetch["method"], fetch["params"]["CallSid"]) == ("GET", caller)  # HoldMethod: GET

    twilio.conferences(conference).update(announce_url=app.url + "/announce")
    sim.phone(CALLEE).say("聞こえますか")
    sim.phone(CALLER).say("もしもし")
    assert sim.settle(SETTLE) == []
    assert ("announcement", "新しいメッセージです") not in said_to(sim, CALLER)
    assert ("phone", "聞こえますか") not in said_to(sim, CALLER)
    assert said_to(sim, CALLEE)[-1] == ("announcement", "新しいメッセージです")
    assert ("phone", "もしもし") not in said_to(sim, CALLEE)  # nor is the held one heard

    sim.advance(10)  # the announcement ends; the hold music goes on playing
    assert [h["kind"] for h in sim.phone(CALLER).heard()].count("play") >= 2
    assert twilio.conferences(conference).participants(caller).update(hold=False).hold is False
    assert sim.settle(SETTLE) == []
    music_now = [h for h in sim.phone(CALLER).heard() if h["source"] == "hold"][-1]
    assert music_now["interrupted"] is True  # the music stopped at once
    playing = len(sim.phone(CALLER).heard())

    twilio.conferences(conference).update(announce_url=app.url + "/announce")
    assert sim.settle(SETTLE) == []
    sim.phone(CALLEE).say("戻りましたか")
    assert sim.settle(SETTLE) == []
    assert [(h["source"], h["text"]) for h in sim.phone(CALLER).heard()[playing:]] == [
        ("announcement", "新しいメッセージです"), ("phone", "戻りましたか")]
    sim.advance(60)
    assert all(h["source"] != "hold" for h in sim.phone(CALLER).heard()[playing:])


def test_hold_without_a_hold_url_is_twilios_default_music_not_fetched(sim, app, twilio):
    caller, _ = join_room(sim, app, CALLER, CALLEE)
    conference = twilio.conferences.list(friendly_name="room-1")[0].sid
    twilio.conferences(conference).participants(caller).update(hold=True)
    assert sim.settle(SETTLE) == []

    last = sim.phone(CALLER).heard()[-1]
    assert (last["kind"], last["url"], last["source"]) == ("hold", DEFAULT_HOLD_URL, "hold")
    assert not any("twimlets" in (e.get("url") or "") for e in sim.timeline()
                   if e["type"] == "webhook")


def test_hold_music_twiml_may_only_say_play_pause_and_redirect(sim, app, twilio):
    caller, _ = join_room(sim, app, CALLER, CALLEE)
    conference = twilio.conferences.list(friendly_name="room-1")[0].sid
    app.routes["/hold-music"] = "<Response><Dial>+819055550000</Dial></Response>"
    twilio.conferences(conference).participants(caller).update(
        hold=True, hold_url=app.url + "/hold-music", hold_method="POST")
    [error] = sim.settle(SETTLE)

    assert (error["code"], error["call_sid"]) == (13238, caller)
    assert [h["method"] for h in app.hits if h["path"] == "/hold-music"] == ["POST"]
    assert twilio.calls(caller).fetch().status == "in-progress"  # held, in silence


def test_a_muted_participant_hears_but_is_not_heard_until_unmuted(sim, app, twilio):
    caller, _ = join_room(sim, app, CALLER, CALLEE)
    conference = twilio.conferences.list(friendly_name="room-1")[0].sid
    participant = twilio.conferences(conference).participants(caller)
    participant.update(muted=True)
    sim.phone(CALLER).say("ミュート中です")
    sim.phone(CALLEE).say("聞こえますか")
    assert sim.settle(SETTLE) == []
    participant.update(muted=False)
    sim.phone(CALLER).say("戻りました")
    assert sim.settle(SETTLE) == []

    assert [text for source, text in said_to(sim, CALLEE) if source == "phone"] == ["戻りました"]
    assert [text for source, text in said_to(sim, CALLER) if source == "phone"] == ["聞こえますか"]
    assert [s["heard_by"] for s in sim.phone(CALLER).said()] == [[], [CALLEE]]
