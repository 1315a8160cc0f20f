"""Item 3, cost per message: callchat in both delivery modes against seeds/003's call-per-message.

Runs callchat twice on one simulator (bench.common.two_modes: each `make run`'s processes,
one RQ worker each; the simulator with SIM_LOOPBACK_CALLS=1 and its clock at real speed, so
that call-seconds are not inflated by HTTP time): `lone`, the usual case (no OWNER_PHONE:
the caller waits alone in a silent `<Pause>`/`<Redirect>` loop and each message is a
`POST Calls/{sid}` that redirects the call to `…/speak`), and `conference` (OWNER_PHONE set:
the owner answers and the caller is moved into a conference; each message is a
`POST Conferences/{sid}` AnnounceUrl). bench/baselines/seed003.py runs under the same
gunicorn settings on a third Twilio number of the same simulated account, its user in the
conference. A caller calls each app, one at a time (the set-up). Then messages rotate over
the three apps, one at a time, and for each message the simulator's journal and timeline
say what it cost:

- Twilio REST requests the app made;
- webhooks Twilio made (TwiML fetches and status callbacks);
- call legs created (each billed by Twilio, by the minute rounded up) and their call-seconds
  (answered to ended, simulated clock), and seconds they sat in a conference;
- typed -> heard: from the chat POST being sent to the caller's phone hearing the words.

Traffic that comes with time rather than with messages (PERIODIC: a lone caller's loop fetch
every WAIT_SECONDS, check_room's `GET Calls/{sid}` every CHECK_AFTER for a call that has not
fetched its loop meanwhile, i.e. a conference's) is counted apart, per room and minute. The set-up says what a room costs before its first message.

    .venv/bin/python bench/cost.py [--messages 6]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (ACCOUNT_SID, AUTH_TOKEN, MODES, NUMBERS, SETTINGS, Table, Typist, deliveries,  # noqa: E402
                          free_port, machine, median, ms, queue_idle, ratio, ready_count, save, start_gunicorn,
                          two_modes, wait_for)
from blueprints.voice import WAIT_SECONDS  # noqa: E402
from jobs.rooms import CHECK_AFTER  # noqa: E402
from simulator.client import SimulatorClient  # noqa: E402

SEED = "seed003"
APPS = (*MODES, SEED)
SEED_NUMBER = "+815000000999"
SEED_USER = "+819000000002"
CALLERS = {"lone": "+819011110001", "conference": "+819011110003", SEED: "+819011110002"}
LABELS = {"lone": "lone caller", "conference": "conference (OWNER_PHONE)"}
TEXTS = ("はい、聞こえています。", "少々お待ちください。", "ありがとうございます。確認します。", "今から折り返します。")
#: Traffic that comes with time, not with messages: a lone caller's `<Pause>` loop fetching `…/wait`,
#: and check_room's `GET Calls/{sid}`.
PERIODIC = frozenset({"webhook wait", "GET Calls/{sid}"})


class Window:
    """What the simulator recorded between two moments: REST requests, webhooks, new call legs."""

    def __init__(self, sim: SimulatorClient) -> None:
        self.sim = sim
        self.journal, self.timeline = len(sim.requests()), len(sim.timeline())
        self.calls = {c["sid"] for c in sim.calls()}

    def close(self) -> dict:
        """The window's figures; PERIODIC traffic is left out of `rest` and `webhooks` and counted in `periodic`."""
        journal, timeline = self.sim.requests()[self.journal:], self.sim.timeline()
        new = timeline[self.timeline:]
        legs = [c for c in self.sim.calls() if c["sid"] not in self.calls and c["direction"] != "pstn"]
        seconds, billed, in_conference = 0.0, 0, 0.0
        for leg in legs:
            events = [e for e in timeline if e.get("call_sid") == leg["sid"]]
            answered = next((e["at"] for e in events if e["type"] == "status" and e.get("status") == "in-progress"), None)
            ended = next((e["at"] for e in events if e["type"] == "status" and e.get("status") == "completed"), None)
            if answered is not None and ended is not None:
                seconds += ended - answered
                billed += max(1, math.ceil((ended - answered) / 60))
            joined = next((e["at"] for e in events if e.get("event") == "participant-join"), None)
            left = next((e["at"] for e in events if e.get("event") == "participant-leave"), None)
            if joined is not None and left is not None:
                in_conference += left - joined
        rest = Counter(f"{e['method']} {_resource(e['path'])}" for e in journal)
        hooks = Counter(_webhook(e) for e in new if e["type"] == "webhook")
        periodic = Counter({k: v for k, v in (rest + Counter({f"webhook {k}": v for k, v in hooks.items()})).items()
                            if k in PERIODIC})
        rest = Counter({k: v for k, v in rest.items() if k not in PERIODIC})
        hooks = Counter({k: v for k, v in hooks.items() if f"webhook {k}" not in PERIODIC})
        return {"rest": sum(rest.values()), "rest_kinds": rest, "webhooks": sum(hooks.values()), "webhook_kinds": hooks,
                "periodic": periodic, "legs": len(legs), "leg_kinds": Counter(c["direction"] for c in legs),
                "call_seconds": seconds, "billed_minutes": billed, "conference_seconds": in_conference}


def _resource(path: str) -> str:
    """`/2010-04-01/Accounts/AC…/Conferences/CF….json` -> `Conferences/{sid}`."""
    parts = path.split("/Accounts/", 1)[-1].split("/")[1:]
    return "/".join(p if i % 2 == 0 else "{sid}" for i, p in enumerate(p.removesuffix(".json") for p in parts))


def _webhook(entry: dict) -> str:
    """A timeline webhook by the route it hit: `speak`, `conference-status`, `message_res`, or its purpose for `/`."""
    return urlsplit(entry["url"]).path.rstrip("/").rsplit("/", 1)[-1] or entry["purpose"]


def _heard(entry: dict) -> bool:
    """A Say or Play a phone heard (the `<Pause>` of a waiting loop is silence)."""
    return entry.get("kind") in ("say", "play")


def heard_count(sim: SimulatorClient, number: str) -> int:
    return sum(1 for h in sim.phone(number).heard() if _heard(h))


def heard_at(sim: SimulatorClient, number: str, index: int) -> float:
    """Wall-clock time the phone heard its `index`-th Say or Play (timeline `real_at`)."""
    heard = [e for e in sim.timeline() if e["type"] == "heard" and e.get("number") == number and _heard(e)]
    return heard[index]["real_at"]


def run(messages: int = 6) -> tuple[Table, dict]:
    per_message: dict[str, list[dict]] = {app: [] for app in APPS}
    setup: dict[str, dict] = {}
    with two_modes({"SIM_LOOPBACK_CALLS": 1, "SIM_CLOCK_SPEED": 1}, workers=1) as stacks, \
            tempfile.TemporaryDirectory(prefix="callchat-bench-cost-") as tmp:
        sim = SimulatorClient(stacks["lone"].sim, timeout=30)
        port = free_port()
        seed_url = f"http://127.0.0.1:{port}"
        seed, _ = start_gunicorn("bench.baselines.seed003:app", Path(tmp), SEED, {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_API_BASE": sim.base_url,
            "SEED_NUMBER": SEED_NUMBER, "SEED_USER": SEED_USER, "PUBLIC_BASE_URL": seed_url,
            "REDIS_URL": stacks["lone"].redis.rsplit("/", 1)[0] + "/1", "WEB_CONCURRENCY": SETTINGS["WEB_CONCURRENCY"]}, port)
        try:
            sim.add_number(SEED_NUMBER, voice_url=seed_url + "/")
            room_ids, ready_at = {}, {}
            for app in APPS:  # the set-up, one app at a time
                window = Window(sim)
                if app == SEED:
                    sim.phone(CALLERS[app]).call(SEED_NUMBER)
                else:
                    room_ids[app] = sim.phone(CALLERS[app]).call(NUMBERS[app])
                    wait_for(lambda: ready_count(stacks[app].redis, [room_ids[app]], app) == 1, 60,
                             f"callchat's room to be ready ({app})")
                _settle(stacks, sim)
                ready_at[app] = time.time()
                setup[app] = window.close()
                print(f"  set-up {app:10s}: {setup[app]['rest']} REST {dict(setup[app]['rest_kinds'])}, "
                      f"{setup[app]['webhooks']} webhooks, {setup[app]['legs']} legs", flush=True)
            typists = {mode: Typist(stacks[mode], room_ids[mode]) for mode in MODES}
            seed_http = requests.Session()
            for i in range(messages):
                text = TEXTS[i % len(TEXTS)]
                for app in APPS[i % 3:] + APPS[:i % 3]:
                    caller = CALLERS[app]
                    before = heard_count(sim, caller)
                    window = Window(sim)
                    sent = time.time()
                    if app == SEED:
                        seed_http.post(f"{seed_url}/message_req", data={"message": text}, timeout=30).raise_for_status()
                    else:
                        message = typists[app].say(text)
                    wait_for(lambda: heard_count(sim, caller) > before, 30, f"{app}'s caller to hear message {i + 1}")
                    _settle(stacks, sim)
                    figures = window.close()
                    figures["typed_to_heard"] = heard_at(sim, caller, before) - sent
                    if app != SEED:
                        figures["message"] = message
                    per_message[app].append(figures)
                    print(f"  message {i + 1} {app:10s}: {figures['rest']} REST, {figures['webhooks']} webhooks, "
                          f"{figures['legs']} legs, {figures['call_seconds']:.1f} call-s, "
                          f"typed->heard {ms(figures['typed_to_heard'])}", flush=True)
            found = deliveries(sim.base_url)
            for mode in MODES:
                for figures in per_message[mode]:
                    m = figures["message"]
                    figures["accept_to_request"] = found[(m["room"], int(m["id"]))]["requested_at"] - float(m["created_at"])
            periodic = _periodic(sim, room_ids, ready_at)
        finally:
            seed.stop()
    return _table(per_message, setup, periodic), {"per_message": per_message, "setup": setup, "periodic": periodic}


def _settle(stacks: dict, sim: SimulatorClient) -> None:
    """Nothing in flight in the simulator, and nothing queued or running in RQ (twice, as jobs cause webhooks)."""
    for _ in range(2):
        sim.settle(timeout=30)
        for stack in stacks.values():
            queue_idle(stack.redis)
    sim.settle(timeout=30)


def _periodic(sim: SimulatorClient, room_ids: dict[str, str], ready_at: dict[str, float]) -> dict[str, dict]:
    """Per callchat room, since it was ready (wall clock): minutes, loop fetches (`…/wait`) and `GET Calls/{sid}` requests."""
    out = {}
    journal, timeline = sim.requests(), sim.timeline()
    for mode, room_id in room_ids.items():
        since = ready_at[mode]
        out[mode] = {"minutes": (time.time() - since) / 60,
                     "loop_fetches": sum(1 for e in timeline if e["type"] == "webhook" and e["sent_at"] >= since
                                         and urlsplit(e["url"]).path.endswith(f"/{room_id}/wait")),
                     "get_calls": sum(1 for e in journal if e["method"] == "GET" and e["received_at"] >= since
                                      and e["path"].endswith(f"/Calls/{room_id}.json"))}
    return out


def _table(per_message: dict[str, list[dict]], setup: dict[str, dict], periodic: dict[str, dict]) -> Table:
    """Rows per figure, lone caller then conference, each against the seed."""
    table = Table()
    b = per_message[SEED]

    def avg(rows: list[dict], key: str) -> float:
        return sum(r[key] for r in rows) / len(rows)

    def kinds(rows: list[dict], key: str) -> str:
        total = sum((r[key] for r in rows), Counter())
        return ", ".join(f"{k} {v / len(rows):g}" for k, v in sorted(total.items()))

    for key, figure in (("rest", "Twilio REST requests / message"), ("webhooks", "webhooks Twilio makes / message")):
        for mode in MODES:
            a = per_message[mode]
            table.add("3 cost", f"{figure}, {LABELS[mode]}", f"{avg(a, key):g}", f"{avg(b, key):g}", ratio(avg(a, key), avg(b, key)),
                      f"callchat: {kinds(a, key + '_kinds' if key == 'rest' else 'webhook_kinds')}; "
                      f"seed: {kinds(b, key + '_kinds' if key == 'rest' else 'webhook_kinds')}")
    for mode in MODES:
        a = per_message[mode]
        table.add("3 cost", f"billed call legs / message, {LABELS[mode]}", f"{avg(a, 'legs'):g}", f"{avg(b, 'legs'):g}", "",
                  f"seed: {kinds(b, 'leg_kinds')}")
    for mode in MODES:
        a = per_message[mode]
        table.add("3 cost", f"call-seconds / message (billed minutes), {LABELS[mode]}",
                  f"{avg(a, 'call_seconds'):.1f} ({avg(a, 'billed_minutes'):g})",
                  f"{avg(b, 'call_seconds'):.1f} ({avg(b, 'billed_minutes'):g})", "",
                  f"simulated clock, no network or set-up delay; seed's leg also {avg(b, 'conference_seconds'):.1f} s in the conference")
    tb = median(r["typed_to_heard"] for r in b)
    for mode in MODES:
        a = per_message[mode]
        ta = median(r["typed_to_heard"] for r in a)
        table.add("3 cost", f"typed -> heard, median (simulator, no delay), {LABELS[mode]}", ms(ta), ms(tb), ratio(ta, tb),
                  f"{len(a)} messages each, rotating; no real call set-up time (seed); callchat accept -> "
                  f"REST request {ms(median(r['accept_to_request'] for r in a))}")
    s = setup[SEED]
    for mode in MODES:
        a = setup[mode]
        table.add("3 cost", f"per room, to set up: REST requests / webhooks / call legs, {LABELS[mode]}",
                  f"{a['rest']} / {a['webhooks']} / {a['legs']}", f"{s['rest']} / {s['webhooks']} / {s['legs']}", "",
                  f"callchat: {_kinds(a['rest_kinds'])}; {_kinds(a['webhook_kinds'])}; legs {_kinds(a['leg_kinds'])}. "
                  f"seed: {_kinds(s['rest_kinds'])}; {_kinds(s['webhook_kinds'])}; legs {_kinds(s['leg_kinds'])}. "
                  f"Every leg stays billed until the call ends. Not counted here: {_kinds(a['periodic'])} (periodic)")
    for mode in MODES:
        p = periodic[mode]
        # A lone caller's loop fetches prove its call is up, so the rooms sweep asks Twilio only about conferences.
        expected = (60 / WAIT_SECONDS, 0) if mode == "lone" else (0, 60 / CHECK_AFTER)
        table.add("3 cost", f"per room and minute, waiting: loop fetches + GET Calls, {LABELS[mode]}",
                  f"{expected[0]:g} + {expected[1]:g}", "0 + 0", "",
                  f"WAIT_SECONDS {WAIT_SECONDS}, CHECK_AFTER {CHECK_AFTER} (check_rooms); seen in this run: "
                  f"{p['loop_fetches']} + {p['get_calls']} in {p['minutes']:.1f} min")
    return table


def _kinds(counter: Counter) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items())) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=6, help="per app")
    args = parser.parse_args()
    started = time.monotonic()
    table, data = run(args.messages)
    text = table.render()
    print(text)
    print(f"\n(took {time.monotonic() - started:.0f} s; saved to {save('cost', text, {'machine': machine(), **data})})")


if __name__ == "__main__":
    main()
