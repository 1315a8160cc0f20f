"""seeds/003 ("出んわ", Twilio Advent Calendar 2015), minimally and faithfully: every message is a phone call.

The article's Flask app, as it describes it (its gist is not in the seed text; the
routes and their roles are):

- `index`: the Twilio number's voice webhook. A caller's call makes Twilio call the
  app's user, and both reach `conference_joined`, which puts them in one conference
  room, the user muted. When Twilio calls *its own number* (From == To), `index`
  joins that call to the same conference instead.
- `message_req`: the user POSTs a `message`; it is pushed to Redis, and the app asks
  Twilio (REST, Calls) to call the app's own number with `message_res` as its TwiML.
- `message_res`: pops the message from Redis and says it (`<Say>`; `<Play>` works
  the same way). The call's audio reaches the conference through the leg that
  `index` joined; the call ends when the TwiML does.

So each message costs one outbound call and one inbound call (both billed), and
the call's set-up time. The article says so: "メッセージを流すたびに発信料金がかかる".

Today's Twilio refuses a call From == To (error 21266); the simulator allows it
with SIM_LOOPBACK_CALLS=1, reproducing the 2015 behaviour the seed relied on.

Settings (environment): TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, SEED_NUMBER (the
app's Twilio number), SEED_USER (the user's phone), PUBLIC_BASE_URL, REDIS_URL and
optionally TWILIO_API_BASE (another base URL for Twilio's REST API: the simulator).

    gunicorn --config gunicorn.conf.py --bind 127.0.0.1:5002 bench.baselines.seed003:app
"""

import os
from urllib.parse import urlsplit, urlunsplit

from flask import Flask, request
from redis import Redis
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio.twiml.voice_response import Dial, VoiceResponse

ROOM = "denwa"


class _Rebased(TwilioHttpClient):
    """Sends `*.twilio.com` requests to TWILIO_API_BASE instead (the simulator)."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = urlsplit(base)

    def request(self, method, url, *args, **kwargs):
        parts = urlsplit(url)
        url = urlunsplit((self.base.scheme, self.base.netloc, parts.path, parts.query, ""))
        return super().request(method, url, *args, **kwargs)


app = Flask(__name__)
redis = Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), decode_responses=True)
api_base = os.environ.get("TWILIO_API_BASE")
client = Client(os.environ["TWILIO_ACCOUNT_SID"], os.environ["TWILIO_AUTH_TOKEN"],
                http_client=_Rebased(api_base) if api_base else None)
NUMBER = os.environ["SEED_NUMBER"]
USER = os.environ["SEED_USER"]
BASE = os.environ["PUBLIC_BASE_URL"].rstrip("/")


@app.route("/", methods=["POST"])
def index():
    if request.form.get("From") == request.form.get("To"):  # Twilio called itself: join, to speak a message
        return conference_joined()
    client.calls.create(to=USER, from_=NUMBER, url=f"{BASE}/conference_joined?muted=true")
    resp = VoiceResponse()
    resp.redirect(f"{BASE}/conference_joined")
    return str(resp)


@app.route("/conference_joined", methods=["POST"])
def conference_joined():
    resp = VoiceResponse()
    dial = Dial()
    dial.conference(ROOM, muted=request.args.get("muted") == "true")
    resp.append(dial)
    return str(resp)


@app.route("/message_req", methods=["POST"])
def message_req():
    redis.rpush("messages", request.form["message"])
    client.calls.create(to=NUMBER, from_=NUMBER, url=f"{BASE}/message_res")
    return "OK"


@app.route("/message_res", methods=["POST"])
def message_res():
    message = redis.lpop("messages")
    resp = VoiceResponse()
    if message:
        resp.say(message, language="ja-JP")
    return str(resp)
