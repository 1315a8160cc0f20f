"""The floor of a new-call webhook: the quickstart's app plus only what any stored, signed webhook must do.

Twilio's quickstart (bench/baselines/quickstart.py) answers with TwiML and nothing else. A webhook
that keeps the call must also check `X-Twilio-Signature` (twilio.com/docs/usage/security, with
twilio-python's `RequestValidator`, one HMAC), store the call in Redis (one `SET … NX EX` round trip, over a
`BlockingConnectionPool` with the options callchat's web app uses) and send the caller on to a
next URL (`<Redirect>`). No logging, no jobs, no hooks. bench/webhooks.py serves it under the
same gunicorn settings as callchat and the quickstart, so callchat's new call can be read against
what a webhook of its kind costs at the least:

    REDIS_URL=redis://127.0.0.1:6379/0 TWILIO_AUTH_TOKEN=… PUBLIC_BASE_URL=http://127.0.0.1:5002 \
        gunicorn --config gunicorn.conf.py --bind 127.0.0.1:5002 bench.baselines.floor:app
"""

import os

from flask import Flask, abort, request
from redis import BlockingConnectionPool, Redis
from twilio.request_validator import RequestValidator, compare
from twilio.twiml.voice_response import VoiceResponse

app = Flask(__name__)
redis = Redis(connection_pool=BlockingConnectionPool.from_url(
    os.environ["REDIS_URL"], max_connections=20, timeout=5, decode_responses=True, socket_timeout=5,
    socket_connect_timeout=2, health_check_interval=30))
validator = RequestValidator(os.environ["TWILIO_AUTH_TOKEN"])
#: The URL Twilio calls this app at (what it signs).
BASE = os.environ["PUBLIC_BASE_URL"]


@app.post("/voice/incoming")
def incoming():
    """Check the signature, store the call once (Twilio may repeat a webhook), greet the caller, redirect."""
    # One HMAC, of the URL exactly as called (RequestValidator.validate would compute two, with and without the port).
    if not compare(validator.compute_signature(BASE + request.path, request.form),
                   request.headers.get("X-Twilio-Signature", "")):
        abort(403)
    call_sid = request.form["CallSid"]
    redis.set(f"call:{call_sid}", request.form.get("From", ""), nx=True, ex=3600)
    response = VoiceResponse()
    response.say("Thank you for calling! Have a great day.", voice="Polly.Amy")
    response.redirect(f"{BASE}/voice/calls/{call_sid}/wait", method="POST")
    return str(response)
