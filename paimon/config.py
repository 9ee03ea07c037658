"""Every user-facing setting, in one pydantic-settings class.

Each field reads ``PAIMON_<NAME>`` from the environment or a ``.env`` file. A few also
accept the earlier server's names (``MEGA_EMAIL``, ``MEGA_PASSWORD``, ``AUTH_TOKEN``)
or the platform's (``PORT``, ``WEB_CONCURRENCY``) so existing deployments keep working.
docs/configuration.md lists them all; tests/deploy/test_docs.py keeps that list complete.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from dotenv import dotenv_values  # pydantic-settings' own .env reader
from limits import parse_many
from pydantic import (
    AliasChoices,
    ByteSize,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from redis.connection import parse_url as parse_redis_url

from paimon.uploads.folders import BadFolder, clean_folder
from paimon.webhooks.signing import webhook_secret_ok
from paimon.webhooks.targets import check_at_start

MEGA_API_URL = "https://g.api.mega.co.nz"
StorageName = Literal["local", "mega", "s3"]
#: s3://bucket/prefix, with a bucket name as S3 allows it.
S3_URL = re.compile(r"s3://[a-z0-9][a-z0-9.\-]{1,62}(/.*)?")
ENV_FILE = ".env"
# PAIMON_* names read by the build, test and benchmark scripts, not by the server.
SCRIPT_VARIABLES = frozenset(
    {
        "PAIMON_TEST_PYTHONS",
        "PAIMON_TEST_CROSSCHECK_PYTHON",
        "PAIMON_LIVE_MEGA_EMAIL",
        "PAIMON_LIVE_MEGA_PASSWORD",
        "PAIMON_LIVE_MEGA_FOLDER",
    }
)


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


#: What a host in an origin may be made of: DNS names and IPv4 (IPv6 is bracketed).
_HOST_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False


def exact_origin(value: str) -> str:
    """``scheme://host[:port]`` as a browser sends it in ``Origin`` (lower case, no
    default port), or ValueError. Flask-Cors would read a value with a '*' or other
    pattern characters as a regular expression matched from its start, so
    'https://*.example.com' refused its own subdomains and allowed
    'https://xexample.com.evil.net': every origin must be spelt out."""
    if "*" in value:
        raise ValueError(
            f"{value!r}: wildcards are not supported; list each origin, e.g. "
            "https://app.example.com,https://www.example.com"
        )
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        parts, port = None, None
    host = parts.hostname if parts else None
    bracketed = parts is not None and parts.netloc.rpartition("@")[2].startswith("[")
    if (
        parts is None
        or parts.scheme.lower() not in _DEFAULT_PORTS
        or not host
        or parts.username is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or not (_is_ipv6(host) if bracketed else set(host) <= _HOST_CHARACTERS)
    ):
        raise ValueError(
            f"{value!r} is not an exact origin: write scheme://host[:port], e.g. "
            "https://app.example.com (no path, no pattern)"
        )
    scheme = parts.scheme.lower()
    shown = f"[{host}]" if bracketed else host
    explicit = f":{port}" if port is not None and port != _DEFAULT_PORTS[scheme] else ""
    return f"{scheme}://{shown}{explicit}"


class Settings(BaseSettings):
    """Paimon's configuration; defaults run locally with no credentials."""

    model_config = SettingsConfigDict(
        env_prefix="PAIMON_",
        env_file=ENV_FILE,
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    # Serving (read by gunicorn.conf.py).
    host: str = Field("0.0.0.0", description="Address gunicorn binds to.")
    port: int = Field(
        8000,
        ge=1,
        le=65535,
        validation_alias=_env("PAIMON_PORT", "PORT"),
        description="TCP port gunicorn binds to (Render sets PORT).",
    )
    workers: int | None = Field(
        None,
        ge=1,
        validation_alias=_env("PAIMON_WORKERS", "WEB_CONCURRENCY"),
        description="Gunicorn worker processes; default: what the CPU quota, CPU "
        "affinity and memory limit allow (paimon/capacity.py).",
    )
    threads: int = Field(
        8,
        ge=1,
        description="Threads per gunicorn worker for requests without a body (health, "
        "status, downloads); each worker has one more thread per upload slot.",
    )
    max_concurrent_uploads: int = Field(
        1024,
        ge=1,
        description="Request bodies (uploads) this instance receives at once, shared "
        "evenly by its workers; beyond it 503 with Retry-After, before the body is read.",
    )
    max_uploads_per_client: int = Field(
        32,
        ge=0,
        description="Request bodies one token, or one client address without a valid "
        "token, may send at once to one worker; beyond it 429 with Retry-After, before "
        "the body is read; 0: no limit.",
    )
    header_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="Longest wait for a request's head (its request line and headers) "
        "once its first byte arrived, and for a new connection's first byte; a slower "
        "head is answered 408, a silent connection closed.",
    )
    graceful_timeout_seconds: int = Field(
        110,
        ge=1,
        description="After SIGTERM, how long requests in flight may still run; keep it "
        "below the platform's kill delay (render.yaml: 120 s).",
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1,::1",
        description="Proxies whose X-Forwarded-* headers are trusted ('*' behind Render).",
    )

    # Storage.
    storage: StorageName | None = Field(
        None,
        description="Where uploads go: 'local', 'mega' or 's3' (S3-compatible object "
        "storage); default: mega when MEGA credentials are set, else local.",
    )
    data_dir: Path = Field(
        Path("data"),
        description="Spool, job database and local storage root; a relative path is taken "
        "from the directory the server was started in.",
    )
    public_url: str | None = Field(
        None,
        validation_alias=_env("PAIMON_PUBLIC_URL", "RENDER_EXTERNAL_URL"),
        description="Base URL of every link in replies; default: Render's own URL for the "
        "service (RENDER_EXTERNAL_URL) on Render, else the request's host.",
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated Host names this server answers to when "
        "PAIMON_PUBLIC_URL is unset (links are built from the Host header); a name "
        "starting with '.' also allows its subdomains; empty: any host.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated origins (e.g. https://app.example.com) whose pages may "
        "upload with fetch or XHR (CORS); empty: no CORS headers at all.",
    )
    max_upload_bytes: ByteSize = Field(
        ByteSize(5 * 1024**3),
        ge=0,
        description="Largest upload accepted: bytes, or a size such as '5GiB' or '500MB'.",
    )
    max_files_per_request: int = Field(
        20,
        ge=1,
        le=1000,
        description="Files one POST /upload may carry (several 'file' parts, each stored "
        "as its own upload); one more is refused with 400 as it starts.",
    )
    min_free_bytes: ByteSize = Field(
        ByteSize(256 * 1024**2),
        ge=0,
        description="Free space the spool must keep (bytes, or e.g. '256MiB'); below it "
        "readiness and doctor fail.",
    )

    # S3-compatible object storage: endpoint, region and credentials come from the
    # standard AWS variables (AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID,
    # AWS_SECRET_ACCESS_KEY), which boto3 reads as they are.
    spool_url: str | None = Field(
        None,
        description="s3://bucket/prefix: the spool in S3-compatible object storage, so any "
        "instance carries on any upload or job (with PAIMON_STORAGE s3 or mega); empty: "
        "the spool on local disk.",
    )
    s3_storage_url: str | None = Field(
        None,
        description="s3://bucket/prefix where PAIMON_STORAGE=s3 keeps stored files; "
        "default: files/ under PAIMON_SPOOL_URL.",
    )
    s3_downloads: Literal["proxy", "redirect"] = Field(
        "proxy",
        description="How PAIMON_STORAGE=s3 serves a download: 'proxy' (through Paimon, "
        "as local files: Range, conditional requests, Max-Downloads, the bucket private) "
        "or 'redirect' (302 to a presigned URL; files with Max-Downloads still proxied).",
    )
    s3_presign_seconds: int = Field(
        300,
        ge=1,
        le=7 * 24 * 3600,
        description="How long a presigned download URL stays valid (PAIMON_S3_DOWNLOADS=redirect).",
    )
    storage_min_free_bytes: ByteSize = Field(
        ByteSize(256 * 1024**2),
        ge=0,
        description="Free space of the storage account (MEGA's quota, less what uploads "
        "under way were promised) below which GET /readyz says 'degraded' (still ready: "
        "uploads that fit are taken, larger ones refused before their body); 0: never.",
    )

    # MEGA.
    mega_email: str | None = Field(
        None,
        validation_alias=_env("PAIMON_MEGA_EMAIL", "MEGA_EMAIL"),
        description="MEGA account e-mail.",
    )
    mega_password: SecretStr | None = Field(
        None,
        validation_alias=_env("PAIMON_MEGA_PASSWORD", "MEGA_PASSWORD"),
        description="MEGA account password (secret).",
    )
    mega_totp_secret: SecretStr | None = Field(
        None,
        description="Base32 TOTP secret of a MEGA account with two-factor authentication "
        "(secret); Paimon sends the current code with each login.",
    )
    mega_folder: str = Field("Paimon", min_length=1, description="MEGA folder for uploads.")
    mega_api_url: str = Field(MEGA_API_URL, description="MEGA API base URL.")
    mega_upload_connections: int = Field(
        64,
        ge=1,
        le=64,
        description="Most upload POSTs on the wire at once per transfer, each on its own "
        "connection: the uploader starts at 32 (or this, if fewer) and doubles while the "
        "aggregate rate grows; fewer when sealing is the bottleneck or MEGA says it is "
        "overloaded. Buffers stay within 64 MiB per transfer.",
    )
    mega_thumbnails: bool = Field(
        True,
        description="Give image uploads (JPEG, PNG, GIF, WebP) a thumbnail and a preview in "
        "MEGA, as MEGA's own apps do; made after the transfer, never failing it.",
    )

    # Jobs.
    redis_url: SecretStr | None = Field(
        None,
        description="Redis URL for the job store (secret); empty: SQLite in the data dir.",
    )
    transfer_concurrency: int = Field(
        2,
        ge=1,
        description="Transfers each worker runs at once in the background; one is kept for "
        "complete uploads, so transfers during the body (pipelining) need 2 or more.",
    )
    tus_chunk_bytes: ByteSize = Field(
        ByteSize(64 * 1024**2),
        ge=1024**2,
        description="The upload page sends a tus upload in PATCH requests of at most this "
        "many bytes (bytes, or e.g. '64MiB'): below a proxy's body limit (Cloudflare's 100 MB).",
    )
    tus_idle_hours: float = Field(
        24.0,
        gt=0,
        description="An unfinished tus upload that received no byte for this long expires "
        "and is removed, with its bytes.",
    )
    retention_hours: float = Field(
        24.0,
        gt=0,
        description="Finished jobs and leftover spool files are purged after this long.",
    )
    retry_hours: float = Field(
        24.0,
        ge=0,
        description="A job that failed with a temporary error (storage unreachable) is "
        "retried automatically, with growing pauses, for this long after it was "
        "received; 0: only by hand.",
    )
    max_days: float | None = Field(
        None,
        gt=0,
        description="Longest an upload may be kept, in days (a client's Max-Days above it "
        "is refused with 400); empty: no bound.",
    )
    default_max_days: float | None = Field(
        None,
        gt=0,
        description="Days an upload is kept when its client sends no Max-Days; empty: "
        "PAIMON_MAX_DAYS, or kept until deleted when that is empty too.",
    )
    job_lease_seconds: float = Field(
        30.0,
        gt=0,
        description="How long a worker's claim on a job lasts without a heartbeat; "
        "a dead worker's jobs are taken over after it.",
    )

    # Access.
    auth_tokens: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        validation_alias=_env("PAIMON_AUTH_TOKENS", "AUTH_TOKEN"),
        description="Comma-separated upload tokens (secret), each optionally "
        "'label=token'; empty: uploads are open.",
    )
    token_folders: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="Comma-separated 'label=folder': the folder (a path, 'a/b') an upload "
        "token's uploads go to when they name none, by the token's label in "
        "PAIMON_AUTH_TOKENS.",
    )
    admin_tokens: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated tokens of the owners (secret), each optionally "
        "'label=token': they sign in to the console (/admin) and use the API (/api/); "
        "empty: no console, its routes answer 404.",
    )
    admin_session_hours: float = Field(
        12.0,
        gt=0,
        le=24 * 30,
        description="How long an owner's sign-in to the console lasts, from signing in.",
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="Token GET /metrics requires (secret), sent as 'Authorization: Bearer "
        "<token>' (Prometheus' authorization credentials); empty: /metrics is open.",
    )
    max_pending_uploads: int = Field(
        100,
        ge=0,
        description="Unfinished uploads of known size (tus uploads not yet complete, "
        "bodies still arriving) one token, or one client address without a valid token, "
        "may hold at once; 0: no limit.",
    )
    max_pending_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Share of the spool's room (free space above PAIMON_MIN_FREE_BYTES, "
        "less what other clients' unfinished uploads may still write) that one token, or "
        "one client address without a valid token, may hold with its unfinished uploads; "
        "a client's first unfinished upload is bounded by the floor alone; past it 429; "
        "1: no per-client bound.",
    )
    rate_limit_uploads: str = Field(
        "60/minute",
        description="Uploads (POST and PUT requests) one token, or one client address "
        "without a valid token, may start, e.g. '60/minute;1000/day'; empty: no limit.",
    )
    body_timeout_seconds: float = Field(
        60.0,
        gt=0,
        description="Longest wait for each 64 KiB of a request body; a slower body is "
        "cut off with 408.",
    )

    # Webhooks (paimon/webhooks).
    webhook_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated https URLs every upload event is POSTed to, signed "
        "(docs/api.md, Webhooks); empty: no webhooks.",
    )
    webhook_secret: SecretStr | None = Field(
        None,
        description="The key webhooks are signed with (secret), in the Standard Webhooks "
        "form whsec_<base64 of 24 to 64 random bytes>; required with PAIMON_WEBHOOK_URLS.",
    )
    webhook_retry_hours: float = Field(
        24.0,
        gt=0,
        description="A webhook delivery that fails with a timeout, a connection error, "
        "5xx or 429 is tried again, with growing pauses up to 10 minutes, for this long "
        "after its event.",
    )
    webhook_allow_private: bool = Field(
        False,
        description="Allow webhook URLs on this machine or a private network (loopback, "
        "private, link-local addresses) and plain http://; false: refused at start and "
        "at each delivery.",
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level."
    )
    log_format: Literal["json", "text"] = Field(
        "json", description="Log lines as JSON objects, or 'text' for reading by eye."
    )

    @field_validator(
        "auth_tokens",
        "admin_tokens",
        "allowed_hosts",
        "cors_origins",
        "webhook_urls",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [token.strip() for token in value.split(",") if token.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _exact_origins(cls, origins: list[str]) -> list[str]:
        return [exact_origin(origin) for origin in origins]

    @field_validator("max_days", "default_max_days", "mega_totp_secret", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        """An empty variable is an unset one (a Blueprint's `sync: false` left blank,
        compose's ${VAR:-}), not an empty TOTP secret every login would fail on."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("token_folders", mode="before")
    @classmethod
    def _parse_token_folders(cls, value: object) -> object:
        """'label=folder,...' into a mapping, each folder checked as uploads' are."""
        if not isinstance(value, str):
            return value
        folders: dict[str, str] = {}
        for entry in filter(None, (part.strip() for part in value.split(","))):
            label, equals, folder = entry.partition("=")
            if not equals or not label.strip():
                raise ValueError(f"expected 'label=folder', got {entry!r}")
            try:
                folders[label.strip()] = clean_folder(folder.strip())
            except BadFolder as exc:
                raise ValueError(f"{label.strip()}: {exc}") from None
        return folders

    @field_validator("default_max_days")
    @classmethod
    def _default_within_max(cls, value: float | None, info: ValidationInfo) -> float | None:
        bound = info.data.get("max_days")
        if value is not None and bound is not None and value > bound:
            raise ValueError(f"more than PAIMON_MAX_DAYS ({bound:g})")
        return value

    @field_validator("rate_limit_uploads")
    @classmethod
    def _parse_rate_limit(cls, value: str) -> str:
        """A typo must stop the server, not silently disable the limit."""
        value = value.strip()
        if value:
            try:
                parse_many(value)
            except ValueError:
                raise ValueError("expected e.g. '60/minute' or '5/second;500/hour'") from None
        return value

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        """Resolved once, against the start directory, so every part of Paimon (and
        Flask's send_file, which resolves relative paths against the app's package)
        sees the same folder."""
        return value.expanduser().resolve()

    @field_validator("public_url", mode="before")
    @classmethod
    def _blank_public_url(cls, value: object) -> object:
        """A PAIMON_PUBLIC_URL left blank (render.yaml's `sync: false`) is an unset one:
        it would otherwise hide RENDER_EXTERNAL_URL, the alias read after it, and links
        would follow the Host header again."""
        if isinstance(value, str) and not value.strip():
            return os.environ.get("RENDER_EXTERNAL_URL") or None
        return value

    @field_validator("mega_api_url", "public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        """Links and API calls are built on these: without a scheme they would come out
        as 'files.example.com/files/...'."""
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("expected a URL starting with http:// or https://, with a host")
        return value.rstrip("/")

    @field_validator("s3_storage_url", "spool_url", mode="before")
    @classmethod
    def _s3_url(cls, value: object) -> object:
        """s3://bucket/prefix, checked at start; empty is unset."""
        if isinstance(value, str):
            value = value.strip() or None
        if isinstance(value, str) and not S3_URL.fullmatch(value):
            raise ValueError("expected s3://bucket or s3://bucket/prefix (a lower-case bucket)")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        """Checked by redis-py's own parser at start, not by the first job a worker
        takes; its message never repeats the URL, which holds the password."""
        if value is not None and value.get_secret_value():
            try:
                parse_redis_url(value.get_secret_value())
            except ValueError as exc:
                raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _webhooks(self) -> Settings:
        """Webhook URLs and their secret, refused at start rather than at the first
        event (paimon/webhooks/targets.py says which targets)."""
        if not self.webhook_urls:
            return self
        secret = self.webhook_secret.get_secret_value() if self.webhook_secret else ""
        if not webhook_secret_ok(secret):
            raise ValueError(
                "PAIMON_WEBHOOK_SECRET must be whsec_ followed by the base64 of 24 to 64 "
                "random bytes (e.g. python -c \"import base64,os;print('whsec_'+"
                'base64.b64encode(os.urandom(32)).decode())")'
            )
        check_at_start(self.webhook_urls, self.webhook_allow_private)
        return self

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def storage_backend(self) -> StorageName:
        """The backend in force: the explicit choice, else mega when credentials exist."""
        if self.storage:
            return self.storage
        return "mega" if self.mega_email and self.mega_password else "local"

    @property
    def stored_files_url(self) -> str | None:
        """Where PAIMON_STORAGE=s3 keeps files: its own URL, else files/ in the spool's."""
        if self.s3_storage_url:
            return self.s3_storage_url
        return f"{self.spool_url.rstrip('/')}/files" if self.spool_url else None

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    def missing_for_mega(self) -> list[str]:
        """Names of the variables MEGA mode still needs (empty when it has them)."""
        missing = []
        if not self.mega_email:
            missing.append("PAIMON_MEGA_EMAIL")
        if not self.mega_password or not self.mega_password.get_secret_value():
            missing.append("PAIMON_MEGA_PASSWORD")
        return missing


def setting_variables() -> set[str]:
    """Every environment variable Settings reads (PAIMON_* names and older aliases)."""
    names = set()
    for name, field in Settings.model_fields.items():
        names.add(f"PAIMON_{name.upper()}")
        if isinstance(field.validation_alias, AliasChoices):
            names.update(str(choice) for choice in field.validation_alias.choices)
    return names


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """One line per PAIMON_* name (in the environment or the .env file) that is no
    setting, naming the closest real one: a typo would otherwise leave its default
    silently in force."""
    environ = os.environ if environ is None else environ
    prefix = "PAIMON_"
    given = {name for name in environ if name.startswith(prefix)}
    if Path(ENV_FILE).is_file():
        given |= {name for name in dotenv_values(ENV_FILE) if name.startswith(prefix)}
    known = sorted(name for name in setting_variables() if name.startswith(prefix))
    lines = []
    for name in sorted(given - set(known) - SCRIPT_VARIABLES):
        # Compared without the prefix, which every name shares.
        close = difflib.get_close_matches(
            name.removeprefix(prefix), [k.removeprefix(prefix) for k in known], n=1
        )
        hint = f"; did you mean {prefix}{close[0]}?" if close else ""
        lines.append(f"{name} is not a setting{hint} (docs/configuration.md lists them)")
    return lines


class SettingsError(Exception):
    """The environment holds settings that do not validate; one line per bad field."""

    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines


def _env_name(loc: tuple[object, ...]) -> str:
    """The environment variable a validation error is about."""
    name = str(loc[0]) if loc else "?"
    if name.isupper():  # already an alias (PAIMON_PORT, MEGA_EMAIL, ...)
        return name
    return f"PAIMON_{name.upper()}"


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; raise SettingsError with readable lines.

    The offending value is never repeated, since it may be a secret.
    """
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(
            [
                f"{_env_name(err['loc'])}: {err['msg'].removeprefix('Value error, ')}"
                for err in exc.errors()
            ]
        ) from None
    if settings.storage_backend == "s3" and not settings.stored_files_url:
        raise SettingsError(
            ["PAIMON_S3_STORAGE_URL: required when PAIMON_STORAGE is s3 (or PAIMON_SPOOL_URL)"]
        )
    if settings.spool_url and settings.storage_backend == "local":
        raise SettingsError(
            [
                "PAIMON_SPOOL_URL: an object-storage spool needs PAIMON_STORAGE s3 or mega "
                "(local storage keeps files on one disk, beside a local spool)"
            ]
        )
    missing = settings.missing_for_mega()
    if settings.storage_backend == "mega" and missing:
        raise SettingsError([f"{name}: required when PAIMON_STORAGE is mega" for name in missing])
    if settings.storage is None and len(missing) == 1:
        # Half the MEGA credentials: meant for MEGA, so never quietly stored locally.
        (name,) = missing
        (given,) = {"PAIMON_MEGA_EMAIL", "PAIMON_MEGA_PASSWORD"} - {name}
        raise SettingsError(
            [
                f"{name}: required with {given} to store uploads in MEGA (or set "
                "PAIMON_STORAGE=local to keep them on this server's disk)"
            ]
        )
    return settings


def load_settings_or_exit(*, warn_unknown: bool = False, **overrides: object) -> Settings:
    """For process entry points: a bad setting ends the process, no traceback.

    ``warn_unknown`` also prints a line for each PAIMON_* name that is no setting (once,
    in the process that starts the server, not again in each worker)."""
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        for line in exc.lines:
            print(f"paimon: bad setting {line}", file=sys.stderr)
        raise SystemExit(2) from None
    if warn_unknown:
        for line in unknown_variables():
            print(f"paimon: warning: {line}", file=sys.stderr)
    return settings
