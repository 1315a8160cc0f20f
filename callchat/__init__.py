"""callchat's shared core: settings, Redis state, TwiML and the Twilio client.

Blueprints (HTTP) and jobs (RQ) both build on these modules; nothing here
serves HTTP or runs as a job by itself.
"""
