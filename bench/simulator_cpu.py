"""Where the simulator's CPU goes per announced message: every thread profiled on its own CPU clock.

Item 4 asks for the simulator under half a core while 1,000 rooms are spoken to; py-spy cannot
follow its thousand threads (a thread per call and per connection). This runs `make run`'s
processes as bench/scale.py does, but with the simulator's threads each under a `cProfile`
timed by `time.thread_time` (bench/simulator_profile/sitecustomize.py), opens `--rooms` rooms
(lone callers, OWNER_PHONE unset), then speaks `--batches` batches of one message per room with
2 workers. A snapshot before and after the batches gives their CPU by function.

It prints the CPU per message (as profiled: cProfile's own cost included, so several times the
real figure; the shares are what to read) split into:

- webhooks sent: `simulator.core.webhooks.send`: signing, form-encoding, the HTTP exchange and reading
  the answer (the lone caller's `…/speak` and `…/spoken`);
- REST served: every request the simulator answered (its HTTP server's threads): the call updates
  that redirect each call to its message, plus any other;
- the TwiML interpreter's own: `simulator.twiml.interpreter.run` less the webhooks it sends
  (parsing, `<Say>` timing, the clock, the timeline);
- the rest (other threads: the delivery drains, the accept loop);

and the functions with the most CPU of their own.

    .venv/bin/python bench/simulator_cpu.py [--rooms 200] [--batches 2]
"""

from __future__ import annotations

import argparse
import marshal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import scale  # noqa: E402
from bench.common import callers, dev_stack, open_rooms, start_workers, stop_workers, wait_for  # noqa: E402

PROFILER = Path(__file__).resolve().parent / "simulator_profile"
#: (part, file suffix, function) whose cumulative CPU is that part's (see the module docstring).
PARTS = (("webhooks sent", "simulator/core/webhooks.py", "send"),
         ("REST served", "socketserver.py", "process_request_thread"),
         ("TwiML interpreter", "simulator/twiml/interpreter.py", "run"))


def _snapshot(folder: Path, name: str) -> dict:
    """Have the simulator write its threads' CPU by function so far; return it."""
    out = folder / f"{name}.marshal"
    (folder / f"{name}.flag").touch()
    wait_for(out.exists, 60, "the simulator's profile snapshot")
    return marshal.loads(out.read_bytes())


def _cumulative(stats: dict, suffix: str, function: str) -> float:
    return sum(v[2] for (file, _, name), v in stats.items() if file.endswith(suffix) and name == function)


def run(rooms: int = 200, batches: int = 2) -> tuple[str, dict]:
    """Measure; return the summary and the figures (ms of profiled CPU per message by part and by function)."""
    with tempfile.TemporaryDirectory(prefix="callchat-bench-simcpu-") as tmp:
        folder = Path(tmp)
        settings = {**scale.SETTINGS, "PYTHONPATH": str(PROFILER), "SIMULATOR_PROFILE_DIR": str(folder)}
        with dev_stack(settings, processes=("redis", "web", "simulator")) as stack:
            workers = start_workers(stack, 2, folder, name="setup")
            try:
                room_ids = open_rooms(stack, callers(rooms, 90), timeout=120)
            finally:
                stop_workers(workers)
            before = _snapshot(folder, "before")
            messages, rates = 0, []
            for _ in range(batches):
                queued = scale.type_messages(stack, room_ids)
                rates.append(scale.speak(stack, folder, 2, queued, {}))
                messages += len(queued)
            time.sleep(1)  # the last `…/spoken` fetches
            after = _snapshot(folder, "after")
    used = {key: tuple(a - b for a, b in zip(value, before.get(key, (0, 0, 0.0, 0.0)))) for key, value in after.items()}
    total = sum(v[3] for v in used.values())
    per = lambda seconds: seconds / messages * 1000  # noqa: E731  (ms per message)
    parts = {name: _cumulative(used, suffix, function) for name, suffix, function in PARTS}
    parts["TwiML interpreter"] -= parts["webhooks sent"]  # the webhooks are sent from inside the interpreter
    parts["the rest"] = total - sum(parts.values())
    own = sorted(used.items(), key=lambda kv: -kv[1][3])[:12]
    figures = {"messages": messages, "rates": rates, "total_ms": per(total),
               "parts_ms": {name: per(v) for name, v in parts.items()},
               "own_ms": {f"{name} ({'/'.join(file.split('/')[-2:])}:{line})": per(v[3]) for (file, line, name), v in own}}
    lines = [f"{messages} messages in {batches} batches of {rooms} rooms ({', '.join(f'{r:.0f}' for r in rates)} a second "
             f"while profiled); profiled CPU per message {figures['total_ms']:.2f} ms (cProfile's cost included):",
             "  " + ", ".join(f"{name} {100 * v / total:.0f}%" for name, v in parts.items()),
             "  own CPU: " + ", ".join(f"{name} {100 * used_ms / figures['total_ms']:.1f}%"
                                       for name, used_ms in figures["own_ms"].items())]
    return "\n".join(lines), figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=200)
    parser.add_argument("--batches", type=int, default=2)
    args = parser.parse_args()
    started = time.monotonic()
    summary, _ = run(args.rooms, args.batches)
    print(summary)
    print(f"\n(took {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
