"""The field codec both job stores share, so a Job is validated and converted the same
way whether it lands in a SQLite row or a Redis hash: every field maps to one stored
primitive (text, integer, real or NULL) and back to exactly the value it was.
"""

from __future__ import annotations

import dataclasses
import json
import time
import typing
from collections.abc import Mapping
from enum import StrEnum

from paimon.jobs.links import UploadLink
from paimon.jobs.model import Job
from paimon.jobs.outbox import SNAPSHOT_FIELDS, Delivery

#: What a store keeps for one field; None stands for NULL / an absent hash field.
Stored = str | int | float | None


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """One Job field as stores see it: its base type and whether it may be None."""

    name: str
    kind: type  # str, int, float, bool or a state (JobState, DeliveryState)
    nullable: bool


def _field_specs(record: type = Job) -> dict[str, FieldSpec]:
    """Read from the dataclass itself (a Job), so a new field needs no change here."""
    hints = typing.get_type_hints(record)
    specs = {}
    for job_field in dataclasses.fields(record):
        hint = hints[job_field.name]
        kinds = [arg for arg in typing.get_args(hint) if arg is not type(None)] or [hint]
        nullable = type(None) in typing.get_args(hint)
        specs[job_field.name] = FieldSpec(job_field.name, kinds[0], nullable)
    return specs


JOB_FIELDS: dict[str, FieldSpec] = _field_specs()
#: An upload link's fields (paimon/jobs/links.py), stored the same way.
LINK_FIELDS: dict[str, FieldSpec] = _field_specs(UploadLink)
#: A webhook delivery's fields (paimon/jobs/outbox.py), stored the same way.
DELIVERY_FIELDS: dict[str, FieldSpec] = _field_specs(Delivery)


def to_stored(name: str, value: object, fields: dict[str, FieldSpec] = JOB_FIELDS) -> Stored:
    """Validate one field value and turn it into its stored primitive.

    Wrong names and types fail here, before anything is written.
    """
    spec = fields.get(name)
    if spec is None:
        raise TypeError(f"no field {name!r}")
    if value is None:
        if spec.nullable:
            return None
        raise TypeError(f"field {name!r} cannot be None")
    if issubclass(spec.kind, StrEnum):  # a state: JobState, DeliveryState
        return spec.kind(value).value
    if spec.kind is float and type(value) is int:
        value = float(value)
    if not isinstance(value, spec.kind) or (spec.kind is int and isinstance(value, bool)):
        raise TypeError(f"field {name!r} must be {spec.kind.__name__}, not {value!r}")
    return int(value) if spec.kind is bool else value


def from_stored(name: str, stored: object, fields: dict[str, FieldSpec] = JOB_FIELDS) -> object:
    """The field value a stored primitive stands for; accepts SQLite's native values
    and Redis's strings alike (int("5"), float("0.1"), bool(int("0")))."""
    if stored is None:
        return None
    kind = fields[name].kind
    if kind is bool:
        return bool(int(stored))
    return kind(stored)


def job_to_stored(job: Job) -> dict[str, Stored]:
    return {name: to_stored(name, getattr(job, name)) for name in JOB_FIELDS}


def job_from_stored(values: Mapping[str, object]) -> Job:
    """A Job from stored primitives; a missing name means None (Redis omits them)."""
    return Job(**{name: from_stored(name, values.get(name)) for name in JOB_FIELDS})


#: Fields fixed when a job is created: the stores' listing indexes are keyed by them.
FIXED_FIELDS = frozenset(
    {"id", "filename", "backend", "created_at", "uploader_label", "upload_link"}
)


def changes_to_stored(changes: Mapping[str, object]) -> dict[str, Stored]:
    """The stored form of an update: ``updated_at`` is now unless given explicitly."""
    if fixed := FIXED_FIELDS & changes.keys():
        raise TypeError(f"a job's {', '.join(sorted(fixed))} cannot change")
    stamped = {"updated_at": time.time(), **changes}
    return {name: to_stored(name, value) for name, value in stamped.items()}


def link_to_stored(link: UploadLink) -> dict[str, Stored]:
    return {name: to_stored(name, getattr(link, name), LINK_FIELDS) for name in LINK_FIELDS}


def link_from_stored(values: Mapping[str, object]) -> UploadLink:
    """An UploadLink from stored primitives; a missing name means None."""
    return UploadLink(
        **{name: from_stored(name, values.get(name), LINK_FIELDS) for name in LINK_FIELDS}
    )


def delivery_to_stored(delivery: Delivery) -> dict[str, Stored]:
    """A Delivery's fields as stored primitives (validated, as a job's are)."""
    return {
        name: to_stored(name, getattr(delivery, name), DELIVERY_FIELDS) for name in DELIVERY_FIELDS
    }


def delivery_from_stored(values: Mapping[str, object]) -> Delivery:
    """A Delivery from stored primitives; a missing name means None."""
    return Delivery(
        **{name: from_stored(name, values.get(name), DELIVERY_FIELDS) for name in DELIVERY_FIELDS}
    )


def delivery_changes_to_stored(changes: Mapping[str, object]) -> dict[str, Stored]:
    """A delivery's changes as stored primitives; its id never changes."""
    if "id" in changes:
        raise TypeError("a delivery's id cannot change")
    return {name: to_stored(name, value, DELIVERY_FIELDS) for name, value in changes.items()}


def snapshot_fields(delivery: Delivery) -> dict[str, object]:
    """The job's fields a delivery kept (``Delivery.job``), typed as on a Job; the
    names it did not keep (unset then) are None."""
    kept = json.loads(delivery.job)
    return {name: from_stored(name, kept.get(name)) for name in SNAPSHOT_FIELDS}
