"""The approaches people would use instead of callchat, written minimally and faithfully, for the benchmarks."""
