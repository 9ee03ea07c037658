"""The body of each event, made from what the delivery kept of its job: the same bytes
on every attempt (receivers may compare them), the fields docs/api.md lists."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

from paimon.jobs.codec import snapshot_fields
from paimon.jobs.outbox import DELETED, EXPIRED, FAILED, STORED, Delivery

#: The stored object's link from the job's fields (the web layer knows URLs).
LinkOf = Callable[[dict[str, object]], str | None]


def _time(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


def body(delivery: Delivery, link_of: LinkOf) -> bytes:
    """``{"type", "timestamp", "data"}``, as the Standard Webhooks specification
    suggests; ``data`` holds the upload's fields and what the event adds."""
    job = snapshot_fields(delivery)
    data: dict[str, object] = {
        "job_id": delivery.job_id,
        "filename": job["filename"],
        "backend": job["backend"],
        "size": job["size"],
        "sha256": job["sha256"],
        "uploader_label": job["uploader_label"],
        "upload_link": job["upload_link"],
    }
    if delivery.event == STORED:
        data |= {
            "link": link_of(job),
            "expires_at": _time(job["expires_at"]),  # type: ignore[arg-type]
            "max_downloads": job["max_downloads"],
        }
    elif delivery.event == FAILED:
        data |= {
            "error_code": job["error_code"],
            "error": job["error"],
            "attempts": job["attempts"],
        }
    elif delivery.event == DELETED:
        data |= {"deleted_by": delivery.detail}
    elif delivery.event == EXPIRED:
        data |= {"reason": job["removed_because"]}
    payload = {"type": delivery.event, "timestamp": _time(delivery.occurred_at), "data": data}
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
