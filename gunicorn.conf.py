"""Gunicorn settings for every deployment: gunicorn -c gunicorn.conf.py wsgi:app

Values come from Paimon's settings (docs/configuration.md), so a bad setting stops
the server here, before any worker starts, with one line per bad field.
"""

import sys
from pathlib import Path

from paimon.bootstrap import process
from paimon.observability import multiproc
from paimon.observability.logs import gunicorn_logconfig
from paimon.server.allocator import restart_with_lean_malloc
from paimon.server.hooks import child_exit, on_exit, worker_exit
from paimon.server.preflight import exit_unless_startable

# First, before anything allocates much: the master starts itself again, once, with
# glibc's malloc tuned for many threads that hold little; workers inherit it
# (paimon/server/allocator.py; an operator's own GLIBC_TUNABLES malloc setting wins).
restart_with_lean_malloc()

# Server hooks, named so gunicorn finds them in this file's namespace.
__all__ = ["child_exit", "on_exit", "worker_exit"]

# Read once here, in the master (and again on a reload): the worker class, the hooks and
# the workers use this reading (paimon/bootstrap/process.py).
_settings = process.reload_or_exit(warn_unknown=True)
# A data directory this user cannot write, or a port in use, is one line and exit 2
# here, not a traceback per worker or gunicorn retrying for 5 s (not when gunicorn only
# prints or checks this file).
if not {"--print-config", "--check-config"} & set(sys.argv):
    exit_unless_startable(_settings.host, _settings.port, _settings.data_dir)
# Before anything imports prometheus_client (the worker class does): metrics are summed
# over the workers through this directory (paimon/observability/multiproc.py).
multiproc.use_metrics_dir()

_host = f"[{_settings.host}]" if ":" in _settings.host else _settings.host
bind = f"{_host}:{_settings.port}"
# PAIMON_WORKERS / WEB_CONCURRENCY, else what the container's CPU and memory allow; each
# worker admits its share of the upload slots (the same plan, paimon/bootstrap/wiring.py).
_plan = process.worker_plan(_settings)
workers = _plan.workers
# gthread: a long upload holds one thread, not the worker, so health checks and other
# requests keep being answered; the worker's heartbeat does not depend on requests.
# Paimon's subclass keeps idle and slow connections off the threads until they send
# (docs/architecture.md, "Many slow clients") and answers malformed HTTP as JSON, never
# quoting it (docs/security.md).
worker_class = "paimon.server.worker.JsonErrorThreadWorker"
# One thread per upload slot (the app admits no more bodies than that), and
# PAIMON_THREADS more, so health, status and downloads never wait behind uploads.
threads = _plan.threads
# Connections held per worker: idle and kept-alive ones wait in the worker's poller and
# cost no thread, only a file descriptor (the worker raises its limit to match).
worker_connections = 4096
# With gthread, `timeout` bounds a stuck worker's heartbeat, not a request: multi-minute
# uploads are fine. graceful_timeout gives in-flight uploads time to finish on deploys;
# it must end before the platform's SIGKILL (docs/deployment.md, "Shutdown window").
timeout = 120
graceful_timeout = _settings.graceful_timeout_seconds
# Longer than the idle timeout of Render's proxy (and most load balancers, 60 s), so the
# proxy, not gunicorn, closes idle keep-alive connections and no request hits a closed one.
keepalive = 75
forwarded_allow_ips = _settings.forwarded_allow_ips
# A heartbeat file in memory, not on a possibly slow container disk.
worker_tmp_dir = "/dev/shm" if Path("/dev/shm").is_dir() else None  # noqa: S108
# No control socket (gunicorn 25+, for gunicornc): Paimon does not use it, gunicorn puts
# it under $HOME, which the Docker image's user cannot write, and two servers sharing a
# HOME would each replace the other's.
control_socket_disable = True
# Paimon logs each request itself, with its request id and the worker's pid
# (paimon/web/requestlog.py), so gunicorn's access log is off; gunicorn's own lines
# go through the same JSON or text formatter (docs/observability.md).
accesslog = None
errorlog = "-"
loglevel = _settings.log_level.lower()
logconfig_dict = gunicorn_logconfig(_settings.log_level, _settings.log_format)


def when_ready(server):
    server.log.info("%d workers, decided by %s", server.cfg.workers, _plan.decided_by)
