"""Profile every thread of `python -m simulator` on its own CPU clock, for bench/simulator_cpu.py.

Python imports `sitecustomize` at start-up from its path; bench/simulator_cpu.py puts this folder on
PYTHONPATH and sets SIMULATOR_PROFILE_DIR. Every other process ignores it. The simulator runs a thread
per call and per connection, too many for a sampling profiler (py-spy took 22 samples of 1,000 threads
in a scale run), so each of its threads runs under a `cProfile.Profile` of its own, timed with
`time.thread_time` (the thread's CPU seconds: waiting costs nothing). Touching `<dir>/<name>.flag`
makes a daemon thread write the sum over all threads so far to `<dir>/<name>.marshal` as
{(file, line, function): (calls, primitive calls, cumulative s, own s)} and remove the flag; two
snapshots, before and after a run, give that run's CPU by function.
"""

import os
import sys

if os.environ.get("SIMULATOR_PROFILE_DIR") and sys.orig_argv[1:3] == ["-m", "simulator"]:
    import cProfile
    import marshal
    import threading
    import time
    from pathlib import Path

    _folder = Path(os.environ["SIMULATOR_PROFILE_DIR"])
    _profiles: list[cProfile.Profile] = []
    _unprofiled_run = threading.Thread.run

    def _profiled_run(self):
        profile = cProfile.Profile(time.thread_time)
        _profiles.append(profile)
        profile.enable()
        try:
            _unprofiled_run(self)
        finally:
            profile.disable()

    def _snapshot(path: Path) -> None:
        total: dict = {}
        for profile in list(_profiles):
            for entry in profile.getstats():
                code = entry.code
                key = ((code.co_filename, code.co_firstlineno, code.co_name) if hasattr(code, "co_filename")
                       else ("~", 0, str(code)))
                calls, primitive, cumulative, own = total.get(key, (0, 0, 0.0, 0.0))
                total[key] = (calls + entry.callcount, primitive + entry.callcount - entry.reccallcount,
                              cumulative + entry.totaltime, own + entry.inlinetime)
        partial = path.with_suffix(".partial")
        partial.write_bytes(marshal.dumps(total))
        partial.rename(path)

    def _watch() -> None:
        while True:
            time.sleep(0.2)
            for flag in _folder.glob("*.flag"):
                _snapshot(flag.with_suffix(".marshal"))
                flag.unlink()

    threading.Thread(target=_watch, daemon=True, name="simulator-profile").start()  # itself not profiled
    threading.Thread.run = _profiled_run
    _main = cProfile.Profile(time.thread_time)  # the main thread: the server's accept loop
    _profiles.append(_main)
    _main.enable()
