"""Health check for the platform's router and for people: is Redis reachable?"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from redis.exceptions import RedisError

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """200 `{"status": "ok"}` when Redis answers PING; 503 with the reason otherwise."""
    try:
        current_app.redis.ping()
    except RedisError as exc:
        return jsonify(status="unavailable", reason=f"Redis is unreachable: {exc}"), 503
    return jsonify(status="ok")
