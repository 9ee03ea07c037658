"""What the server must have before gunicorn binds and forks, checked by the master as
gunicorn.conf.py loads: a data directory this user can write, and a free port.

Without it a taken port is ten JSON lines of gunicorn retrying over five seconds, and a
data directory owned by someone else (a bind mount, a volume made by an older image) is
a traceback in every worker and "Worker failed to boot". Each problem here is one line,
with what to do.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
from pathlib import Path

# gunicorn is handed sockets that are already bound (a systemd socket, or its own
# re-exec on SIGUSR2): the port is then in use by design.
INHERITED_SOCKETS = ("LISTEN_FDS", "GUNICORN_FD")


def data_dir_problem(data_dir: Path) -> str | None:
    """Why this process cannot use ``data_dir`` (made if missing): the directory, or one
    of its entries, is not readable and writable by this user. None when it can."""
    uid, gid = os.getuid(), os.getgid()
    fix = f"give it to this user (chown -R {uid}:{gid} {data_dir}) or set PAIMON_DATA_DIR"
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        entries = [data_dir, *sorted(data_dir.iterdir())]
    except OSError as exc:
        return f"the data directory {data_dir} cannot be used by uid {uid}: {exc.strerror}; {fix}"
    for path in entries:
        needed = os.R_OK | os.W_OK | (os.X_OK if path.is_dir() else 0)
        if not os.access(path, needed):
            owner = path.stat().st_uid
            return (
                f"{path} is owned by uid {owner} and not writable by uid {uid}, which "
                f"runs the server; {fix}"
            )
    return None


def port_problem(host: str, port: int) -> str | None:
    """Why gunicorn could not listen on ``host:port``, found by binding it once as
    gunicorn does (SO_REUSEADDR); None when it can, or when sockets are inherited."""
    if any(os.environ.get(name) for name in INHERITED_SOCKETS):
        return None
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except socket.gaierror as exc:
        return f"cannot listen on {shown}: {exc.strerror}; check PAIMON_HOST"
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return (
                f"port {port} is already in use on {host} (another Paimon, or another "
                f"server?); stop it, or start on another port, e.g. PAIMON_PORT={port + 1}"
            )
        if exc.errno == errno.EACCES:
            return f"cannot listen on {shown}: ports below 1024 need root; use PAIMON_PORT=8000"
        return f"cannot listen on {shown}: {exc.strerror}; check PAIMON_HOST and PAIMON_PORT"
    return None


def exit_unless_startable(host: str, port: int, data_dir: Path) -> None:
    """End the process with one line per problem (exit status 2, as a bad setting)."""
    problems = [p for p in (data_dir_problem(data_dir), port_problem(host, port)) if p]
    for problem in problems:
        print(f"paimon: {problem}", file=sys.stderr)
    if problems:
        raise SystemExit(2)
