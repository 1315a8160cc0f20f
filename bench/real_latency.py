"""Item 6, against real latency: 200 live rooms, each typing one message every 10 s for 2 minutes,
with Twilio's REST API answering 150 ms after each request (as it does from Japan).

Runs `make run`'s processes (Procfile.dev under honcho: redis, 2 gunicorn workers, the simulator
at real speed, one worker process with WORKER_CONCURRENCY's default) with the simulator's latency
settings: SIM_REST_DELAY (every REST answer leaves that long after the request arrived),
SIM_WEBHOOK_DELAY and SIM_SPEECH_SECONDS_PER_CHAR. OWNER_PHONE is unset: each caller waits alone
and each message is a `POST Calls/{sid}.json` with Url=…/speak.

Figures:
- callchat-added latency: the chat accepting a message (its `created_at`, stored by the web process
  before it answers 202) to the simulator receiving the request that hands it to Twilio (its
  journal's `received_at`), p50/p99. The REST delay comes after that moment, so it is not in it,
  except where a worker waits on Twilio's answer for an earlier message instead of taking this one;
- messages lost: typed but never handed to Twilio or never spoken (must be 0);
- the cores each process of `make run` used meanwhile (/proc).

    .venv/bin/python bench/real_latency.py [--rooms 200] [--every 10] [--minutes 2] [--rest-delay 0.15]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (Table, Typist, callers, cpu_by_role, cpu_share, deliveries, dev_stack, machine,  # noqa: E402
                          message_states, ms, open_rooms, percentile, queue_idle, save, wait_for)

TEXT = "少々お待ちください。"
#: Seconds after the last message is typed that every message has to be spoken in.
DRAIN_SECONDS = 60


def run(rooms: int = 200, every: float = 10.0, minutes: float = 2.0, rest_delay: float = 0.15,
        webhook_delay: float = 0.0, typists: int = 16) -> tuple[Table, dict]:
    """Measure; return the table rows and the raw figures."""
    settings = {"SIM_CLOCK_SPEED": 1, "SIM_REST_DELAY": rest_delay, "SIM_WEBHOOK_DELAY": webhook_delay,
                "ROOM_RETENTION_SECONDS": 60}
    with dev_stack(settings, workers=1) as stack:
        print(f"  {rooms} callers call in", flush=True)
        room_ids = open_rooms(stack, callers(rooms, block=61))
        queue_idle(stack.redis)  # the rooms' set-up jobs (status callbacks, captions) are done before typing starts
        pool = [Typist(stack, room_ids[0]) for _ in range(typists)]
        rounds = int(minutes * 60 / every)
        # Room i types at i * every / rooms seconds past each round's start: a steady rooms / every messages a second.
        plan = sorted((r * every + i * every / rooms, i) for r in range(rounds) for i in range(len(room_ids)))
        typed: list[dict] = []
        errors: list[str] = []
        lock = threading.Lock()
        print(f"  typing {len(plan)} messages over {rounds * every:.0f} s ({rooms / every:.0f} a second)", flush=True)
        before = cpu_by_role(stack.proc.pid)
        start = time.monotonic()

        def send(step: tuple[int, tuple[float, int]]) -> None:
            n, (at, i) = step
            delay = start + at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                message = pool[n % typists].say(TEXT, room_ids[i])
            except Exception as exc:  # noqa: BLE001 (counted as lost, and reported)
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                return
            with lock:
                typed.append(message)

        with ThreadPoolExecutor(typists * 2) as executor:
            list(executor.map(send, enumerate(plan)))
        typing_took = time.monotonic() - start
        after = cpu_by_role(stack.proc.pid)
        try:
            wait_for(lambda: all(s == "spoken" for s in message_states(stack.redis, typed)), DRAIN_SECONDS,
                     "every message to be spoken")
        except AssertionError:
            pass
        states = message_states(stack.redis, typed)
        handed = deliveries(stack.sim)
        added = []
        for message in typed:
            got = handed.get((message["room"], int(message["id"])), {})
            if "requested_at" in got:
                added.append(got["requested_at"] - float(message["created_at"]))
        lost = len(plan) - sum(s == "spoken" for s in states)
        share = cpu_share(before, after, typing_took)
    figures = {"rooms": rooms, "typed": len(typed), "planned": len(plan), "lost": lost, "errors": errors[:5],
               "handed": len(added), "p50": percentile(added, 50), "p99": percentile(added, 99),
               "max": max(added, default=0.0), "cores": share, "seconds": typing_took, "rest_delay": rest_delay}
    table = Table()
    note = (f"{rooms} rooms, 1 message / {every:.0f} s each for {rounds * every:.0f} s, REST {rest_delay * 1000:.0f} ms; "
            f"{len(added)} of {len(plan)} handed to Twilio")
    table.add("6 real latency", "callchat-added latency, chat accepted -> Twilio received: p50", ms(figures["p50"]),
              note=note)
    table.add("6 real latency", "… p99", ms(figures["p99"]), note=f"max {ms(figures['max'])}")
    table.add("6 real latency", "messages lost", str(lost), note=f"{len(errors)} chat POSTs failed" if errors else "")
    table.add("6 real latency", "cores used while typing", "", note=share)
    return table, figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=200)
    parser.add_argument("--every", type=float, default=10.0, help="seconds between a room's messages")
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--rest-delay", type=float, default=0.15, help="seconds (SIM_REST_DELAY)")
    parser.add_argument("--webhook-delay", type=float, default=0.0, help="seconds (SIM_WEBHOOK_DELAY)")
    args = parser.parse_args()
    table, figures = run(args.rooms, args.every, args.minutes, args.rest_delay, args.webhook_delay)
    text = table.render()
    print(text)
    print(f"\n(saved to {save('real_latency', text, {'machine': machine(), **figures})})")


if __name__ == "__main__":
    main()
