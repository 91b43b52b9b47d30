"""Strict readers for settings taken from the environment.

A malformed value stops start-up with a message naming the variable and what is accepted
(the healthchecks way: fail loudly at import, never guess).
"""
from __future__ import annotations

import os
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return None if value is None or value.strip() == "" else value.strip()


def _refuse(name: str, value: str, accepted: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"Environment variable {name}={value!r} is not valid: {accepted}.")


def env_str(name: str, default: str | None = None) -> str | None:
    return _raw(name) or default


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise _refuse(name, value, "use one of 1/0, true/false, yes/no, on/off")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise _refuse(name, value, f"use a whole number ≥ {minimum}") from None
    if number < minimum:
        raise _refuse(name, value, f"use a whole number ≥ {minimum}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return default
    items = [item.strip() for item in value.split(",")]
    if any(not item or " " in item for item in items):
        raise _refuse(name, value, "use a comma-separated list without empty entries or spaces, e.g. example.org,www.example.org")
    return items


def env_url(name: str, schemes: tuple[str, ...]) -> str | None:
    """A URL whose scheme is one of `schemes` and which names a host (or a path for sqlite)."""
    value = _raw(name)
    if value is None:
        return None
    parts = urlsplit(value)
    accepted = f"use a URL starting with {' or '.join(s + '://' for s in schemes)}"
    if parts.scheme not in schemes:
        raise _refuse(name, value, accepted)
    if parts.scheme != "sqlite" and not parts.hostname:
        raise _refuse(name, value, f"{accepted} and naming a host, e.g. {schemes[0]}://127.0.0.1")
    try:
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        raise _refuse(name, value, f"{accepted} with a numeric port") from None
    return value


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _raw(name)
    if value is None:
        return default
    if value.upper() not in choices:
        raise _refuse(name, value, f"use one of {', '.join(choices)}")
    return value.upper()


def env_time_zone(name: str, default: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    value = _raw(name) or default
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise _refuse(name, value, "use an IANA time zone name such as Asia/Tehran or UTC") from None
    return value
