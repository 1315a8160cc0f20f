"""Settings module for `rq worker -c jobs.worker_config` (the Procfiles' worker).

Importing it in the worker's parent process also imports every job module, so each
forked work horse starts with them (and twilio, phonenumbers, …) already loaded
instead of importing them anew for every job (python-rq.org/docs/workers,
"Performance notes"). bench/redial.py measures the difference. It also checks the
settings before the worker takes any job.
"""

import jobs.announce  # noqa: F401
import jobs.attempts  # noqa: F401
import jobs.dial_owner  # noqa: F401
import jobs.rooms  # noqa: F401
import jobs.sessions  # noqa: F401
import twilio.rest.api.v2010.account  # noqa: F401  (twilio-python loads it lazily, ~42 ms, in every work horse)
from callchat.settings import QUEUE_NAME
from jobs import config

config()  # settings are checked once at start-up: a bad one stops the worker with a message naming it

#: The queues this worker listens to (rq reads UPPERCASE names from this module).
QUEUES = [QUEUE_NAME]
