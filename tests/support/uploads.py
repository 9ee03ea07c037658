"""Sending uploads to a running server and following their jobs, the way clients do:
one file by multipart POST, a body by PUT, tus creations and PATCHes, and polling
``GET /status/<id>`` until a job is finished."""

from __future__ import annotations

import time
from collections.abc import Callable

import requests

from paimon_devtools.servers import ServerProcess

MIB = 1024 * 1024
MB = 1000 * 1000  # file sizes as people count them
#: Every tus request but OPTIONS says which protocol version it speaks.
TUS = {"Tus-Resumable": "1.0.0"}
#: RFC 7240: answer at once (202) instead of waiting for the link.
ASYNC = {"Prefer": "respond-async"}
FINISHED = ("done", "failed")


def post_file(
    server: ServerProcess,
    content: bytes,
    name: str = "upload.bin",
    *,
    query: str = "",
    timeout: float = 60,
    **options: object,
) -> requests.Response:
    """``POST /upload`` with ``content`` as the file ``name`` in the field ``file``, as
    ``curl -F file=@name`` sends it; ``options`` (headers, ...) go to requests. Each
    call opens a new connection, so either worker may answer."""
    return requests.post(
        f"{server.url}/upload{query}",
        files={"file": (name, content)},
        timeout=timeout,
        **options,  # type: ignore[arg-type]
    )


def send_async(server: ServerProcess, name: str, content: bytes) -> str:
    """One file posted with ``Prefer: respond-async``; the id of its job (202)."""
    reply = post_file(server, content, name, headers=ASYNC)
    assert reply.status_code == 202, reply.text
    assert reply.headers["Location"] == f"/status/{reply.json()['id']}"
    assert reply.headers["Preference-Applied"] == "respond-async"
    return reply.json()["id"]


def job(server: ServerProcess, job_id: str, headers: dict[str, str] | None = None) -> dict:
    """The job's view, ``GET /status/<id>`` (with ``headers``, e.g. a Host)."""
    reply = requests.get(f"{server.url}/status/{job_id}", headers=headers, timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.json()


def wait_for_jobs(
    server: ServerProcess,
    job_ids: list[str],
    reached: Callable[[dict[str, dict]], bool] | None = None,
    timeout: float = 120,
    headers: dict[str, str] | None = None,
) -> dict[str, dict]:
    """Poll the jobs until ``reached(views)`` (by default: every one is done or failed);
    their views by id. Fails with the views and the server's log otherwise."""
    reached = reached or (lambda views: all(v["state"] in FINISHED for v in views.values()))
    deadline = time.monotonic() + timeout
    while True:
        views = {job_id: job(server, job_id, headers) for job_id in job_ids}
        if reached(views):
            return views
        if time.monotonic() > deadline:
            states = {job_id: view["state"] for job_id, view in views.items()}
            raise AssertionError(f"not reached after {timeout}s: {states}\n{server.logs()[-3000:]}")
        time.sleep(0.2)


def wait_for_job(
    server: ServerProcess, job_id: str, timeout: float = 60, headers: dict[str, str] | None = None
) -> dict:
    """The job's view once it is done or failed."""
    return wait_for_jobs(server, [job_id], timeout=timeout, headers=headers)[job_id]


def tus_create(server: ServerProcess, length: int, **headers: str) -> requests.Response:
    """``POST /tus/``: a new upload of ``length`` bytes."""
    return requests.post(
        f"{server.url}/tus/", headers={**TUS, "Upload-Length": str(length), **headers}, timeout=10
    )


def tus_patch(url: str, offset: int, data: bytes, **headers: str) -> requests.Response:
    """``PATCH`` ``data`` at ``offset`` of the tus upload at ``url``."""
    return requests.patch(
        url,
        data=data,
        headers={
            **TUS,
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
            **headers,
        },
        timeout=30,
    )


def put_file(server: ServerProcess, name: str, content: bytes, **headers: str) -> dict:
    """``PUT /upload/<name>`` with ``content`` (``curl -T``), answered in JSON; the
    reply's body, which must be a stored upload's (200)."""
    reply = requests.put(
        f"{server.url}/upload/{name}",
        data=content,
        headers={"Accept": "application/json", **headers},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


def downloads(server: ServerProcess, job_id: str) -> int:
    """The downloads the job's link has counted (``GET /status/<id>``)."""
    return job(server, job_id)["downloads"]
