"""The minimal Flask voice app that Twilio's Python quickstart teaches: one route, one `VoiceResponse`.

twilio.com/docs/voice/quickstart/python ("Respond to incoming phone calls"): no
signature check, no Redis. bench/webhooks.py serves it under the same gunicorn
settings as callchat:

    gunicorn --config gunicorn.conf.py --bind 127.0.0.1:5001 bench.baselines.quickstart:app
"""

from flask import Flask
from twilio.twiml.voice_response import VoiceResponse

app = Flask(__name__)


@app.route("/voice", methods=["GET", "POST"])
def voice():
    """Respond to incoming phone calls with a 'Hello world' message."""
    resp = VoiceResponse()
    resp.say("Thank you for calling! Have a great day.", voice="Polly.Amy")
    return str(resp)
