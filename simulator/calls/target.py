"""TwiML heard on a call: what every document a call runs shares, whatever fetched it."""

from __future__ import annotations

from ..conferences.models import Conference
from ..core.kernel import Kernel
from ..twiml import interpreter
from . import callbacks, signals
from .models import Call

__all__ = ["OnCall"]


class OnCall(interpreter.Target):
    """A document running on one call: its phone hears it, each fetch carries the call's
    voice request parameters (twilio.com/docs/voice/twiml#request-parameters), and a
    hangup or a modification of the call stops it before the next verb."""

    def __init__(self, kernel: Kernel, call: Call, conference: Conference | None = None) -> None:
        super().__init__(kernel, call.world, call.sid, conference)
        self.call = call

    def params(self) -> dict[str, str]:
        return callbacks.voice_params(self.call)

    def listeners(self) -> list[Call]:
        return [self.call]

    def going_on(self) -> bool:
        signals.check(self.kernel, self.call)
        return super().going_on()
