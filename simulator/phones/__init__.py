"""Virtual phones: scripted people (or machines) at E.164 numbers, and what they heard."""
