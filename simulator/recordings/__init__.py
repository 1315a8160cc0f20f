"""Recordings: the Recording resource and its media (what ``<Record>`` made)."""
