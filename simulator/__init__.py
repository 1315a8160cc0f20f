"""A local Twilio: REST API v2010 and Proxy v1, signed webhooks, strict TwiML, virtual phones,
a clock.

Layout (per Twilio service, as moto does: ``models`` hold state and its REST shape,
``backend`` the operations, ``responses`` the REST blueprint):

- ``calls/``: the Call resource; ``runner`` (the call state machine), ``dial``,
  ``callbacks`` (voice request parameters, status callbacks), ``signals``.
- ``conferences/``: Conference and Participant; ``lifecycle`` (join, wait, start,
  leave, end), ``wait`` (hold music), ``events`` (status callbacks), ``announce``.
- ``numbers/``, ``proxy/``, ``phones/`` (virtual phones), ``control/`` (``/_sim``).
- ``twiml/``: ``parser`` and the one ``interpreter`` for calls, announcements and
  hold music.
- ``core/``: the kernel (lock, clock, world), the ``ledger`` of in-flight work and
  settle, ``timeline``, webhook ``delivery``, ``chaos``, ``latency`` (REST and webhook
  delays, speech rate), REST plumbing.
- ``server``: the composition root; ``client`` (and ``phone_handle``): the Python API tests
  use; ``load``: what 1,000 idle calls cost it (``python -m simulator.load``).
"""

from .client import PhoneHandle, SimulatorClient, SimulatorError
from .server import SimulatorServer, create_simulator

__all__ = ["SimulatorServer", "create_simulator", "SimulatorClient", "PhoneHandle",
           "SimulatorError"]
