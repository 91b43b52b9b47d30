"""The shipped instrument definitions: one JSON file per instrument code in this folder."""
import json
from pathlib import Path

from django.db import transaction

from instruments.models import Instrument

LIBRARY = Path(__file__).resolve().parent


class UnknownInstrument(LookupError):
    pass


def shipped_codes() -> list[str]:
    return sorted(path.stem for path in LIBRARY.glob("*.json"))


def read_definition(code: str) -> dict:
    path = LIBRARY / f"{code}.json"
    if not path.is_file():
        raise UnknownInstrument(f"no instrument '{code}' in the library; shipped: {', '.join(shipped_codes())}")
    return json.loads(path.read_text(encoding="utf-8"))


@transaction.atomic
def get_instrument(code: str) -> Instrument:
    """The newest stored version of a shipped instrument, stored from the library on first use."""
    latest = Instrument.objects.filter(code=code).order_by("-version").first()
    if latest is not None:
        return latest
    definition = read_definition(code)
    return Instrument.objects.create(
        code=code, version=definition.get("version", 1), name=definition["name"], definition=definition
    )
