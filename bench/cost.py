"""Item 3, cost per message: callchat's conference announce against seeds/003's call-per-message.

Runs `make run`'s processes (Procfile.dev under honcho: redis, gunicorn, one RQ worker,
the simulator with SIM_LOOPBACK_CALLS=1 and its clock at real speed, so that call-seconds
are not inflated by HTTP time) and bench/baselines/seed003.py under the same gunicorn
settings, on a second Twilio number of the same simulated account. A caller calls each;
each app's user is in the conference. Then messages alternate between the two apps, one at
a time, and for each message the simulator's journal and timeline say what it cost:

- Twilio REST requests the app made;
- webhooks Twilio made (TwiML fetches and status callbacks);
- call legs created (each billed by Twilio, by the minute rounded up) and their call-seconds
  (answered to ended, simulated clock), and seconds they sat in a conference;
- typed -> heard: from the chat POST being sent to the caller's phone hearing the words.

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

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (ACCOUNT_SID, announce_times, AUTH_TOKEN, OWNER, SETTINGS, Table, Typist, dev_stack, free_port,  # noqa: E402
                          live_count, machine, median, ms, queue_idle, ratio, save, start_gunicorn, wait_for)
from simulator.client import SimulatorClient  # noqa: E402

SEED_NUMBER = "+815000000999"
SEED_USER = "+819000000002"
CALLCHAT_CALLER = "+819011110001"
SEED_CALLER = "+819011110002"
TEXTS = ("はい、聞こえています。", "少々お待ちください。", "ありがとうございます。確認します。", "今から折り返します。")


class Window:
    """What the simulator recorded between two moments: REST requests, webhooks, new call legs."""

    def __init__(self, sim: SimulatorClient) -> None:
        self.sim = sim
        self.journal, self.timeline = len(sim.requests()), len(sim.timeline())
        self.calls = {c["sid"] for c in sim.calls()}

    def close(self) -> dict:
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
        return {"rest": len(journal), "rest_kinds": Counter(f"{e['method']} {_resource(e['path'])}" for e in journal),
                "webhooks": sum(e["type"] == "webhook" for e in new),
                "webhook_kinds": Counter(e["purpose"] for e in new if e["type"] == "webhook"),
                "legs": len(legs), "leg_kinds": Counter(c["direction"] for c in legs), "call_seconds": seconds,
                "billed_minutes": billed, "conference_seconds": in_conference}


def _resource(path: str) -> str:
    """`/2010-04-01/Accounts/AC…/Conferences/CF….json` -> `Conferences/{sid}`."""
    parts = path.split("/Accounts/", 1)[-1].split("/")[1:]
    return "/".join(p if i % 2 == 0 else "{sid}" for i, p in enumerate(p.removesuffix(".json") for p in parts))


def heard_count(sim: SimulatorClient, number: str) -> int:
    return sum(1 for h in sim.phone(number).heard() if h["source"] in ("announcement", "loopback"))


def heard_at(sim: SimulatorClient, number: str, index: int) -> float:
    """Wall-clock time the phone heard its `index`-th message (timeline `real_at`)."""
    heard = [e for e in sim.timeline() if e["type"] == "heard" and e.get("number") == number
             and e.get("source") in ("announcement", "loopback")]
    return heard[index]["real_at"]


def run(messages: int = 6) -> tuple[Table, dict]:
    per_message: dict[str, list[dict]] = {"callchat": [], "seed003": []}
    with dev_stack({"SIM_LOOPBACK_CALLS": 1, "SIM_CLOCK_SPEED": 1}, workers=1) as stack, \
            tempfile.TemporaryDirectory(prefix="callchat-bench-cost-") as tmp:
        sim = SimulatorClient(stack.sim, timeout=30)
        port = free_port()
        seed_url = f"http://127.0.0.1:{port}"
        seed, _ = start_gunicorn("bench.baselines.seed003:app", Path(tmp), "seed003", {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_API_BASE": stack.sim,
            "SEED_NUMBER": SEED_NUMBER, "SEED_USER": SEED_USER, "PUBLIC_BASE_URL": seed_url,
            "REDIS_URL": stack.redis.rsplit("/", 1)[0] + "/1", "WEB_CONCURRENCY": SETTINGS["WEB_CONCURRENCY"]}, port)
        try:
            sim.add_number(SEED_NUMBER, voice_url=seed_url + "/")
            room_id = sim.phone(CALLCHAT_CALLER).call(SETTINGS["TWILIO_PHONE_NUMBER"])
            sim.phone(SEED_CALLER).call(SEED_NUMBER)
            wait_for(lambda: live_count(stack.redis, [room_id]) == 1, 30, "callchat's room to go live")
            _settle(stack, sim)
            typist = Typist(stack.web, room_id)
            seed_http = requests.Session()
            for i in range(messages):
                text = TEXTS[i % len(TEXTS)]
                for app in ("callchat", "seed003") if i % 2 == 0 else ("seed003", "callchat"):
                    caller = CALLCHAT_CALLER if app == "callchat" else SEED_CALLER
                    before = heard_count(sim, caller)
                    window = Window(sim)
                    sent = time.time()
                    if app == "callchat":
                        message = typist.say(text)
                    else:
                        seed_http.post(f"{seed_url}/message_req", data={"message": text}, timeout=30).raise_for_status()
                    wait_for(lambda: heard_count(sim, caller) > before, 30, f"{app}'s caller to hear message {i + 1}")
                    _settle(stack, sim)
                    figures = window.close()
                    figures["typed_to_heard"] = heard_at(sim, caller, before) - sent
                    if app == "callchat":
                        figures["message"] = message
                    per_message[app].append(figures)
                    print(f"  message {i + 1} {app:8s}: {figures['rest']} REST, {figures['webhooks']} webhooks, "
                          f"{figures['legs']} legs, {figures['call_seconds']:.1f} call-s, "
                          f"typed->heard {ms(figures['typed_to_heard'])}", flush=True)
            updates, fetches = announce_times(stack.sim)
            for figures in per_message["callchat"]:
                m = figures["message"]
                figures["accept_to_update"] = updates[(m["room"], int(m["id"]))] - float(m["created_at"])
        finally:
            seed.stop()
    return _table(per_message), {"per_message": per_message}


def _settle(stack, sim: SimulatorClient) -> None:
    """Nothing in flight in the simulator, and nothing queued or running in RQ (twice, as jobs cause webhooks)."""
    for _ in range(2):
        sim.settle(timeout=30)
        queue_idle(stack.redis)
    sim.settle(timeout=30)


def _table(per_message: dict[str, list[dict]]) -> Table:
    table = Table()
    a, b = per_message["callchat"], per_message["seed003"]
    n = len(a)

    def avg(rows: list[dict], key: str) -> float:
        return sum(r[key] for r in rows) / len(rows)

    def kinds(rows: list[dict], key: str) -> str:
        total = sum((r[key] for r in rows), Counter())
        return ", ".join(f"{k} {v / len(rows):g}" for k, v in sorted(total.items()))

    table.add("3 cost", "Twilio REST requests / message", f"{avg(a, 'rest'):g}", f"{avg(b, 'rest'):g}",
              ratio(avg(a, "rest"), avg(b, "rest")), f"callchat: {kinds(a, 'rest_kinds')}; seed: {kinds(b, 'rest_kinds')}")
    table.add("3 cost", "webhooks Twilio makes / message", f"{avg(a, 'webhooks'):g}", f"{avg(b, 'webhooks'):g}",
              ratio(avg(a, "webhooks"), avg(b, "webhooks")),
              f"callchat: {kinds(a, 'webhook_kinds')}; seed: {kinds(b, 'webhook_kinds')}")
    table.add("3 cost", "billed call legs / message", f"{avg(a, 'legs'):g}", f"{avg(b, 'legs'):g}", "",
              f"seed: {kinds(b, 'leg_kinds')}")
    table.add("3 cost", "call-seconds / message (billed minutes)", f"{avg(a, 'call_seconds'):.1f} ({avg(a, 'billed_minutes'):g})",
              f"{avg(b, 'call_seconds'):.1f} ({avg(b, 'billed_minutes'):g})", "",
              f"simulated clock, no network or set-up delay; seed's leg also {avg(b, 'conference_seconds'):.1f} s in the conference")
    ta, tb = median(r["typed_to_heard"] for r in a), median(r["typed_to_heard"] for r in b)
    table.add("3 cost", "typed -> heard, median (simulator, no delay)", ms(ta), ms(tb), ratio(ta, tb),
              f"{n} messages each, alternating; no real call set-up time (seed); callchat accept -> "
              f"Conference update {ms(median(r['accept_to_update'] for r in a))}")
    return table


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
