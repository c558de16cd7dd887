"""gunicorn settings for the web role; the Procfile runs `gunicorn -c gunicorn.conf.py config.wsgi`.

Read from the same environment variables as the Django settings, with the same strict readers.
"""

from __future__ import annotations

from config.env import env_bool, env_int, env_str

bind = f"{env_str('HOST', '127.0.0.1')}:{env_int('PORT', 8000, minimum=0)}"
workers = env_int("WEB_CONCURRENCY", 2, minimum=1)
accesslog = "-"

# gunicorn believes X-Forwarded-Proto (and rewrites wsgi.url_scheme) from any address listed
# here, loopback by default: anyone on the machine could then pass for HTTPS. Trust no one
# unless the operator says a proxy sets the header (TRUST_X_FORWARDED_PROTO, as Django does).
if env_bool("TRUST_X_FORWARDED_PROTO", default=False):
    forwarded_allow_ips = env_str("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
else:
    forwarded_allow_ips = ""

# The admin's test fetch runs in the request and may take the whole fetch deadline, then parse
# what arrived (up to FETCH_MAX_BYTES: about half a minute at the default 50 MB); the worker
# must outlive both so the operator gets an answer, not a killed worker.
timeout = env_int("FETCH_TIMEOUT_SECONDS", 30, minimum=1) + 60
