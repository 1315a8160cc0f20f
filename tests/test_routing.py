"""Operators answer a team's calls (`callchat.routing`, `callchat.operators`, `jobs/routing.py`): longest-idle
offers, offers that time out, wrap-up, presence, and what the waiting caller hears (issue 13).

Real simulator calls to a number mapped to a team, real live streams for the operators' pages (their
`operator` events), signed webhooks; callchat's timers (offer timeouts, wrap-ups) on `Stack.pass_time`'s
virtual clock.
"""

from __future__ import annotations

import time

from callchat import operators, routing
from callchat.voices import notice
from tests.conftest import TWILIO_NUMBER

CALLERS = ["+819011110001", "+819011110002", "+819011110003"]
BUSY = notice("busy", "ja-JP")


def said_to(stack, caller: str) -> list[str]:
    """What the caller's phone heard said, in order."""
    return [h["text"] for h in stack.sim.phone(caller).heard() if h["kind"] == "say"]


def state_becomes(stack, username: str, state: str, within: float) -> bool:
    """True once operator `username` is in `state`, asking Redis every 0.1 s for up to `within` s."""
    deadline = time.monotonic() + within
    while operators.record(stack.redis, username)["state"] != state:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def call(stack, caller: str) -> str:
    room_id = stack.sim.phone(caller).call(TWILIO_NUMBER)
    stack.settle()
    return room_id


def test_two_operators_longest_idle_three_calls_the_third_waits_for_a_wrap_up(stack, desk):
    desk.team("support", ["op-a", "op-b"])
    idle_longest = desk.operator("op-b")  # connected first: idle since earlier
    other = desk.operator("op-a")
    first, second, third = (call(stack, caller) for caller in CALLERS)

    assert idle_longest.offered(first)["operators"] == ["op-b"]
    assert other.offered(second)["operators"] == ["op-a"]
    assert idle_longest.accept(first).status_code == 200
    assert other.accept(second).status_code == 200
    stack.settle()
    assert routing.offer(stack.redis, third) is None and routing.position(stack.redis, third, "support") == 1
    heard = said_to(stack, CALLERS[2])
    places = [notice("position", "ja-JP").format(n=n) for n in (1, 2, 3)]  # the two before it count until accepted
    said_places = {text for text in heard if text.startswith("お待ちの方の")}
    assert BUSY in heard and said_places and said_places <= set(places), heard
    assert BUSY not in said_to(stack, CALLERS[0]), "an operator was being offered the first call: no busy notice"
    assert notice("answered", "ja-JP") in said_to(stack, CALLERS[0])

    assert other.user.post(f"/rooms/{second}/hangup", {}).status_code in (200, 202)
    stack.settle()
    assert operators.record(stack.redis, "op-a")["state"] == "wrap-up"
    assert third not in other.offers(), "no offer during wrap-up"
    stack.pass_time(30, "end_wrap_up")
    assert other.offered(third)["operators"] == ["op-a"]
    assert third not in idle_longest.offers()
    assert other.accept(third).status_code == 200
    other.user.say(third, "お待たせしました")
    stack.settle()
    assert said_to(stack, CALLERS[2])[-1] == "お待たせしました"


def test_an_offer_that_times_out_goes_to_the_next_operator_and_misses_set_away(stack, desk):
    desk.team("support", ["op-a", "op-b"])
    slow, quick = desk.operator("op-a"), desk.operator("op-b")
    room_id = call(stack, CALLERS[0])
    assert slow.offered(room_id)
    stack.pass_time(20, "expire_offer")
    assert slow.wait_for(lambda e: e.get("type") == "offer-gone" and e["room"] == room_id)["why"] == "timed out"
    assert quick.offered(room_id)["operators"] == ["op-b"]
    assert operators.record(stack.redis, "op-a")["misses"] == 1
    stack.pass_time(20, "expire_offer")  # op-b lets it go too: back to op-a, who misses a second time
    assert slow.offers_when(2) == [room_id, room_id]
    stack.pass_time(20, "expire_offer")
    assert operators.record(stack.redis, "op-a")["state"] == "away"
    assert quick.offers_when(2) == [room_id, room_id]  # op-a is away: only op-b is offered it now
    assert quick.accept(room_id).status_code == 200
    assert slow.accept(room_id).status_code == 409


def test_an_operator_whose_only_page_closes_goes_offline_and_gets_no_offers(stack, desk):
    desk.configure(PRESENCE_GRACE_SECONDS=2)
    desk.team("support", ["op-a", "op-b"])
    leaving, staying = desk.operator("op-a"), desk.operator("op-b")
    assert operators.record(stack.redis, "op-a")["state"] == "available"
    leaving.close()
    assert state_becomes(stack, "op-a", "offline", within=10), "offline once the grace period passed"
    deadline = time.monotonic() + 10  # and the web process saw the page go (it renews presence only after a write)
    while stack.redis.zcard(operators.presence_key("op-a")):
        assert time.monotonic() < deadline, "the closed page's stream never ended"
        time.sleep(0.1)
    assert operators.record(stack.redis, "op-b")["state"] == "available", "an open page keeps its operator connected"
    room_id = call(stack, CALLERS[0])
    assert staying.offered(room_id)["operators"] == ["op-b"]
    assert routing.offer(stack.redis, room_id)["operators"] == ["op-b"]


def test_a_caller_who_hangs_up_while_waiting_is_a_missed_call_and_the_offer_is_withdrawn(stack, desk):
    desk.team("support", ["op-a"])
    operator = desk.operator("op-a")
    room_id = call(stack, CALLERS[0])
    operator.offered(room_id)
    stack.sim.hang_up(room_id)
    stack.settle()
    assert operator.wait_for(lambda e: e.get("type") == "offer-gone")["why"] == "hung up"
    assert routing.figures(stack.redis)["missed"] == 1
    assert stack.redis.hget(f"room:{{{room_id}}}", "outcome") == "missed"
    assert operator.accept(room_id).status_code == 409
    assert operators.record(stack.redis, "op-a")["state"] == "available" and not routing.offer(stack.redis, room_id)


def test_only_the_owner_types_and_may_hand_over_or_ask_for_help_the_caller_hears_only_typing(stack, desk):
    desk.configure(WRAP_UP_SECONDS=0)
    desk.team("support", ["op-a", "op-b", "op-c"], strategy="ring-all")
    owner, second, third = (desk.operator(name) for name in ("op-a", "op-b", "op-c"))
    room_id = call(stack, CALLERS[0])
    for operator in (owner, second, third):
        assert operator.offered(room_id)["operators"] == ["op-a", "op-b", "op-c"]
    assert owner.accept(room_id).status_code == 200
    for operator in (second, third):
        gone = operator.wait_for(lambda e: e.get("type") == "offer-gone")
        assert (gone["why"], gone["by"]) == ("taken", "op-a")
        assert operator.accept(room_id).status_code == 409
    refused = second.user.say(room_id, "横から失礼")
    assert refused.status_code == 403 and "op-a" in refused.json()["error"]

    assert owner.user.post(f"/rooms/{room_id}/invite", {"to": "op-b"}).status_code == 200
    assert second.wait_for(lambda e: e.get("type") == "assigned")["role"] == "helper"
    assert second.user.say(room_id, "お手伝いします").status_code == 202
    assert owner.user.post(f"/rooms/{room_id}/transfer", {"to": "op-b"}).status_code == 409, "op-b is busy helping"
    assert owner.user.post(f"/rooms/{room_id}/transfer", {"to": "op-c"}).status_code == 200
    assert third.wait_for(lambda e: e.get("type") == "assigned")["role"] == "owner"
    assert owner.user.say(room_id, "もう私ではありません").status_code == 403
    assert third.user.say(room_id, "引き継ぎました").status_code == 202
    stack.settle()
    assert [operators.record(stack.redis, n)["state"] for n in ("op-a", "op-b", "op-c")] == ["available", "busy", "busy"]
    heard = said_to(stack, CALLERS[0])
    assert heard[-3:] == [notice("answered", "ja-JP"), "お手伝いします", "引き継ぎました"], heard


MESSAGE = "田中と申します。請求書の件でお電話しました。また明日の午前中にお電話いたします。"


def test_a_caller_nobody_answers_leaves_a_message_with_its_transcript(stack, desk):
    desk.team("support", ["op-a"])  # op-a has no page open: offline, so nobody is free
    room_id = desk.leave_a_message(CALLERS[0], MESSAGE)
    heard = said_to(stack, CALLERS[0])
    assert heard[-2:] == [notice("voicemail", "ja-JP"), notice("recorded", "ja-JP")], heard
    room = stack.user.state(room_id)["room"]
    assert (room["status"], room["outcome"], room["transcript"]) == ("ended", "voicemail", MESSAGE)
    assert room["recording_url"] == stack.sim.recordings(room_id)[0]["url"] and float(room["recording_seconds"]) > 2
    assert routing.figures(stack.redis)["missed"] == 1


def test_twilio_repeating_a_team_calls_webhook_still_sends_the_caller_to_the_queue(stack, desk):
    """The room's team is read in the step that creates the room; a repeat reads the room's own team."""
    desk.team("support", ["op-a"])
    sid = "CA" + "7e" * 16
    params = {"CallSid": sid, "AccountSid": stack.app.config["TWILIO_ACCOUNT_SID"], "From": CALLERS[0],
              "To": TWILIO_NUMBER, "CallStatus": "ringing", "ApiVersion": "2010-04-01", "Direction": "inbound"}
    queue = f"/voice/rooms/{sid}/queue"
    first, repeat = (stack.twilio_post("/voice/incoming", params) for _ in range(2))
    assert queue in first.text and queue in repeat.text, (first.text, repeat.text)
    assert routing.position(stack.redis, sid, "support") == 1, "queued once"
