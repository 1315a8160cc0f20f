"""Item 1, webhook speed: callchat's signed webhooks against Twilio's quickstart voice app, under wrk.

All three apps run under gunicorn exactly as the Procfile's `web:` (gunicorn.conf.py: gevent,
WEB_CONCURRENCY=2 workers, 1,000 connections each, access log on), callchat with a real
Redis (AOF on, as Procfile.dev) and OWNER_PHONE unset, the usual case (each new call
checks that the rooms sweep is scheduled; no worker runs, so any jobs just queue up).
wrk (Debian's) sends, from one thread:

- callchat `POST /voice/incoming`, signed, a new CallSid on every request (every request
  opens a room, as a real call does);
- callchat `POST /voice/rooms/<room>/messages/<n>/announce`, signed, for a stored message
  in a conference room (the conference mode's TwiML fetch);
- callchat `POST /voice/rooms/<room>/wait`, signed: a lone caller's `<Pause>` loop fetching
  its next `<Pause>` (every 30 s per waiting room);
- callchat `POST /voice/rooms/<room>/messages/<n>/speak`, signed: a lone caller's call,
  redirected to hear a message being spoken (the lone mode's TwiML fetch);
- callchat `POST /voice/incoming` repeating one CallSid (Twilio retrying a webhook);
- the baseline `POST /voice` of bench/baselines/quickstart.py, with the same bodies;
- the floor `POST /voice/incoming` of bench/baselines/floor.py, new calls signed for it: the
  quickstart plus a signature check and one Redis write, the least a webhook that keeps its
  call does (its own Redis keys, in the same Redis).

Each flat out (64 connections: throughput, and latency at saturation), and new calls
also paced (16 connections pausing 50 ms after each answer: latency below saturation).
Runs alternate between the apps, `--rounds` times; the figures are the medians. Redis
commands per request come from INFO commandstats (commands run inside a Lua script count too).
Redis round trips per request (a command, a pipeline or a Lua script: one wait for Redis) are
counted in this process, at redis-py's socket write, for each webhook on a typed message's path,
sent signed through Flask's test client, each warmed up once first (`round_trips`). Then py-spy
records every gunicorn worker of each app under the flat-out new-call load.

    .venv/bin/python bench/webhooks.py [--seconds 8] [--rounds 3] [--connections 64]
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (ACCOUNT_SID, AUTH_TOKEN, SETTINGS, TWILIO_NUMBER, Table, children, finish, free_port,  # noqa: E402
                          machine, median, ms, py_spy, ratio, save, sign, start_gunicorn, start_redis, summarize_profile,
                          wrk, write_bodies)
from callchat import urls  # noqa: E402

#: Paced runs: 16 connections, each waiting 50 ms after every answer (~250-300 req/s, below both apps' capacity).
PAUSE_MS = 50
PACED_CONNECTIONS = 16

#: What each wrk run loads: (case, app, pause between requests per connection in ms (0: flat out)).
CASES = (("incoming", "callchat", 0), ("announce", "callchat", 0), ("wait", "callchat", 0), ("speak", "callchat", 0),
         ("repeat", "callchat", 0), ("quickstart", "baseline", 0), ("floor", "baseline", 0),
         ("incoming-paced", "callchat", PAUSE_MS), ("quickstart-paced", "baseline", PAUSE_MS))


def incoming_params(call_sid: str, caller: str, status: str = "ringing") -> dict[str, str]:
    """A voice request for an inbound call (`status` ringing: a new one), with the parameters the simulator (and Twilio) send."""
    return {"CallSid": call_sid, "AccountSid": ACCOUNT_SID, "From": caller, "To": TWILIO_NUMBER, "Caller": caller,
            "Called": TWILIO_NUMBER, "CallStatus": status, "ApiVersion": "2010-04-01", "Direction": "inbound"}


def new_calls(count: int) -> list[dict[str, str]]:
    return [incoming_params("CA" + secrets.token_hex(16), f"+8190{i % 100_000_000:08d}") for i in range(count)]


def stored_message(redis_url: str) -> tuple[str, int, str]:
    """A live room in the conference mode with one message, written with callchat.rooms; return (room_id, msg_id, ConferenceSid)."""
    from redis import Redis

    from callchat import rooms
    r = Redis.from_url(redis_url, decode_responses=True)
    room_id, conference_sid = "CA" + secrets.token_hex(16), "CF" + secrets.token_hex(16)
    rooms.create(r, room_id, "+819012345678", "Polly.Mizuki", "ja-JP", 86400)
    rooms.update(r, room_id, status="live", mode="conference", conference_started="1", conference_sid=conference_sid)
    message = rooms.add_message(r, room_id, "say", "少々お待ちください。ただいま確認しております。", "Polly.Mizuki", "ja-JP")
    return room_id, message["id"], conference_sid


def lone_caller(redis_url: str) -> tuple[str, int]:
    """A live room whose caller waits alone, with one message being spoken; return (room_id, msg_id).

    Its `…/wait` answers the waiting loop (nothing queued) and its `…/speak` the message's `<Say>`.
    """
    from redis import Redis

    from callchat import rooms
    r = Redis.from_url(redis_url, decode_responses=True)
    room_id = "CA" + secrets.token_hex(16)
    rooms.create(r, room_id, "+819012345678", "Polly.Mizuki", "ja-JP", 86400)
    rooms.update(r, room_id, status="live")
    rooms.add_message(r, room_id, "say", "少々お待ちください。ただいま確認しております。", "Polly.Mizuki", "ja-JP")
    return room_id, rooms.claim_next(r, room_id, hold_seconds=86400)["id"]


def redis_commands(redis_url: str) -> int:
    """How many commands Redis has run so far (INFO commandstats)."""
    from redis import Redis
    stats = Redis.from_url(redis_url).info("commandstats")
    return sum(v["calls"] for v in stats.values())


def round_trips(redis_url: str) -> dict[str, int]:
    """Redis round trips of each webhook on a typed message's path, counted at redis-py's socket write in this process.

    Each is sent twice (with fresh state) and the second counted, so that opening connections and
    loading Lua scripts are not.

    Returns:
        {webhook: round trips}: a new call, Twilio repeating it, the lone caller's first and later loop
        fetches, `…/speak` and `…/spoken`, the conference's `…/announce` and `announcement-end`, and the
        caller's status callback saying the call is over.
    """
    from redis.connection import AbstractConnection

    from app import create_app
    from callchat import rooms
    sent: list[int] = []
    original = AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        sent.append(1)
        return original(self, command, check_health)

    app = create_app({**SETTINGS, "REDIS_URL": redis_url, "PUBLIC_BASE_URL": "http://bench.invalid"})
    client, r = app.test_client(), app.redis

    def post(rule: str, params: dict[str, str], **values) -> int:
        url = urls.absolute("http://bench.invalid", rule, **values)
        sent.clear()
        answer = client.post(url.removeprefix("http://bench.invalid"), data=params,
                             headers={"X-Twilio-Signature": sign(url, params)})
        assert answer.status_code < 300, (url, answer.status_code, answer.get_data(as_text=True)[:200])
        return len(sent)

    counts: dict[str, int] = {}
    AbstractConnection.send_packed_command = counting
    try:
        for _ in range(2):
            sid, conference_sid = "CA" + secrets.token_hex(16), "CF" + secrets.token_hex(16)
            call = incoming_params(sid, "+819012345678")
            counts["new call"] = post(urls.INCOMING, call)
            counts["repeated new call"] = post(urls.INCOMING, call)
            live = dict(call, CallStatus="in-progress")
            counts["first loop fetch (goes live)"] = post(urls.WAIT, live, room_id=sid)
            counts["loop fetch"] = post(urls.WAIT, live, room_id=sid)
            rooms.add_message(r, sid, "say", "少々お待ちください。", "Polly.Mizuki", "ja-JP")
            msg_id = rooms.claim_next(r, sid, 60)["id"]
            counts["…/speak"] = post(urls.SPEAK, live, room_id=sid, msg_id=msg_id)
            counts["…/spoken"] = post(urls.SPOKEN, live, room_id=sid, msg_id=msg_id)
            rooms.update(r, sid, mode="conference", conference_started="1", conference_sid=conference_sid)
            rooms.add_message(r, sid, "say", "少々お待ちください。", "Polly.Mizuki", "ja-JP")
            msg_id = rooms.claim_next(r, sid, 60)["id"]
            fetch = {"AccountSid": ACCOUNT_SID, "ConferenceSid": conference_sid, "FriendlyName": sid, "ApiVersion": "2010-04-01"}
            counts["…/announce"] = post(urls.ANNOUNCE, fetch, room_id=sid, msg_id=msg_id)
            counts["announcement-end"] = post(urls.CONFERENCE_STATUS, dict(
                fetch, StatusCallbackEvent="announcement-end", SequenceNumber="1", CallSid="",
                AnnounceUrl=urls.absolute("http://bench.invalid", urls.ANNOUNCE, room_id=sid, msg_id=msg_id)))
            counts["caller's status callback (completed)"] = post(urls.CALLER_STATUS, dict(call, CallStatus="completed"),
                                                                  room_id=sid)
    finally:
        AbstractConnection.send_packed_command = original
    return counts


def run(seconds: float = 8, rounds: int = 3, connections: int = 64, profile: bool = True) -> tuple[Table, dict]:
    """Measure; return the table rows and the raw figures."""
    results: dict[str, list[dict]] = {case: [] for case, _, _ in CASES}
    profiles: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="callchat-bench-webhooks-") as tmp:
        folder = Path(tmp)
        redis, redis_url = start_redis(folder)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**SETTINGS, "REDIS_URL": redis_url, "PUBLIC_BASE_URL": base, "TWILIO_API_BASE": "http://127.0.0.1:9"}
        callchat, _ = start_gunicorn("app:create_app()", folder, "callchat", env, port)
        quickstart, quickstart_url = start_gunicorn("bench.baselines.quickstart:app", folder, "quickstart",
                                                    {"WEB_CONCURRENCY": SETTINGS["WEB_CONCURRENCY"]})
        floor_port = free_port()
        floor_url = f"http://127.0.0.1:{floor_port}"
        floor, _ = start_gunicorn("bench.baselines.floor:app", folder, "floor", {
            "WEB_CONCURRENCY": SETTINGS["WEB_CONCURRENCY"], "REDIS_URL": redis_url, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "PUBLIC_BASE_URL": floor_url}, floor_port)
        try:
            trips = round_trips(redis_url)
            print("  Redis round trips per request: " + ", ".join(f"{k} {v}" for k, v in trips.items()), flush=True)
            room_id, msg_id, conference_sid = stored_message(redis_url)
            lone_id, lone_msg = lone_caller(redis_url)
            targets = {"incoming": base + "/voice/incoming",
                       "announce": urls.absolute(base, urls.ANNOUNCE, room_id=room_id, msg_id=msg_id),
                       "wait": urls.absolute(base, urls.WAIT, room_id=lone_id),
                       "speak": urls.absolute(base, urls.SPEAK, room_id=lone_id, msg_id=lone_msg),
                       "repeat": base + "/voice/incoming", "quickstart": quickstart_url + "/voice",
                       "floor": floor_url + "/voice/incoming"}
            fixed = {case: folder / f"{case}.txt" for case in ("announce", "wait", "speak", "repeat")}
            write_bodies(fixed["announce"], targets["announce"],
                         [{"AccountSid": ACCOUNT_SID, "ConferenceSid": conference_sid, "FriendlyName": room_id,
                           "ApiVersion": "2010-04-01"}])
            for case in ("wait", "speak"):
                write_bodies(fixed[case], targets[case], [incoming_params(lone_id, "+819012345678", "in-progress")])
            write_bodies(fixed["repeat"], base + "/voice/incoming", new_calls(1))
            per_run = int(seconds * 4000)  # more new CallSids than a run sends (checked: "wrapped")
            warm = {target: folder / f"warm-{target}.txt" for target in ("incoming", "floor")}  # new calls signed for each
            for target, bodies in warm.items():
                write_bodies(bodies, targets[target], new_calls(2000))
            for case in ("incoming", "announce", "wait", "quickstart", "floor"):  # warm-up, not measured
                wrk(targets[case], fixed.get(case) or warm.get(case, warm["incoming"]), 2, connections)
            for n in range(rounds):
                for case, app, pause in (CASES if n % 2 == 0 else tuple(reversed(CASES))):
                    route = case.removesuffix("-paced")
                    bodies = fixed.get(route)
                    if bodies is None:  # new calls: fresh CallSids, the same kind of bodies for every app
                        bodies = folder / f"calls-{n}-{case}.txt"
                        write_bodies(bodies, targets[route], new_calls(per_run))
                    before = redis_commands(redis_url)
                    figures = wrk(targets[route], bodies, seconds, PACED_CONNECTIONS if pause else connections,
                                  pause_ms=pause)
                    figures["redis_commands"] = (redis_commands(redis_url) - before - 1) / max(1, figures["requests"])
                    figures["wrapped"] = bodies.name.startswith("calls-") and figures["requests"] > per_run
                    results[case].append(figures)
                    print(f"  round {n + 1} {case:16s} {figures['rps']:7.0f} req/s  p50 {ms(figures['p50']):>9}  "
                          f"p99 {ms(figures['p99']):>9}  errors {figures['errors']}  "
                          f"redis commands/request {figures['redis_commands']:.1f}", flush=True)
            if profile:
                profiles = _profile(folder, callchat.pid, quickstart.pid, targets, seconds, connections)
        finally:
            callchat.stop()
            quickstart.stop()
            floor.stop()
            redis.stop()
    table = _table(results, connections)
    for name, count in trips.items():
        table.add("1 webhooks", f"Redis round trips: {name}", str(count),
                  note="counted at redis-py's socket write; a pipeline or Lua script is one")
    return table, {"runs": results, "profiles": profiles, "round_trips": trips}


def _profile(folder: Path, callchat_pid: int, quickstart_pid: int, targets: dict[str, str], seconds: float,
             connections: int) -> dict[str, str]:
    """py-spy on every gunicorn worker of each app while wrk loads it flat out (not measured)."""
    out = {}
    for name, master, target, fixed in (
            ("callchat /voice/incoming (new call)", callchat_pid, targets["incoming"], None),
            ("callchat …/announce", callchat_pid, targets["announce"], folder / "announce.txt"),
            ("callchat …/wait (lone caller's loop)", callchat_pid, targets["wait"], folder / "wait.txt"),
            ("callchat …/speak (lone caller)", callchat_pid, targets["speak"], folder / "speak.txt"),
            ("callchat /voice/incoming (repeated CallSid)", callchat_pid, targets["repeat"], folder / "repeat.txt"),
            ("quickstart /voice", quickstart_pid, targets["quickstart"], None)):
        bodies = fixed or folder / "profile-calls.txt"
        if fixed is None:
            write_bodies(bodies, targets["incoming"], new_calls(int(seconds * 4000)))
        workers = children(master)
        files = [folder / f"profile-{master}-{pid}.txt" for pid in workers]
        spies = [py_spy(pid, seconds, path) for pid, path in zip(workers, files)]
        wrk(target, bodies, seconds, connections)
        for spy in spies:
            finish(spy, 60)
        out[name] = summarize_profile(files, breakdown=PROFILE_BREAKDOWN)
        print(f"  py-spy, {name} under load:\n{out[name]}", flush=True)
    return out


#: Frames whose time the profile summary splits among their callees.
PROFILE_BREAKDOWN = ("GeventWorker.handle_request", "Flask.wsgi_app", "Flask.full_dispatch_request",
                     "Flask.preprocess_request", "require_twilio_signature", "incoming (blueprints/voice.py)",
                     "announce (blueprints/voice.py)", "wait (blueprints/voice.py)", "speak (blueprints/voice.py)",
                     "_keep_waiting (blueprints/voice.py)", "create (callchat/rooms.py)", "upsert_participant",
                     "ensure_checking", "Queue.enqueue_call", "Redis.execute_command")


def _table(results: dict[str, list[dict]], connections: int) -> Table:
    table = Table()
    keys = ("rps", "p50", "p99", "redis_commands")
    fig = {case: {k: median(r[k] for r in runs) for k in keys} for case, runs in results.items()}
    rounds = len(results["quickstart"])
    for case, baseline, label in (
            ("incoming", "quickstart", "POST /voice/incoming, new call"),
            ("incoming-paced", "quickstart-paced", f"… paced ({PACED_CONNECTIONS} conns, {PAUSE_MS} ms pauses)"),
            ("announce", "quickstart", "POST …/announce (TwiML fetch)"),
            ("wait", "quickstart", "POST …/wait (lone caller's loop fetch)"),
            ("speak", "quickstart", "POST …/speak (lone caller's TwiML fetch)"),
            ("repeat", "quickstart", "POST /voice/incoming, repeated CallSid")):
        a, b = fig[case], fig[baseline]
        errors = sum(r["errors"] for r in results[case]) + sum(r["errors"] for r in results[baseline])
        conns = PACED_CONNECTIONS if case.endswith("paced") else connections
        note = f"wrk -c{conns}, median of {rounds}; {a['redis_commands']:.1f} Redis commands/request"
        if errors:
            note += f"; {errors} errors"
        if any(r.get("wrapped") for r in results[case]):
            note += "; some CallSids repeated"
        table.add("1 webhooks", f"{label}: req/s", f"{a['rps']:.0f}", f"{b['rps']:.0f}", ratio(a["rps"], b["rps"]), note)
        table.add("1 webhooks", f"{label}: p50", ms(a["p50"]), ms(b["p50"]), ratio(a["p50"], b["p50"]))
        table.add("1 webhooks", f"{label}: p99", ms(a["p99"]), ms(b["p99"]), ratio(a["p99"], b["p99"]))
    floor, quickstart, incoming = fig["floor"], fig["quickstart"], fig["incoming"]
    errors = sum(r["errors"] for r in results["floor"])
    table.add("1 webhooks", "the floor (bench/baselines/floor.py), new call: req/s", f"{floor['rps']:.0f}",
              f"{quickstart['rps']:.0f}", ratio(floor["rps"], quickstart["rps"]),
              f"signature check + 1 Redis write + TwiML, against the quickstart; wrk -c{connections}, median of {rounds}"
              + (f"; {errors} errors" if errors else ""))
    table.add("1 webhooks", "the floor, new call: p99", ms(floor["p99"]), ms(quickstart["p99"]),
              ratio(floor["p99"], quickstart["p99"]))
    table.add("1 webhooks", "POST /voice/incoming, new call, against the floor: req/s", f"{incoming['rps']:.0f}",
              f"{floor['rps']:.0f}", ratio(incoming["rps"], floor["rps"]), "baseline: the floor")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8, help="per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()
    started = time.monotonic()
    table, data = run(args.seconds, args.rounds, args.connections, not args.no_profile)
    text = table.render()
    for name, summary in data["profiles"].items():
        text += f"\n\npy-spy, {name} under load (all gunicorn workers):\n{summary}"
    print(text)
    print(f"\n(took {time.monotonic() - started:.0f} s; saved to {save('webhooks', text, {'machine': machine(), **data})})")


if __name__ == "__main__":
    main()
