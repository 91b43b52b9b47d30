"""Personal-link tokens and the participant cookie they are exchanged for.

A token carries 192 random bits (OWASP ASVS asks for at least 128); only its SHA-256 is
stored, so a copy of the database opens no questionnaire. After the first visit the browser
holds a signed, HttpOnly cookie naming the link, and the address bar no longer shows the token.
"""
import hashlib
import re
import secrets

from django.conf import settings
from django.core import signing

TOKEN_BYTES = 24
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{32}$")
COOKIE_SALT = "instruments.participant"
# What "prefer not to answer" is stored and posted as.
DECLINED = "declined"


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def looks_like_token(token: str) -> bool:
    return bool(TOKEN_PATTERN.match(token))


def cookie_name() -> str:
    return getattr(settings, "PARTICIPANT_COOKIE_NAME", "participant")


def cookie_value(link_id: int) -> str:
    return signing.dumps({"link": link_id}, salt=COOKIE_SALT)


def link_id_from_cookie(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(signing.loads(value, salt=COOKIE_SALT)["link"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


def absolute(path: str) -> str:
    """A link for an e-mail or a printed slip (no request at hand in a task)."""
    return getattr(settings, "PARTICIPANT_LINK_BASE_URL", "http://127.0.0.1:8000").rstrip("/") + path
