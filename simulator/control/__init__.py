"""The control API (``/_sim/...``): what tests and the phone page use to drive and inspect
the simulator. Not part of Twilio."""
