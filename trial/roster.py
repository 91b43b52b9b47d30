"""Reading a roster file (CSV or .xlsx) into checked rows. No database here: the import
service writes what this module accepts.

Accepted: UTF-8 with or without BOM and Windows-1256 (Persian Excel's "CSV" export),
comma, semicolon or tab separated; Persian, Arabic-Indic or Latin digits; English or
Persian column names.

Messages are translated (gettext) in the language of the request that imports the file.
"""
from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 5000

FIELDS = ("worker_id", "name", "email", "phone", "years_of_service", "education_grade", "sex", "site")

# Lower-case, single-spaced; Persian forms written with the Persian ye and kaf (see _norm).
HEADER_ALIASES = {
    "worker_id": {"worker id", "worker_id", "workerid", "id", "employee id", "employee number", "personnel number",
                  "staff id", "کد پرسنلی", "شماره پرسنلی", "کد کارمندی", "شناسه"},
    "name": {"name", "full name", "worker name", "نام", "نام و نام خانوادگی", "نام کامل"},
    "email": {"email", "e-mail", "e mail", "mail", "ایمیل", "پست الکترونیک", "رایانامه"},
    "phone": {"phone", "mobile", "telephone", "phone number", "mobile number", "تلفن", "موبایل", "تلفن همراه",
              "شماره تماس", "شماره همراه"},
    "years_of_service": {"years of service", "years_of_service", "service years", "years", "سابقه", "سابقه کار",
                         "سابقه خدمت", "سال های خدمت", "سالهای خدمت"},
    "education_grade": {"education", "education grade", "education_grade", "grade", "تحصیلات", "مدرک تحصیلی",
                        "پایه تحصیلی"},
    "sex": {"sex", "gender", "جنسیت", "جنس"},
    "site": {"site", "department", "site/department", "site / department", "unit", "workshop", "واحد", "بخش",
             "محل کار", "کارگاه", "واحد/بخش"},
}
REQUIRED = ("worker_id", "name")

EDUCATION_WORDS = {
    "primary": 6, "ابتدایی": 6,
    "lower secondary": 9, "cycle": 9, "سیکل": 9, "راهنمایی": 9,
    "diploma": 12, "high school": 12, "دیپلم": 12,
    "associate": 14, "کاردانی": 14, "فوق دیپلم": 14,
    "bachelor": 16, "bsc": 16, "ba": 16, "کارشناسی": 16, "لیسانس": 16,
    "master": 18, "msc": 18, "ma": 18, "کارشناسی ارشد": 18, "فوق لیسانس": 18,
    "doctorate": 22, "phd": 22, "دکتری": 22, "دکترا": 22,
}
SEX_WORDS = {
    "male": "male", "m": "male", "man": "male", "مرد": "male", "آقا": "male", "مذکر": "male",
    "female": "female", "f": "female", "woman": "female", "زن": "female", "خانم": "female", "مونث": "female",
    "other": "other", "دیگر": "other", "سایر": "other",
}

_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
_LETTERS = str.maketrans({"ي": "ی", "ى": "ی", "ك": "ک", "\u200c": " ", "\u00a0": " ", "\ufeff": "", "\u200f": "", "\u200e": ""})
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9]{7,15}$")


class RefusedFile(ValueError):
    """The whole file is refused; the message says why and what is accepted."""


@dataclass(frozen=True)
class Problem:
    column: str
    value: str
    reason: str


@dataclass
class Row:
    number: int  # as a spreadsheet shows it: the header is row 1
    cells: dict[str, str]  # the file's own columns, as read
    values: dict[str, object] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


@dataclass
class Roster:
    encoding: str
    columns: list[str]
    mapping: dict[str, str]  # our field -> the file's column
    rows: list[Row]


def clean_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return re.sub(r"\s+", " ", str(value).translate(_LETTERS).translate(_DIGITS)).strip()


def _norm_header(value) -> str:
    return clean_text(value).lower().replace("_", " ").replace("-", " ").strip(" :*")


def _header_lookup() -> dict[str, str]:
    lookup = {}
    for name, aliases in HEADER_ALIASES.items():
        for alias in aliases:
            lookup[_norm_header(alias)] = name
    return lookup


def accepted_headers() -> str:
    return ", ".join(f"{name} ({' / '.join(sorted(HEADER_ALIASES[name])[:3])})" for name in FIELDS)


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1256"), "windows-1256"
    except UnicodeDecodeError:
        raise RefusedFile(
            _("The file's text is neither UTF-8 nor Windows-1256. Save it as CSV UTF-8 or as an Excel workbook (.xlsx).")
        ) from None


def _table_from_csv(data: bytes) -> tuple[list[list[str]], str]:
    if b"\x00" in data[:4096]:
        raise RefusedFile(_("The file is not a table: upload a CSV file or an Excel workbook (.xlsx)."))
    text, encoding = _decode(data)
    if not text.strip():
        raise RefusedFile(_("The file is empty: it needs a header row and at least one row of workers."))
    first_line = text.lstrip("\r\n").splitlines()[0]
    delimiter = max(",;\t", key=first_line.count) if any(d in first_line for d in ",;\t") else ","
    try:
        table = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise RefusedFile(_("The file is not a readable table (%(error)s). Upload CSV or Excel (.xlsx).") % {"error": exc}) from None
    return table, encoding


def _table_from_xlsx(data: bytes) -> list[list[object]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError):
        raise RefusedFile(_("The file is not a readable Excel workbook: save it again as .xlsx or CSV.")) from None
    try:
        sheet = workbook.worksheets[0]
        table = []
        for values in sheet.iter_rows(values_only=True):
            table.append(list(values))
            if len(table) > MAX_ROWS + 1:
                break
        return table
    finally:
        workbook.close()


def read_table(data: bytes, filename: str = "") -> tuple[list[list[object]], str]:
    """The file's cells as rows, refusing what is not a table; also names the encoding."""
    if len(data) > MAX_BYTES:
        raise RefusedFile(
            _("The file is too large (%(size).1f MB): the limit is %(mb)s MB and %(rows)s rows. Split it into smaller files.")
            % {"size": len(data) / 1024 / 1024, "mb": MAX_BYTES // (1024 * 1024), "rows": MAX_ROWS}
        )
    if not data.strip():
        raise RefusedFile(_("The file is empty: it needs a header row and at least one row of workers."))
    if data.startswith(b"PK\x03\x04"):
        return _table_from_xlsx(data), "xlsx"
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise RefusedFile(_("Old Excel files (.xls) are not accepted: save the sheet as .xlsx or CSV and upload that."))
    if data.startswith((b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8")):
        raise RefusedFile(_("The file is not a table: upload a CSV file or an Excel workbook (.xlsx)."))
    return _table_from_csv(data)


def _parse_int(text: str, low: int, high: int) -> int:
    number = float(text)
    if not number.is_integer() or not low <= number <= high:
        raise ValueError
    return int(number)


def _check(row: Row, mapping: dict[str, str]) -> None:
    def cell(name):
        return row.cells.get(mapping[name], "") if name in mapping else ""

    def problem(name, reason):
        row.problems.append(Problem(mapping.get(name, name), cell(name), reason))

    for name in REQUIRED:
        if not cell(name):
            problem(name, _("is empty; every row needs a worker id and a name"))
    row.values["worker_id"] = cell("worker_id")
    if len(cell("worker_id")) > 60:
        problem("worker_id", _("is longer than 60 characters"))
    row.values["name"] = cell("name")[:200]

    email = cell("email")
    if email and not _EMAIL.match(email):
        problem("email", _("is not an e-mail address (expected name@example.org)"))
    row.values["email"] = email.lower()

    phone = re.sub(r"[\s\-().]", "", cell("phone"))
    if phone and not _PHONE.match(phone):
        problem("phone", _("is not a phone number (7 to 15 digits, optionally starting with +)"))
    row.values["phone"] = phone

    years = cell("years_of_service")
    row.values["years_of_service"] = None
    if years:
        try:
            row.values["years_of_service"] = _parse_int(years, 0, 60)
        except ValueError:
            problem("years_of_service", _("is not a whole number of years between 0 and 60"))

    education = cell("education_grade")
    row.values["education_grade"] = None
    if education:
        word = EDUCATION_WORDS.get(education.lower())
        if word is not None:
            row.values["education_grade"] = word
        else:
            try:
                row.values["education_grade"] = _parse_int(education, 0, 30)
            except ValueError:
                problem("education_grade", _("is not a school grade (0–30) or a known degree (diploma, bachelor, master, …)"))

    sex = cell("sex")
    row.values["sex"] = ""
    if sex:
        if sex.lower() in SEX_WORDS:
            row.values["sex"] = SEX_WORDS[sex.lower()]
        else:
            problem("sex", _("is not one of male, female, other (or مرد, زن)"))

    row.values["site"] = cell("site")[:120]


def parse(data: bytes, filename: str = "") -> Roster:
    """Read and check every row. Refuses the whole file (RefusedFile) if it is not a roster."""
    table, encoding = read_table(data, filename)
    numbered = [(number, row) for number, row in enumerate(table, start=1) if any(clean_text(v) for v in row)]
    if not numbered:
        raise RefusedFile(_("The file is empty: it needs a header row and at least one row of workers."))
    header = [clean_text(v) for v in numbered[0][1]]
    lookup = _header_lookup()
    mapping: dict[str, str] = {}
    for column in header:
        name = lookup.get(_norm_header(column))
        if name and name not in mapping:
            mapping[name] = column
    missing = [name for name in REQUIRED if name not in mapping]
    if missing:
        raise RefusedFile(
            _("No column we know for %(missing)s in the first row (%(found)s). The first row must name the columns; "
              "accepted: %(accepted)s.")
            % {"missing": " and ".join(missing), "found": ", ".join(header[:8]) or "empty", "accepted": accepted_headers()}
        )
    body = numbered[1:]
    if not body:
        raise RefusedFile(_("The file has a header but no rows of workers."))
    if len(body) > MAX_ROWS:
        raise RefusedFile(
            _("The file has more than %(rows)s rows, the limit (and at most %(mb)s MB). Split it into smaller files.")
            % {"rows": MAX_ROWS, "mb": MAX_BYTES // (1024 * 1024)}
        )
    rows = []
    for number, values in body:
        cells = {column: clean_text(values[i]) if i < len(values) else "" for i, column in enumerate(header) if column}
        row = Row(number=number, cells=cells)
        _check(row, mapping)
        rows.append(row)
    seen: dict[str, int] = {}
    for row in rows:
        worker = row.values.get("worker_id")
        if not worker or row.problems:
            continue
        if worker in seen:
            row.problems.append(Problem(mapping["worker_id"], worker, _("appears again (first in row %(row)s)") % {"row": seen[worker]}))
        else:
            seen[worker] = row.number
    return Roster(encoding=encoding, columns=[c for c in header if c], mapping=mapping, rows=rows)
