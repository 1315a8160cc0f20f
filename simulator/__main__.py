"""``python -m simulator``: run the simulator from environment variables (or flags).

Latency (``simulator.core.latency``), each seconds as a float, 0 by default (no change):
``SIM_REST_DELAY``/``--rest-delay``: every REST API response is sent this long after its
request arrived; the request is recorded and takes effect on arrival, only the answer
waits (a far-away Twilio: the action happens at Twilio, the answer takes the trip back).
``SIM_WEBHOOK_DELAY``/``--webhook-delay``: each webhook and status callback leaves this
much later (simulated transit), holding up nothing else.
``SIM_SPEECH_SECONDS_PER_CHAR``/``--speech-seconds-per-char``: a Say takes 0.5 s plus this
per character (default 0.06). A bench may change them while running
(``SimulatorClient.set_latency``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from functools import partial

from .core.clock import MODES
from .core import latency
from .server import SimulatorServer

log = logging.getLogger("simulator")


def parse_numbers(value: str | None) -> list[dict[str, str]]:
    """Parse SIM_NUMBERS: comma-separated E.164 numbers, each optionally ``number=voice_url``.

    Example:
        >>> parse_numbers("+815000000001, +815000000002=http://h/voice")
        [{'phone_number': '+815000000001'}, {'phone_number': '+815000000002', 'voice_url': 'http://h/voice'}]

    A number without ``=url`` uses SIM_VOICE_URL (read at each call).
    """
    out = []
    for item in (value or "").split(","):
        number, _, url = item.strip().partition("=")
        if number:
            entry = {"phone_number": number.strip()}
            if url:
                entry["voice_url"] = url.strip()
            out.append(entry)
    return out


def config_from_env(argv: list[str] | None = None) -> dict:
    """Read SIM_HOST, SIM_PORT, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN,
    TWILIO_PHONE_NUMBER, SIM_VOICE_URL, SIM_NUMBERS, SIM_CLOCK, SIM_CLOCK_SPEED,
    SIM_LOOPBACK_CALLS, and the latency settings SIM_REST_DELAY, SIM_WEBHOOK_DELAY and
    SIM_SPEECH_SECONDS_PER_CHAR (seconds, see the module docstring and
    ``simulator.core.latency``); flags override them.

    Returns:
        The config for ``SimulatorServer`` (the latency settings as ``rest_delay``,
        ``webhook_delay`` and ``speech_seconds_per_char``).

    Raises:
        SystemExit: argparse's usage error, naming the flag, for a missing or malformed
            setting.
    """
    env = os.environ
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    parser.add_argument("--host", default=env.get("SIM_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env.get("SIM_PORT", "5100")))
    parser.add_argument("--account-sid", default=env.get("TWILIO_ACCOUNT_SID"))
    parser.add_argument("--auth-token", default=env.get("TWILIO_AUTH_TOKEN"))
    parser.add_argument("--phone-number", default=env.get("TWILIO_PHONE_NUMBER"))
    parser.add_argument("--voice-url", default=env.get("SIM_VOICE_URL"))
    parser.add_argument("--numbers", default=env.get("SIM_NUMBERS"),
                        help="more Twilio numbers: +81...,+81...=http://voice-url")
    parser.add_argument("--clock", choices=MODES, default=env.get("SIM_CLOCK") or "real")
    parser.add_argument("--clock-speed", type=float,
                        default=float(env.get("SIM_CLOCK_SPEED", "1.0")))
    parser.add_argument("--loopback-calls", action="store_true",
                        default=env.get("SIM_LOOPBACK_CALLS", "") not in ("", "0"),
                        help="let the account call its own numbers (From == To), as Twilio "
                             "did in 2015 (bench/baselines/seed003.py needs it)")
    for name, default, help_ in (
            ("rest_delay", "0", "seconds each REST response waits after its request arrived"),
            ("webhook_delay", "0", "seconds each webhook and status callback leaves late"),
            ("speech_seconds_per_char", str(latency.SPEECH_SECONDS_PER_CHAR),
             "simulated seconds of speech per character (a Say takes 0.5 s plus this)")):
        env_name = "SIM_" + name.upper()
        parser.add_argument("--" + name.replace("_", "-"), type=partial(_seconds, env_name),
                            default=env.get(env_name) or default, help=f"{help_} ({env_name})")
    args = parser.parse_args(argv)
    numbers = parse_numbers(args.numbers)
    phone_number = args.phone_number or (numbers[0]["phone_number"] if numbers else None)
    missing = [name for name, value in (("TWILIO_ACCOUNT_SID", args.account_sid),
                                        ("TWILIO_AUTH_TOKEN", args.auth_token),
                                        ("TWILIO_PHONE_NUMBER", phone_number))
               if not value]
    if missing:
        parser.error("missing " + ", ".join(missing))
    return {"host": args.host, "port": args.port, "account_sid": args.account_sid,
            "auth_token": args.auth_token, "phone_number": phone_number,
            "voice_url": args.voice_url, "numbers": numbers, "clock": args.clock,
            "clock_speed": args.clock_speed, "loopback_calls": args.loopback_calls,
            "rest_delay": args.rest_delay, "webhook_delay": args.webhook_delay,
            "speech_seconds_per_char": args.speech_seconds_per_char}


def _seconds(name: str, value: str) -> float:
    """argparse type of the latency flags: seconds >= 0, else a usage error naming ``name``."""
    try:
        return latency.seconds(name, value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    """Serve until interrupted; returns the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the page polls every second
    config = config_from_env(argv)
    try:
        server = SimulatorServer(config)
    except ValueError as exc:
        print(f"simulator: {exc}", file=sys.stderr)
        return 2
    log.info("Simulator phone page: http://%s:%s/", config["host"], config["port"])
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
