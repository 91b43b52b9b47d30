"""audit.record: the one line every service writes after a change."""
from __future__ import annotations

import datetime
import decimal
import uuid
from typing import Any

from django.db import models

from audit.models import AuditEvent
from config.middleware import current_request_id

SYSTEM_ACTOR = "system"


def _jsonable(value: Any) -> Any:
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    return value


def changed_fields(before: dict, after: dict) -> tuple[dict, dict]:
    """Keep only the fields whose value changed, so an event shows exactly what moved."""
    keys = [k for k in {**before, **after} if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys if k in before}, {k: after.get(k) for k in keys if k in after}


def record(
    action: str,
    obj: models.Model | None = None,
    *,
    by=None,
    before: dict | None = None,
    after: dict | None = None,
    reason: str = "",
) -> AuditEvent:
    """Append one audit event. Call it inside the service's transaction so both land or neither.

    `by` is the acting user (None for the system: a task, a migration, a command without a user).
    """
    before, after = changed_fields(_jsonable(before or {}), _jsonable(after or {}))
    authenticated = by is not None and getattr(by, "is_authenticated", False)
    return AuditEvent.objects.create(
        actor=by if authenticated else None,
        actor_label=by.get_username() if authenticated else SYSTEM_ACTOR,
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=str(obj)[:200] if obj is not None else "",
        before=before,
        after=after,
        reason=reason,
        request_id=current_request_id.get(),
    )
