"""What callchat logs never holds a party's whole phone number: numbers are partly hidden
(`+8190••••5678`), and a masked call's lines never show both parties.

Run without `-p no:logging`: these tests read the log records with pytest's caplog.
"""

from __future__ import annotations

import logging

import pytest

from callchat.numbers import redact, redact_text
from tests.conftest import CALLER, OWNER, open_session

A, B = "+819011112222", "+819033334444"
CALLEE = "+819055556666"


#: Paths served by the simulator, which plays Twilio and the phones: its access log is not callchat's.
SIMULATOR_PATHS = (" /_sim/", " /2010-04-01/", " /v1/")


def callchat_records(caplog) -> list[str]:
    """Every record callchat's web app and jobs wrote: not the simulator's own log, nor its server's access log."""
    return [record.getMessage() for record in caplog.records if not record.name.startswith("simulator")
            and not (record.name == "werkzeug" and any(path in record.getMessage() for path in SIMULATOR_PATHS))]


def assert_no_number(lines: list[str], *numbers_: str) -> None:
    """No line holds one of these E.164 numbers, with or without its `+`."""
    for number in numbers_:
        leaked = [line for line in lines if number.lstrip("+") in line]
        assert leaked == [], f"{number} appears in the log"


@pytest.mark.parametrize("masking", ["builtin"], indirect=True)
def test_a_masked_call_logs_neither_party_in_full_and_never_both(masking, caplog):
    caplog.set_level(logging.INFO)
    session = open_session(masking, "buyer-1", A, B)
    assert session["status"] == "ready", session
    masking.sim.phone(A).call(session["numbers"]["a"]["calls"])
    masking.settle()
    assert any(c["direction"] == "incoming" for c in masking.sim.phone(B).calls()), "B's phone rang"

    lines = callchat_records(caplog)
    assert_no_number(lines, A, B)
    assert any("masked call" in line and session["id"] in line for line in lines), "the line names the session"
    assert not any(redact(A) in line and redact(B) in line for line in lines), "never both parties on one line"


def test_an_incoming_call_the_owner_and_a_dialed_callee_are_hidden_in_the_log(stack, caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    stack.app.config["OWNER_PHONE"] = OWNER
    monkeypatch.setenv("OWNER_PHONE", OWNER)  # the in-process worker reads its environment
    room_id = stack.call_in()
    assert any(c["direction"] == "incoming" for c in stack.sim.phone(OWNER).calls()), "the owner was dialed in"
    stack.user.open_room(room_id)
    assert stack.user.post(f"/rooms/{room_id}/calls", {"to": CALLEE}).status_code == 202
    stack.settle()
    assert stack.sim.phone(CALLEE).calls(), "the callee was dialed"

    lines = callchat_records(caplog)
    assert_no_number(lines, CALLER, OWNER, CALLEE)
    assert any(f"from {redact(CALLER)}" in line for line in lines), "the caller shows partly hidden"
    assert any(redact(CALLEE) in line for line in lines), "the callee shows partly hidden"


@pytest.mark.parametrize("number, shown", [
    ("+819012345678", "+8190••••5678"),
    ("+14155550100", "+141••••0100"),
    ("+81312345678", "+8131•••5678"),
    ("+2901234", "+•••••34"),  # too short to show more than its end
    ("client:alice", "•••"),
    ("", "•••"),
])
def test_redact_keeps_the_country_code_two_digits_and_the_last_four(number, shown):
    assert redact(number) == shown


def test_ids_with_long_digit_runs_are_not_taken_for_numbers():
    """Bug: RQ's job ids in the worker's log came out as `d6c9d112-709e-••••••54-…`."""
    for job_id in ("d6c9d112-709e-4123-8054-123456789abc", "0f1e2d3c-4123-8054-9999-000011112222"):
        assert redact_text(f"job {job_id} done") == f"job {job_id} done"


def test_numbers_inside_a_message_are_hidden():
    assert redact_text("'090-1234-5678' is not a valid phone number.") == "'09•••••5678' is not a valid phone number."
    assert redact_text("The number +819012345678 is unverified (21608).") == "The number +8190••••5678 is unverified (21608)."


def test_a_failed_jobs_exception_is_logged_with_its_numbers_hidden(stack, caplog, monkeypatch):
    own = "+815099990000"  # not the account's number: Twilio refuses to dial the owner from it (21210, quoting it)
    monkeypatch.setenv("OWNER_PHONE", OWNER)
    monkeypatch.setenv("TWILIO_PHONE_NUMBER", own)  # the worker's settings only
    stack.app.config["OWNER_PHONE"] = OWNER
    caplog.set_level(logging.INFO)
    stack.call_in()
    assert stack.sim.phone(OWNER).calls() == [], "Twilio refused the owner's dial"

    failures = [line for line in callchat_records(caplog) if "exception raised while executing" in line]
    assert failures and "Unable to create record" in failures[0], "RQ logged the job's exception"
    assert redact(own) in failures[0]
    assert_no_number(callchat_records(caplog), own, CALLER, OWNER)
