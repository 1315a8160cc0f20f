"""What every Twilio service of the simulator shares: the kernel (one lock, the clock, the
world), the ledger of in-flight work, the timeline, webhook delivery and REST plumbing."""
