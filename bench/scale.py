"""Item 4, scale on one machine: 200 waiting rooms; what they cost idle; throughput by worker count; Redis memory.

Runs `make run`'s processes (Procfile.dev under honcho: redis, gunicorn, the simulator with
its clock at real speed) and starts the RQ workers separately, as Procfile.dev does
(`honcho start -c worker=N worker`), so that their number can change. OWNER_PHONE is unset,
the usual case: every caller waits alone in a silent `<Pause length=30>`/`<Redirect>` loop,
and ROOM_RETENTION_SECONDS is 5. The clock runs at real speed because the loop is timed by
the simulator's clock and check_room by RQ's (real) one: at ×20, 1,000 loops would fetch
667 times a second.

1,000 rooms, as before commit 276f657 (issue 14): then the simulator's call threads all waited on
one condition that every event woke, so 1,000 idle callers kept it at a full core and the item ran
200; each call now waits on its own (simulator/core/clock.py).

Each "worker" is a worker dyno: one `python -m jobs.worker`, a pool of WORKER_CONCURRENCY (its
default) processes that each run one job at a time without forking (`jobs.pool`); so the runs with
1, 2 and 4 workers show how adding worker dynos scales, against one Redis and one web dyno of
WEB_CONCURRENCY=2 gunicorn processes.

1. 2 workers start; the virtual phones call in, 100 at a time; every room goes live when
   its caller reaches the loop, and the workers run each room's set-up jobs (watch_caller,
   the first announce_next) and, once a minute, the rooms sweep (check_rooms).
2. Idle: once the workers have caught up, for `--idle` seconds (at least check_room's 60 s)
   nothing is typed: what the waiting rooms cost, in loop fetches (`…/wait`) and
   `GET Calls/{sid}` a second (from the simulator's timeline and journal), jobs a second (from
   the workers' log), and the cores each process of `make run` used (/proc).
3. For 1, 2 and 4 workers in turn: with no worker running, one message is typed into each
   of the first `--batch` rooms (all of them by default; through the chat endpoint); then the
   workers start, and stop once those messages are spoken. The window opens once every pool has forked its
   WORKER_CONCURRENCY workers: a dyno's start-up is paid once per deploy, so its CPU is reported
   apart, and only the messages handed to Twilio and the CPU spent after that count. Messages
   delivered per second = messages handed to Twilio (`speaking_at`, read from Redis) over the
   first to the last; also measured: the jobs waiting when the workers start, the cores each
   process used meanwhile, the workers' CPU per message, and the jobs they ran per message
   (their log). Each run carries the watchdogs
   of the one before (30 s after each message) and every room's check_room once a minute.
   py-spy is not attached to a measured run (sampling at 250 Hz, it takes a share of the two
   cores and made the runs it watched slower): one more run of the same kind follows, with
   1 worker, whose worker it profiles. The simulator's thousand threads are more than py-spy
   can follow; bench/simulator_cpu.py profiles each of them on its own CPU clock, in a stack of
   its own with 200 rooms, once this one is done.
4. Redis `used_memory` less its client and AOF buffers (INFO memory): at the start, with the rooms live (after the idle
   window), with the first batch queued; per live room and per queued message, also counting
   only callchat's own keys (MEMORY USAGE) and naming the largest kinds of keys. Then every
   caller hangs up, retention passes, and the memory is compared with the start, listing what
   is left (keys by kind, the longest TTL, keys without a TTL). `--wait-expiry` then waits out
   that TTL and measures again.

    .venv/bin/python bench/scale.py [--rooms 1000] [--batch 1000] [--workers 1 2 4] [--idle 60]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from redis import Redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import simulator_cpu  # noqa: E402
from bench.common import (Process, Table, Typist, callers, cpu_by_role, cpu_share, dev_stack,  # noqa: E402
                          hang_up, finish, jobs_run, machine, message_states, open_rooms, py_spy, queue_idle, rq_worker_pids,
                          save, start_workers, stop_workers, summarize_profile, wait_for)
from callchat import rooms as room_keys  # noqa: E402
from callchat.settings import DEFAULTS, QUEUE_NAME  # noqa: E402
from simulator.client import SimulatorClient  # noqa: E402

RETENTION = 5
PROFILE_SECONDS = 15
#: Frames whose time the worker profile splits among their callees.
PROFILE_BREAKDOWN = ("Worker.execute_job", "perform (rq/job.py)", "announce_next (jobs/announce.py)",
                     "CallContext.update", "check_room", "check_announcement")
SETTINGS = {"SIM_CLOCK_SPEED": 1, "ROOM_RETENTION_SECONDS": RETENTION}
TEXT = "少々お待ちください。"


def used_memory(r: Redis) -> int:
    """Redis's used_memory less its clients' and the AOF's buffers (INFO memory: `mem_clients_normal`,
    `mem_aof_buffer`): connections belong to processes, not to rooms, and come and go with the workers."""
    info = r.info("memory")
    return int(info["used_memory"]) - int(info.get("mem_clients_normal", 0)) - int(info.get("mem_aof_buffer", 0))


def clients(r: Redis) -> int:
    return int(r.info("clients")["connected_clients"])


def room_bytes(r: Redis, room_ids: list[str]) -> int:
    """MEMORY USAGE of every key the rooms own (callchat/rooms.py), summed."""
    keys = []
    for room_id in room_ids:
        keys += [room_keys.key(room_id, suffix) for suffix in ("", ":participants", ":log", ":queue", ":speaking", ":seq")]
        last = r.get(room_keys.key(room_id, ":seq"))
        keys += [room_keys.key(room_id, f":msg:{n}") for n in range(1, int(last or 0) + 1)]
    with r.pipeline(transaction=False) as p:
        for k in keys:
            p.memory_usage(k, samples=0)
        return sum(v or 0 for v in p.execute())


def _kind(name: str) -> str:
    """`room:{CA…}:msg:3` -> `room:…:msg`, `rq:job:…` -> `rq:job`, `rooms:live` -> `rooms:live`."""
    parts = name.split(":")
    if parts[0] == "room":
        return "room:…" + (":" + parts[2] if len(parts) > 2 else "")
    return ":".join(parts[:2])


def key_census(r: Redis) -> dict:
    """What is in Redis: keys and bytes (MEMORY USAGE) by kind, the key with the longest TTL, keys without a TTL."""
    names = list(r.scan_iter(count=1000))
    with r.pipeline(transaction=False) as p:
        for name in names:
            p.memory_usage(name, samples=0)
            p.ttl(name)
        answers = p.execute()
    kinds: Counter = Counter()
    sizes: Counter = Counter()
    longest, longest_key, forever = 0, "", []
    for name, size, ttl in zip(names, answers[::2], answers[1::2]):
        kinds[_kind(name)] += 1
        sizes[_kind(name)] += size or 0
        if ttl == -1:
            forever.append(name)
        elif ttl > longest:
            longest, longest_key = ttl, name
    return {"keys": dict(kinds), "bytes": dict(sizes), "longest_ttl": longest, "longest_key": longest_key,
            "no_ttl": forever}


def by_kind(census: dict, top: int = 5) -> str:
    """`rq:job 2,100 keys 3.1 MiB, …`, largest first."""
    rows = sorted(census["bytes"].items(), key=lambda kv: -kv[1])[:top]
    return ", ".join(f"{k} {census['keys'][k]} keys {v / 1024:.0f} KiB" for k, v in rows)


def scheduled_jobs(r: Redis) -> int:
    return r.zcard(f"rq:scheduled:{QUEUE_NAME}")


def type_messages(stack, room_ids: list[str]) -> list[dict]:
    """Type one message into each room, through the chat endpoint (8 typists in parallel)."""
    typists = [Typist(stack, room_ids[0]) for _ in range(8)]
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(lambda job: typists[job[0] % 8].say(TEXT, job[1]), enumerate(room_ids)))


def queued_jobs(redis_url: str) -> int:
    """Jobs waiting in RQ's callchat queue (not yet started)."""
    from rq import Queue
    return Queue(QUEUE_NAME, connection=Redis.from_url(redis_url)).count


def idle_cost(stack, workers: Process, log: Path, seconds: float, catch_up: float = 120) -> dict:
    """With `workers` running and nothing typed: what the waiting rooms cost for `seconds`.

    The window starts once the workers have caught up with the rooms' set-up (at most 50 jobs
    waiting), or after `catch_up` seconds if they never do (`caught_up` False).

    Args:
        workers: the running workers (`start_workers`); `log` is their output.

    Returns:
        {"seconds", "loop_fetches" and "get_calls" (per second: the simulator's `…/wait` fetches and
        `GET Calls/{sid}` requests), "jobs" (per second, by function), "queued" (jobs waiting at the
        window's start and end), "caught_up", "cores" (see cpu_share)}.
    """
    deadline = time.monotonic() + catch_up
    while queued_jobs(stack.redis) > 50 and time.monotonic() < deadline:
        time.sleep(1)
    queued_before, caught_up = queued_jobs(stack.redis), time.monotonic() < deadline
    jobs_before, t0 = jobs_run(log), time.time()
    cpu_before, started = cpu_by_role(stack.proc.pid, workers.pid), time.monotonic()
    time.sleep(seconds)
    cpu_after, elapsed, t1 = cpu_by_role(stack.proc.pid, workers.pid), time.monotonic() - started, time.time()
    jobs, queued_after = jobs_run(log) - jobs_before, queued_jobs(stack.redis)
    sim = SimulatorClient(stack.sim, timeout=120)
    fetches = sum(1 for e in sim.timeline() if e["type"] == "webhook" and t0 <= e["sent_at"] < t1
                  and e["url"].endswith("/wait"))
    gets = sum(1 for e in sim.requests() if e["method"] == "GET" and "/Calls/" in e["path"]
               and t0 <= (e["received_at"] or 0) < t1)
    return {"seconds": elapsed, "loop_fetches": fetches / elapsed, "get_calls": gets / elapsed,
            "jobs": {name: n / elapsed for name, n in jobs.items()}, "queued": (queued_before, queued_after),
            "caught_up": caught_up, "cores": cpu_share(cpu_before, cpu_after, elapsed)}


def speak(stack, folder: Path, workers: int, queued: list[dict], cpu: dict[int, dict],
          profile: Path | None = None) -> float:
    """Start `workers` workers; stop them once every one of the `queued` messages is spoken. Return messages
    delivered per second: those handed to Twilio in this run, over the first to the last `speaking_at`.

    Also puts in `cpu[workers]` the cores each of `make run`'s processes used meanwhile, the workers'
    CPU seconds per message and the jobs they ran per message, by function. With `profile`, py-spy
    records the first worker and its work horses for PROFILE_SECONDS meanwhile.
    """
    done = lambda: sum(s in ("spoken", "failed") for s in message_states(stack.redis, queued))  # noqa: E731
    waiting = queued_jobs(stack.redis)
    procs = start_workers(stack, workers, folder)
    # The window starts once every pool has forked its workers: a dyno's start-up (imports, the pool's set-up) is
    # paid once per deploy, not per message, so it is reported apart ("start_cpu"), and neither the messages
    # handed to Twilio before the window nor the CPU spent before it count.
    concurrency = DEFAULTS["WORKER_CONCURRENCY"]
    wait_for(lambda: len(rq_worker_pids(procs.pid)) >= workers * concurrency, 60, "the pools' workers to start")
    started_at, cpu_before, started = time.time(), cpu_by_role(stack.proc.pid, procs.pid), time.monotonic()
    start_cpu = cpu_by_role(procs.pid)["rq workers"]
    spy = None
    try:
        if profile is not None:
            pids = wait_for(lambda: rq_worker_pids(procs.pid), 30, "the RQ worker to start")
            spy = py_spy(pids[0], PROFILE_SECONDS, profile, subprocesses=True)
        while done() < len(queued):
            time.sleep(0.25)
        cpu_after, elapsed = cpu_by_role(stack.proc.pid, procs.pid), time.monotonic() - started
    finally:
        stop_workers(procs)
    finish(spy, PROFILE_SECONDS + 60)
    r = Redis.from_url(stack.redis, decode_responses=True)
    with r.pipeline(transaction=False) as p:
        for m in queued:
            p.hget(room_keys.key(m["room"], f":msg:{m['id']}"), "speaking_at")
        handed = sorted(float(a) for a in p.execute() if a and float(a) >= started_at)
    jobs = jobs_run(folder / f"workers-{workers}.log")
    cpu[workers] = {"cores": cpu_share(cpu_before, cpu_after, elapsed), "jobs_waiting": waiting, "seconds": elapsed,
                    "worker_cpu_per_message": (cpu_after["rq workers"] - cpu_before["rq workers"]) / max(1, len(handed)),
                    "start_cpu": start_cpu, "handed": len(handed),
                    "jobs_per_message": {name: n / max(1, len(handed)) for name, n in jobs.items()}}
    return (len(handed) - 1) / (handed[-1] - handed[0]) if len(handed) > 1 else float("nan")


def run(room_count: int = 1000, worker_counts: tuple[int, ...] = (1, 2, 4), batch: int = 1000, idle: float = 60,
        wait_expiry: bool = False, profile_workers: bool = True) -> tuple[Table, dict]:
    data: dict = {"rooms": room_count, "rates": {}, "cpu": {}}
    with dev_stack(SETTINGS, processes=("redis", "web", "simulator")) as stack, \
            tempfile.TemporaryDirectory(prefix="callchat-bench-scale-") as tmp:
        folder = Path(tmp)
        r = Redis.from_url(stack.redis, decode_responses=True)
        data["start_bytes"] = used_memory(r)
        data["start"] = key_census(r)
        data["start_clients"] = clients(r)
        workers = start_workers(stack, 2, folder, name="idle")  # run the rooms' set-up jobs as they open
        try:
            started = time.monotonic()
            room_ids = open_rooms(stack, callers(room_count, 90), timeout=120)
            data["setup_seconds"] = time.monotonic() - started
            print(f"  {room_count} rooms live in {data['setup_seconds']:.0f} s", flush=True)
            data["idle"] = idle_cost(stack, workers, folder / "workers-idle.log", idle)
            data["live_bytes"] = used_memory(r)
            data["room_own_bytes"] = room_bytes(r, room_ids)
            data["live"] = key_census(r)
        finally:
            stop_workers(workers)
        idle_figures = data["idle"]
        print(f"  idle, {idle_figures['seconds']:.0f} s: {idle_figures['loop_fetches']:.1f} loop fetches/s, "
              f"{idle_figures['get_calls']:.1f} GET Calls/s, jobs/s {_per(idle_figures['jobs'])}; jobs waiting "
              f"{idle_figures['queued'][0]} -> {idle_figures['queued'][1]} (caught up: {idle_figures['caught_up']}); "
              f"cores used: {idle_figures['cores']}", flush=True)
        # Each run types one message into each of the first `batch` rooms; the run before has spoken all of its own.
        data["batch"] = batch = min(batch, room_count)
        for n, count in enumerate(worker_counts):
            before, before_rooms = used_memory(r), room_bytes(r, room_ids)
            queued = type_messages(stack, room_ids[:batch])
            if n == 0:
                data["per_message_bytes"] = (used_memory(r) - before) / len(queued)
                data["per_message_own_bytes"] = (room_bytes(r, room_ids) - before_rooms) / len(queued)
                data["queued"] = key_census(r)
            data["rates"][count] = rate = speak(stack, folder, count, queued, data["cpu"])
            cpu = data["cpu"][count]
            print(f"  {count} worker(s): {rate:.1f} delivered/s; {cpu['jobs_waiting']} jobs waiting at the start; "
                  f"{cpu['seconds']:.0f} s; cores used: {cpu['cores']}; worker CPU per message "
                  f"{cpu['worker_cpu_per_message'] * 1000:.1f} ms over {cpu['handed']} (start-up apart: "
                  f"{cpu['start_cpu']:.2f} s); jobs per message {_per(cpu['jobs_per_message'])}",
                  flush=True)
        # py-spy samples hundreds of times a second and takes a core's share meanwhile: it runs only in a run of
        # its own after the measured ones (the worker, with 1 worker dyno), whose rate and CPU are not reported.
        if profile_workers:
            profile, profiled = folder / "profile.txt", {}
            rate = speak(stack, folder, 1, type_messages(stack, room_ids[:batch]), profiled, profile=profile)
            data["profiled"] = {1: {"rate": rate, **profiled[1]}}
            data["profile"] = summarize_profile([profile], breakdown=PROFILE_BREAKDOWN)
            print(f"  py-spy, the worker and its work horses, 1 worker (a run of its own: {rate:.1f} delivered/s, "
                  f"worker CPU/message {profiled[1]['worker_cpu_per_message'] * 1000:.1f} ms while py-spy watched):"
                  f"\n{data['profile']}", flush=True)
        workers = start_workers(stack, 1, folder, name="end")  # runs the last watchdogs and checks
        try:
            hang_up(stack, room_ids)
            wait_for(lambda: r.zcard(room_keys.LIVE) == 0, 120, "every room to end")
            time.sleep(RETENTION + 1)
            wait_for(lambda: next(r.scan_iter("room:*", count=1000), None) is None, 60, "the rooms' keys to expire")
            wait_for(lambda: scheduled_jobs(r) == 0, 180, "the last watchdogs and checks to run")
            queue_idle(stack.redis, timeout=180)
        finally:
            stop_workers(workers)
        data["after_bytes"] = used_memory(r)
        data["after_clients"] = clients(r)
        data["after"] = census = key_census(r)
        print(f"  after retention: {data['after_bytes'] - data['start_bytes']:+d} bytes vs start; {by_kind(census)}; "
              f"longest TTL {census['longest_ttl']} s ({census['longest_key']}); no TTL: {census['no_ttl']}", flush=True)
        if wait_expiry:
            time.sleep(census["longest_ttl"] + 2)
            data["expired_bytes"] = used_memory(r)
            data["expired"] = census = key_census(r)
            print(f"  {data['after']['longest_ttl']} s later: {data['expired_bytes'] - data['start_bytes']:+d} bytes "
                  f"vs start; {by_kind(census)}; no TTL: {census['no_ttl']}", flush=True)
    if profile_workers:
        data["simulator_profile"], data["simulator_cpu"] = simulator_cpu.run()
        print(f"  the simulator's threads, each profiled on its own CPU clock (bench/simulator_cpu.py):\n"
              f"{data['simulator_profile']}", flush=True)
    return _table(data), data


def _per(figures: dict[str, float]) -> str:
    """`check_room 16.7, announce_next 2.1`, largest first."""
    return ", ".join(f"{k} {v:.2f}" for k, v in sorted(figures.items(), key=lambda kv: -kv[1])) or "none"


def _table(d: dict) -> Table:
    table = Table()
    idle = d["idle"]
    table.add("4 scale", f"{d['rooms']} waiting rooms, nothing typed: loop fetches/s, GET Calls/s",
              f"{idle['loop_fetches']:.1f}, {idle['get_calls']:.1f}",
              note=f"over {idle['seconds']:.0f} s, 2 workers; jobs/s: {_per(idle['jobs'])}; jobs waiting "
                   f"{idle['queued'][0]} -> {idle['queued'][1]}{'' if idle['caught_up'] else ' (never caught up)'}; "
                   f"cores used: {idle['cores']}")
    for workers, rate in d["rates"].items():
        cpu = d["cpu"][workers]
        table.add("4 scale", f"{d['rooms']} live rooms: messages delivered/s, {workers} worker(s)", f"{rate:.1f}",
                  note=f"{d['batch']} messages queued, one per room, behind {cpu['jobs_waiting']} jobs; worker CPU/message "
                       f"{cpu['worker_cpu_per_message'] * 1000:.1f} ms after start-up ({cpu['start_cpu']:.2f} s of CPU); "
                       f"jobs/message: {_per(cpu['jobs_per_message'])}; "
                       f"cores used: {cpu['cores']}")
    for workers, run in d.get("profiled", {}).items():
        table.add("4 scale", f"… the same with py-spy watching the worker (not a figure), {workers} worker(s)",
                  f"{run['rate']:.1f}",
                  note=f"a run of its own after the measured ones; worker CPU/message "
                       f"{run['worker_cpu_per_message'] * 1000:.1f} ms; cores used: {run['cores']}")
    if d.get("simulator_cpu"):
        sim = d["simulator_cpu"]
        table.add("4 scale", "the simulator's CPU per message, by part (thread profile, 200 rooms)",
                  ", ".join(f"{name} {100 * v / sim['total_ms']:.0f}%" for name, v in sim["parts_ms"].items()),
                  note=f"bench/simulator_cpu.py: {sim['messages']} messages, each of the simulator's threads under "
                       "cProfile on its own CPU clock (shares; the profiled ms are several times the real ones)")
    keys_delta = sum(d["live"]["bytes"].values()) - sum(d["start"]["bytes"].values())
    table.add("4 scale", "Redis memory per live room", f"{(d['live_bytes'] - d['start_bytes']) / d['rooms'] / 1024:.2f} KiB",
              note=f"used_memory less client and AOF buffers; all keys' MEMORY USAGE {keys_delta / d['rooms'] / 1024:.2f} KiB, of which the room's own "
                   f"keys {d['room_own_bytes'] / d['rooms'] / 1024:.2f} KiB; largest: {by_kind(d['live'], 3)}")
    table.add("4 scale", "Redis memory per queued message", f"{d['per_message_bytes'] / 1024:.2f} KiB",
              note=f"its own keys {d['per_message_own_bytes'] / 1024:.2f} KiB; the rest its announce_next job "
                   f"(and any the waiting loop enqueued meanwhile); {d['batch']} messages")
    after = d["after"]
    audit_growth = after["bytes"].get("audit", 0) - d["start"]["bytes"].get("audit", 0)
    table.add("4 scale", f"Redis memory after every room ended + {RETENTION} s retention, vs start",
              f"{(d['after_bytes'] - d['start_bytes']) / 1024 / 1024:+.1f} MiB",
              note=f"used_memory less client and AOF buffers; less the audit trail (an entry per typed message, "
                   f"kept AUDIT_RETENTION_SECONDS, not a room's) {(d['after_bytes'] - d['start_bytes'] - audit_growth) / 1024 / 1024:+.1f} MiB; all keys' MEMORY USAGE "
                   f"{(sum(after['bytes'].values()) - sum(d['start']['bytes'].values())) / 1024:+.0f} KiB, "
                   f"room keys left: {sum(v for k, v in after['keys'].items() if k.startswith('room'))}, "
                   f"Redis clients {d['start_clients']} -> {d['after_clients']}; left: {by_kind(after, 3)}; "
                   f"longest TTL {after['longest_ttl']} s; without TTL: {', '.join(after['no_ttl']) or 'none'}")
    if "expired" in d:
        table.add("4 scale", f"… and {after['longest_ttl']} s later (every TTL passed), vs start",
                  f"{(d['expired_bytes'] - d['start_bytes']) / 1024 / 1024:+.2f} MiB",
                  note=f"left: {by_kind(d['expired'], 3) or 'nothing'}")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=1000,
                        help="messages each worker count speaks, one per room (at most --rooms)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--idle", type=float, default=60,
                        help="seconds the waiting rooms are measured idle (at least check_room's 60 s)")
    parser.add_argument("--wait-expiry", action="store_true",
                        help="then wait for the longest TTL left and measure again")
    args = parser.parse_args()
    started = time.monotonic()
    table, data = run(args.rooms, tuple(args.workers), args.batch, args.idle, args.wait_expiry)
    text = table.render()
    if data.get("profile"):
        text += f"\n\npy-spy, the RQ worker and its work horses (a run of its own, 1 worker):\n{data['profile']}"
    if data.get("simulator_profile"):
        text += f"\n\nthe simulator's CPU, by thread profile (bench/simulator_cpu.py):\n{data['simulator_profile']}"
    print(text)
    print(f"\n(took {time.monotonic() - started:.0f} s; saved to {save('scale', text, {'machine': machine(), **data})})")


if __name__ == "__main__":
    main()
