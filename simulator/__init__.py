"""A local Twilio: REST API v2010, signed webhooks, strict TwiML and scriptable virtual phones."""

from .client import PhoneHandle, SimulatorClient, SimulatorError
from .server import SimulatorServer, create_simulator

__all__ = ["SimulatorServer", "create_simulator", "SimulatorClient", "PhoneHandle",
           "SimulatorError"]
