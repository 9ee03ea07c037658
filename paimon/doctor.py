"""`paimon doctor`: is this environment able to run Paimon? Each check says why not.

Run by scripts/build after installing the lock (``--build``), so a broken environment
fails the build instead of the first upload. Checks only the local environment: it never
logs in to MEGA and never prints a secret.

At build time the data directory and the job store belong to the server that will run:
a volume mounted at start (Docker), a disk attached at deploy (Render), a Redis the build
may not reach. So ``--build`` runs the checks that need them in a scratch directory it
removes, with the SQLite job store there, and says so: the build leaves nothing in
``PAIMON_DATA_DIR`` (not the install secret, which each instance makes on first start).
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import json
import os
import sys
import sysconfig
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from paimon import capacity
from paimon.spool.writer import Spool
from paimon.uploads.readiness import CheckResult, check_jobs, check_spool

if TYPE_CHECKING:  # imported lazily: doctor must run where pydantic itself is broken
    from paimon.config import Settings

SUPPORTED_PYTHONS = ((3, 11), (3, 12), (3, 13))
MIN_TENACITY = (8, 2)
# What `--build` says it did instead of checking the data directory and the job store.
BUILD_NOTE = (
    "spool, jobs and downloads were checked in a scratch directory, now removed; "
    "PAIMON_DATA_DIR (and Redis, if set) are left alone until the server starts: "
    "`paimon doctor` and /readyz check them then"
)


def check_python() -> CheckResult:
    version = sys.version_info[:2]
    shown = ".".join(str(n) for n in sys.version_info[:3])
    if version in SUPPORTED_PYTHONS:
        return CheckResult("python", True, f"Python {shown}")
    return CheckResult("python", False, f"Python {shown}; Paimon needs 3.11, 3.12 or 3.13")


def check_mega_import() -> CheckResult:
    try:
        importlib.import_module("mega")
    except Exception as exc:  # any failure here is the finding
        return CheckResult("mega", False, f"import mega failed: {type(exc).__name__}: {exc}")
    return CheckResult("mega", True, f"mega.py {metadata.version('mega.py')} imports")


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def check_tenacity() -> CheckResult:
    try:
        version = metadata.version("tenacity")
    except metadata.PackageNotFoundError:
        return CheckResult("tenacity", False, "tenacity is not installed")
    if _version_tuple(version) < MIN_TENACITY:
        return CheckResult(
            "tenacity",
            False,
            f"tenacity {version} is older than 8.2 and breaks `import mega` on Python "
            "3.11+ (asyncio.coroutine); reinstall with scripts/build",
        )
    return CheckResult("tenacity", True, f"tenacity {version}")


def check_pathlib() -> CheckResult:
    import pathlib

    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    origin = Path(pathlib.__file__).resolve()
    if stdlib not in origin.parents:
        return CheckResult("pathlib", False, f"pathlib is imported from {origin}, not the stdlib")
    try:
        backport = metadata.version("pathlib")
    except metadata.PackageNotFoundError:
        return CheckResult("pathlib", True, "pathlib is the standard library's")
    return CheckResult(
        "pathlib",
        False,
        f"the obsolete pathlib {backport} backport from PyPI is installed; "
        "run `pip uninstall pathlib` (the standard library has it)",
    )


def check_pydantic_core() -> CheckResult:
    try:
        core = importlib.import_module("pydantic_core")
        importlib.import_module("pydantic")
    except Exception as exc:  # any failure here is the finding
        return CheckResult("pydantic", False, f"import failed: {type(exc).__name__}: {exc}")
    return CheckResult("pydantic", True, f"pydantic-core {core.__version__} imports")


def load_settings() -> Settings | CheckResult:
    """This process's settings (the composition root's, read once), or the failed
    check that says why they do not load."""
    from paimon.bootstrap import process
    from paimon.config import SettingsError

    try:
        return process.settings()
    except SettingsError as exc:
        return CheckResult("settings", False, "; ".join(exc.lines))
    except Exception as exc:  # e.g. pydantic itself broken: reported above
        return CheckResult("settings", False, f"{type(exc).__name__}: {exc}")


def check_settings_and_spool(
    settings: Settings | CheckResult, build: bool = False
) -> list[CheckResult]:
    """Settings validate (naming what MEGA mode lacks), then the data directory and the
    job store are usable: the configured ones, or at build time a scratch directory."""
    from paimon.config import unknown_variables

    if isinstance(settings, CheckResult):
        return [settings]
    detail = f"storage {settings.storage_backend}"
    if settings.storage_backend == "mega":
        detail += f", MEGA account {settings.mega_email}, API {settings.mega_api_url}"
    results = [
        CheckResult("settings", True, detail),
        *(CheckResult("names", True, line, warning=True) for line in unknown_variables()),
    ]
    if not build:
        return results + check_data(settings)
    with tempfile.TemporaryDirectory(prefix="paimon-doctor-", ignore_cleanup_errors=True) as d:
        scratch = settings.model_copy(update={"data_dir": Path(d), "redis_url": None})
        return results + check_data(scratch)


def check_data(settings: Settings) -> list[CheckResult]:
    """The spool has room, the job store answers, and (local storage) a stored file
    downloads back; what needs a failed part is not tried."""
    results = []
    if settings.storage_backend == "mega":
        results.append(check_mega_login(settings))
    if settings.storage_backend == "s3":
        results.append(check_s3(settings))
    results.append(spool := check_spool(spool_of(settings), settings.min_free_bytes))
    results.append(jobs := check_job_store(settings))
    if settings.storage_backend == "local" and spool.ok and jobs.ok:
        results.append(check_downloads(settings))
    return results


def spool_of(settings: Settings) -> Spool:
    """The spool the settings name (a bucket's with PAIMON_SPOOL_URL)."""
    from paimon.bootstrap.wiring import build_spool

    return build_spool(settings)


def check_job_store(settings: Settings) -> CheckResult:
    """The job store this server will use (SQLite in the data directory, or Redis)
    answers; the check /readyz makes."""
    from paimon.bootstrap.wiring import build_job_store

    try:
        store = build_job_store(settings)
    except Exception as exc:  # e.g. the data directory cannot hold the SQLite file
        return CheckResult("jobs", False, f"{type(exc).__name__}: {exc}")
    try:
        return check_jobs(store)
    finally:
        store.close()


def check_downloads(settings: Settings) -> CheckResult:
    """A probe file stored by the local backend comes back byte for byte through the
    server's own download route (GET /files/<key>, send_file and all): readiness alone
    did not see downloads failing on a relative data directory."""
    from flask import url_for

    from paimon.bootstrap.wiring import build_adapters, build_app
    from paimon.storage.local import LocalStorage

    payload = b"paimon doctor download probe\n"
    try:
        adapters = build_adapters(settings)
        app = build_app(settings, adapters)
        storage = adapters.storage
        assert isinstance(storage, LocalStorage)
        probe = settings.spool_dir / f".doctor-{os.getpid()}"
        probe.write_bytes(payload)
        stored = storage.store(probe, "doctor-probe.txt")
        try:
            with app.test_request_context():
                path = url_for("files.download", key=stored.key)
            reply = app.test_client().get(path)
        finally:
            storage.delete(stored.key)
    except Exception as exc:  # any failure here is the finding
        return CheckResult("downloads", False, f"{type(exc).__name__}: {exc}")
    if reply.status_code != 200 or reply.data != payload:
        return CheckResult(
            "downloads",
            False,
            f"a stored probe file downloads as HTTP {reply.status_code}, "
            f"{len(reply.data)} bytes instead of {len(payload)}",
        )
    return CheckResult("downloads", True, f"a stored file downloads back from {storage.root}")


def check_s3(settings: Settings) -> CheckResult:
    """The bucket answers the credentials in the AWS variables (the check /readyz
    makes); a refusal in one line that names the variables, never their values."""
    from paimon.bootstrap.wiring import s3_storage
    from paimon.storage.base import StorageError

    try:
        storage = s3_storage(settings)
        storage.check()
    except StorageError as exc:
        return CheckResult("s3", False, exc.message)
    except Exception as exc:  # e.g. no region or credentials configured at all
        return CheckResult("s3", False, f"{type(exc).__name__}: {exc}")
    return CheckResult("s3", True, f"the bucket answers at {settings.stored_files_url}")


def check_mega_login(settings: Settings) -> CheckResult:
    """What the instance's last MEGA login found (read from its session file; no login)."""
    import pyotp

    from paimon.storage.mega.codes import EMFAREQUIRED
    from paimon.storage.mega.errors import MFA_REJECTED, MFA_REQUIRED, MegaApiError
    from paimon.storage.mega.session import SessionStore, session_dir

    secret = settings.mega_totp_secret
    if secret is not None:
        try:
            pyotp.TOTP(secret.get_secret_value()).now()
        except (ValueError, TypeError):  # binascii.Error is a ValueError
            return CheckResult("mega-auth", False, "PAIMON_MEGA_TOTP_SECRET is not base32")
    error = SessionStore(session_dir(settings.data_dir)).last_error()
    if error == EMFAREQUIRED:
        return CheckResult("mega-auth", False, MFA_REJECTED if secret else MFA_REQUIRED)
    if error is not None:
        return CheckResult("mega-auth", False, f"the last MEGA login failed: {MegaApiError(error)}")
    return CheckResult("mega-auth", True, "no failed MEGA login recorded")


ENVIRONMENT_CHECKS: list[Callable[[], CheckResult]] = [
    check_python,
    check_mega_import,
    check_tenacity,
    check_pathlib,
    check_pydantic_core,
]


def run_checks(
    settings: Settings | CheckResult | None = None, build: bool = False
) -> list[CheckResult]:
    """Every check, on ``settings`` (``load_settings()``'s answer; by default, read)."""
    settings = load_settings() if settings is None else settings
    return [check() for check in ENVIRONMENT_CHECKS] + check_settings_and_spool(settings, build)


def worker_choice(settings: Settings | CheckResult) -> tuple[capacity.Capacity, int, str]:
    """What gunicorn.conf.py finds here (CPU quota, affinity, memory limit), the worker
    count it starts and what decided it: information, never a failure (with settings
    that do not load, as if PAIMON_WORKERS were unset)."""
    configured = None if isinstance(settings, CheckResult) else settings.workers
    found = capacity.detect()
    return found, *capacity.choose_workers(configured, found)


def main(as_json: bool = False, build: bool = False) -> int:
    settings = load_settings()
    results = run_checks(settings, build)
    ok = all(r.ok for r in results)
    found, workers, decided_by = worker_choice(settings)
    if as_json:
        report = {"found": found.as_dict(), "workers": workers, "decided_by": decided_by}
        checks = [r.__dict__ for r in results]
        extra = {"build": BUILD_NOTE} if build else {}
        print(json.dumps({"ok": ok, "checks": checks, "workers": report, **extra}, indent=2))
    else:
        for r in results:
            mark = "warn" if r.warning else "ok  " if r.ok else "FAIL"
            print(f"{mark} {r.name:<9} {r.detail}")
        print(f"info {'workers':<9} {found.describe()}; starting {workers} ({decided_by})")
        if build:
            print(f"info {'build':<9} {BUILD_NOTE}")
        print("paimon doctor: all checks passed" if ok else "paimon doctor: FAILED")
    return 0 if ok else 1
