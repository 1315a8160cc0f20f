"""Twilio Programmable Voice calls: the Call resource, the call state machine, TwiML on calls."""
