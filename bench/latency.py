"""Item 2, typed-to-spoken latency, in both delivery modes: from the chat endpoint accepting a message to Twilio.

Runs callchat twice on one simulator (bench.common.two_modes: each `make run`'s processes,
one RQ worker as the Procfile has, no added network delay, so that what is measured is
callchat's own cost): `lone`, the usual case (no OWNER_PHONE: the caller alone in a silent
`<Pause>`/`<Redirect>` loop), and `conference` (OWNER_PHONE set and answered, so the caller
is moved into a conference). For 1, 10 and 100 rooms of a mode, messages arrive at a steady
total rate, spread round-robin over the rooms. For each message:

- accept -> request: from the message's `created_at` (stored by the web process as it
  accepts the message) to the simulator receiving the REST request that delivers it:
  `POST Calls/CA….json` with Url=…/speak (lone) or `POST Conferences/CF….json` with
  AnnounceUrl=…/announce (conference) (the journal's `received_at`);
- accept -> fetch: to the simulator sending the fetch of that TwiML (the timeline's
  `sent_at`), the moment Twilio would start speaking.

The simulator's clock runs at ×100 for 1 room, ×30 for 10 and ×3 for 100 (LOOP_FETCHES): a
message is spoken in well under the time between two messages of a room, and the lone
callers' `<Pause length=30>` loops fetch at most 10 times a second in all, instead of
100 rooms × 100 / 30 s. (On real Twilio, 100 lone callers fetch their loop 3.3 times a second.)

Rounds alternate the room counts (1, 10, 100, then 100, 10, 1, …) and, within each, the
modes; samples are pooled per mode and room count.

    .venv/bin/python bench/latency.py [--rooms 1 10 100] [--rate 5] [--messages 60] [--rounds 2]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (MODES, Table, Typist, callers, deliveries, hang_up, machine, message_states, ms,  # noqa: E402
                          open_rooms, percentile, queue_idle, ratio, save, two_modes, wait_for)
from blueprints.voice import WAIT_SECONDS  # noqa: E402
from simulator.client import SimulatorClient  # noqa: E402

SETTINGS = {"SIM_CLOCK_SPEED": 100, "ROOM_RETENTION_SECONDS": 60}
TEXTS = ("はい、聞こえています。", "少々お待ちください。", "ありがとうございます。確認します。", "今から折り返します。")
#: At most this many waiting-loop fetches a second, in all, sets the simulator's clock speed (at most ×100).
LOOP_FETCHES = 10


def clock_speed(room_count: int) -> float:
    """The simulator's clock speed for `room_count` rooms: ×100, or less so that the loops fetch LOOP_FETCHES/s."""
    return min(100.0, LOOP_FETCHES * WAIT_SECONDS / room_count)


def measure(stack, mode: str, room_count: int, rate: float, count: int, block: int) -> list[dict]:
    """Open `room_count` rooms in `mode`, send `count` messages at `rate` per second in all; return them with
    their timings: the stored message plus `sent`/`answered` (chat POST) and `requested_at`/`fetched_at`."""
    room_ids = open_rooms(stack, callers(room_count, block), mode=mode)
    queue_idle(stack.redis)
    with ThreadPoolExecutor(8) as pool:
        typists = list(pool.map(lambda room_id: Typist(stack, room_id), room_ids))
    sent: list[dict] = []
    lock = threading.Lock()

    def send(k: int) -> None:
        message = typists[k % room_count].say(TEXTS[k % len(TEXTS)])
        with lock:
            sent.append(message)

    start = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        futures = []
        for k in range(count):
            delay = start + k / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(send, k))
    errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:  # left out of the figures (the table's message counts show it)
        print(f"  {len(errors)} of {count} chat POSTs failed, e.g. {errors[0]!r}", flush=True)
    wait_for(lambda: all(s in ("spoken", "failed") for s in message_states(stack.redis, sent)), 120,
             "every message to be spoken")
    found = deliveries(stack.sim)
    for m in sent:
        d = found.get((m["room"], int(m["id"])), {})
        m["via"], m["requested_at"], m["fetched_at"] = d.get("via"), d.get("requested_at"), d.get("fetched_at")
    hang_up(stack, room_ids)
    queue_idle(stack.redis)
    return sent


def since_accept(sent: list[dict], key: str) -> list[float]:
    """Seconds from each message's acceptance to its `key` time (messages without one left out)."""
    return [m[key] - float(m["created_at"]) for m in sent if m.get(key)]


def run(rooms: tuple[int, ...] = (1, 10, 100), rate: float = 5, messages: int = 60, rounds: int = 2) -> tuple[Table, dict]:
    samples: dict[str, dict[int, list[dict]]] = {mode: {n: [] for n in rooms} for mode in MODES}
    with two_modes(SETTINGS, workers=1) as stacks:
        sim = SimulatorClient(stacks["lone"].sim)
        block = 0
        for r in range(rounds):
            for i, n in enumerate(rooms if r % 2 == 0 else tuple(reversed(rooms))):
                sim.set_clock(speed=clock_speed(n))
                for mode in (MODES if (r + i) % 2 == 0 else tuple(reversed(MODES))):
                    block += 1
                    sent = measure(stacks[mode], mode, n, rate, messages, block)
                    samples[mode][n] += sent
                    fetch = since_accept(sent, "fetched_at")
                    print(f"  round {r + 1}, {n:3d} rooms, {mode:10s}: accept->fetch p50 {ms(percentile(fetch, 50))} "
                          f"p99 {ms(percentile(fetch, 99))} (n={len(fetch)} of {len(sent)}; clock ×{clock_speed(n):g})",
                          flush=True)
    return _table(samples, rate), {"rate": rate, "samples": samples}


def _table(samples: dict[str, dict[int, list[dict]]], rate: float) -> Table:
    """Rows per room count: lone caller (the callchat column) beside conference (the baseline column)."""
    table = Table()
    for n in samples["lone"]:
        lone, conf = samples["lone"][n], samples["conference"][n]
        figures = {mode: {key: since_accept(sent, key) for key in ("requested_at", "fetched_at")}
                   for mode, sent in (("lone", lone), ("conference", conf))}
        missing = {mode: sum(1 for m in sent if not m.get("fetched_at")) for mode, sent in (("lone", lone), ("conference", conf))}
        wrong = sum(1 for m in lone if m.get("via") not in (None, "call")) + sum(1 for m in conf if m.get("via") not in (None, "conference"))
        note = (f"{len(lone)} + {len(conf)} messages at {rate:g}/s in all, 1 worker each; clock ×{clock_speed(n):g}"
                + "".join(f"; {k} {mode} never fetched" for mode, k in missing.items() if k)
                + (f"; {wrong} delivered in the other mode" if wrong else ""))
        for q in (50, 99):
            a, b = percentile(figures["lone"]["fetched_at"], q), percentile(figures["conference"]["fetched_at"], q)
            table.add("2 latency", f"{n} rooms: accept -> TwiML fetch (speak / announce), p{q}", ms(a), ms(b), ratio(a, b),
                      note if q == 50 else "callchat = lone caller (no OWNER_PHONE), baseline = conference (OWNER_PHONE)")
        req = {mode: f"{ms(percentile(v['requested_at'], 50))} / {ms(percentile(v['requested_at'], 99))}"
               for mode, v in figures.items()}
        post = {mode: ms(percentile([m["answered"] - m["sent"] for m in sent], 50)) for mode, sent in (("lone", lone), ("conference", conf))}
        table.add("2 latency", f"{n} rooms: accept -> REST request (Calls / Conferences), p50 / p99", req["lone"],
                  req["conference"], note=f"chat POST round trip p50 {post['lone']} / {post['conference']}")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--rate", type=float, default=5, help="messages per second, over all rooms")
    parser.add_argument("--messages", type=int, default=60, help="per mode, room count and round")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    started = time.monotonic()
    table, data = run(tuple(args.rooms), args.rate, args.messages, args.rounds)
    text = table.render()
    print(text)
    print(f"\n(took {time.monotonic() - started:.0f} s; saved to {save('latency', text, {'machine': machine(), **data})})")


if __name__ == "__main__":
    main()
