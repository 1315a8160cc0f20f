"""Twilio Voice conferences: the Conference and Participant resources, their lifecycle,
status callbacks, hold music and announcements (twilio.com/docs/voice/conference)."""
