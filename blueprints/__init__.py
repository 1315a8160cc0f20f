"""Blueprints: HTTP only. They validate input, write to Redis, enqueue jobs and answer fast."""
