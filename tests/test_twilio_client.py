"""The HTTP under callchat's Twilio REST client (`callchat.twilio_client.PooledHttpClient`): which requests go through
an HTTPS proxy, and what a caller sees when the proxy refuses."""

from __future__ import annotations

import pytest
import requests
from twilio.rest import Client

from callchat.twilio_client import PooledHttpClient
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN


def test_requests_to_twilio_go_through_the_https_proxy(monkeypatch, receiver):
    """An HTTPS proxy (`HTTPS_PROXY`) is asked for a tunnel to api.twilio.com:443; when it refuses, the caller gets
    requests' ConnectionError, the lost answer that `jobs.announce` and `jobs.backoff` handle."""
    monkeypatch.setenv("HTTPS_PROXY", receiver.url)
    client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=PooledHttpClient(timeout=5))
    with pytest.raises(requests.exceptions.ConnectionError):
        client.calls.list(limit=1)
    assert [(hit["method"], hit["path"]) for hit in receiver.received] == [("CONNECT", "api.twilio.com:443")]


def test_requests_to_the_simulator_never_go_through_the_proxy(monkeypatch, receiver, stack):
    """A developer whose shell sets HTTPS_PROXY still reaches the simulator (`TWILIO_API_BASE`)."""
    monkeypatch.setenv("HTTPS_PROXY", receiver.url)
    client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=PooledHttpClient(stack.sim.base_url, timeout=5))
    assert client.calls.list(limit=1) == []
    assert receiver.received == []
