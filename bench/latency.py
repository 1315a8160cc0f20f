"""Item 2, typed-to-spoken latency: from the chat endpoint accepting a message to Twilio (the simulator).

Runs `make run`'s processes (Procfile.dev under honcho: redis, gunicorn, one RQ worker as
the Procfile has, the simulator) with the simulator's clock at ×100 and no added network
delay, so that what is measured is callchat's own cost. For 1, 10 and 100 live rooms (each
a virtual phone's call, with the owner dialed in), messages arrive at a steady total rate,
spread round-robin over the rooms. For each message:

- accept -> update: from the message's `created_at` (stored by the web process as it
  accepts the message) to the simulator receiving `POST Conferences/CF….json` with its
  AnnounceUrl (the journal's `received_at`);
- accept -> fetch: to the simulator sending the AnnounceUrl fetch (the timeline's `sent_at`),
  the moment Twilio would start speaking.

Room counts alternate over `--rounds` rounds (1, 10, 100, then 100, 10, 1, …); samples are
pooled per room count.

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

from bench.common import (Table, Typist, announce_times, callers, dev_stack, hang_up, machine, message_states,  # noqa: E402
                          ms, open_rooms, percentile, queue_idle, save, wait_for)

SETTINGS = {"SIM_CLOCK_SPEED": 100, "ROOM_RETENTION_SECONDS": 60}
TEXTS = ("はい、聞こえています。", "少々お待ちください。", "ありがとうございます。確認します。", "今から折り返します。")


def measure(stack, room_count: int, rate: float, count: int, block: int) -> list[dict]:
    """Open `room_count` rooms, send `count` messages at `rate` per second in all, return them with their timings."""
    room_ids = open_rooms(stack, callers(room_count, block))
    queue_idle(stack.redis)
    with ThreadPoolExecutor(8) as pool:
        typists = list(pool.map(lambda room_id: Typist(stack.web, room_id), room_ids))
    sent: list[dict] = []
    lock = threading.Lock()

    def send(k: int) -> None:
        message = typists[k % room_count].say(TEXTS[k % len(TEXTS)])
        with lock:
            sent.append(message)

    start = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        for k in range(count):
            delay = start + k / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send, k)
    wait_for(lambda: all(s in ("spoken", "failed") for s in message_states(stack.redis, sent)), 120,
             "every message to be spoken")
    updates, fetches = announce_times(stack.sim)
    for m in sent:
        key = (m["room"], int(m["id"]))
        m["update_at"], m["fetch_at"] = updates.get(key), fetches.get(key)
    hang_up(stack, room_ids)
    queue_idle(stack.redis)
    return sent


def run(rooms: tuple[int, ...] = (1, 10, 100), rate: float = 5, messages: int = 60, rounds: int = 2) -> tuple[Table, dict]:
    samples: dict[int, list[dict]] = {n: [] for n in rooms}
    with dev_stack(SETTINGS, workers=1) as stack:
        block = 0
        for r in range(rounds):
            for n in (rooms if r % 2 == 0 else tuple(reversed(rooms))):
                block += 1
                sent = measure(stack, n, rate, messages, block)
                samples[n] += sent
                up = [m["update_at"] - float(m["created_at"]) for m in sent if m["update_at"]]
                print(f"  round {r + 1}, {n:3d} rooms: accept->update p50 {ms(percentile(up, 50))} "
                      f"p99 {ms(percentile(up, 99))} (n={len(up)} of {len(sent)})", flush=True)
    return _table(samples, rate), {"rate": rate, "samples": samples}


def _table(samples: dict[int, list[dict]], rate: float) -> Table:
    table = Table()
    for n, sent in samples.items():
        up = [m["update_at"] - float(m["created_at"]) for m in sent if m["update_at"]]
        fetch = [m["fetch_at"] - float(m["created_at"]) for m in sent if m["fetch_at"]]
        post = [m["answered"] - m["sent"] for m in sent]
        missing = sum(1 for m in sent if not m["fetch_at"])
        note = f"{len(sent)} messages at {rate:g}/s in all, 1 worker" + (f"; {missing} never fetched" if missing else "")
        table.add("2 latency", f"{n} live rooms: accept -> Conference update, p50 / p99",
                  f"{ms(percentile(up, 50))} / {ms(percentile(up, 99))}", note=note)
        table.add("2 latency", f"{n} live rooms: accept -> AnnounceUrl fetch, p50 / p99",
                  f"{ms(percentile(fetch, 50))} / {ms(percentile(fetch, 99))}",
                  note=f"chat POST round trip p50 {ms(percentile(post, 50))}")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--rate", type=float, default=5, help="messages per second, over all rooms")
    parser.add_argument("--messages", type=int, default=60, help="per room count and round")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    started = time.monotonic()
    table, data = run(tuple(args.rooms), args.rate, args.messages, args.rounds)
    text = table.render()
    print(text)
    print(f"\n(took {time.monotonic() - started:.0f} s; saved to {save('latency', text, {'machine': machine(), **data})})")


if __name__ == "__main__":
    main()
