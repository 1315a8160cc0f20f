"""Twilio Proxy v1: services, number pools, sessions, participants and masked calls
(twilio.com/docs/proxy/api)."""
