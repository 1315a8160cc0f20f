"""Creating call records: every new leg is registered here, whoever places it."""

from __future__ import annotations

from typing import Any

from ..core import timeline
from ..core.ids import is_e164, new_sid
from ..core.kernel import Kernel
from ..phones import backend as phones
from ..world import World
from .models import Call

__all__ = ["new_call"]


def new_call(kernel: Kernel, world: World, **fields: Any) -> Call:
    """Create and register a Call (lock held); the virtual phones on it record it.

    Its PhoneNumberSid is that of the account number it is to (inbound) or from.

    Args:
        fields: Call fields: direction, from_, to, status, and any other.
    """
    now = kernel.clock.now()
    call = Call(sid=new_sid("CA"), account_sid=kernel.account_sid, created_at=now,
                updated_at=now, world=world, **fields)
    number = world.numbers.get(call.to) or world.numbers.get(call.from_)
    if number is not None:
        call.phone_number_sid = number.sid
    world.calls[call.sid] = call
    for party in {call.from_, call.to} - set(world.numbers):
        if is_e164(party):
            phones.phone(kernel, world, party).call_sids.append(call.sid)
    timeline.record(kernel, world, "status", call_sid=call.sid, status=call.status,
                    direction=call.direction, **{"from": call.from_, "to": call.to})
    return call
