"""gunicorn settings shared by the Procfile and Procfile.dev (docs.gunicorn.org/en/stable/settings.html).

gevent workers: every open chat page holds a Server-Sent-Events stream, and with
greenlets those never take a thread that Twilio's webhooks need.
"""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
worker_class = "gevent"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_connections = 1000
timeout = 30
graceful_timeout = 5
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
