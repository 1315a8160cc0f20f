"""A local Twilio: REST API v2010 and Proxy v1, signed webhooks, strict TwiML, virtual phones, a clock."""

from .client import PhoneHandle, SimulatorClient, SimulatorError
from .server import SimulatorServer, create_simulator

__all__ = ["SimulatorServer", "create_simulator", "SimulatorClient", "PhoneHandle",
           "SimulatorError"]
