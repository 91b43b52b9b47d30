"""Template filters available on every page (TEMPLATES builtins): digits and dates per language.

Persian pages show Persian digits and Jalali dates; English pages Latin digits and Gregorian dates.
"""
import datetime

import jdatetime
from django import template
from django.utils import timezone
from django.utils.translation import get_language

register = template.Library()

_PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
_JALALI_MONTHS = (
    "فروردین", "اردیبهشت", "خرداد", "تیر", "مرداد", "شهریور",
    "مهر", "آبان", "آذر", "دی", "بهمن", "اسفند",
)


def is_persian() -> bool:
    return (get_language() or "").startswith("fa")


def persian_digits(text) -> str:
    return str(text).translate(_PERSIAN_DIGITS)


@register.filter
def digits(value):
    """Write the value's digits in the page's script."""
    return persian_digits(value) if is_persian() else value


@register.filter
def localdate(value):
    """A date (or the local date of a datetime): Jalali with Persian digits on Persian pages."""
    if value in (None, ""):
        return ""
    if isinstance(value, datetime.datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    if is_persian():
        jalali = jdatetime.date.fromgregorian(date=value)
        return persian_digits(f"{jalali.day} {_JALALI_MONTHS[jalali.month - 1]} {jalali.year}")
    return value.strftime("%-d %B %Y")


@register.filter
def localdatetime(value):
    if value in (None, ""):
        return ""
    local = timezone.localtime(value) if timezone.is_aware(value) else value
    return f"{localdate(local)} {digits(local.strftime('%H:%M'))}"


@register.simple_tag
def today():
    return localdate(timezone.localdate())


@register.filter
def num(value, places=2):
    """A statistic rounded for a table (APA: fixed decimals), digits in the page's script."""
    if value is None or value == "":
        return "—"
    try:
        return digits(f"{float(value):.{int(places)}f}")
    except (TypeError, ValueError):
        return value


@register.filter
def pvalue(value):
    """p as APA writes it: three decimals without the leading zero, "< .001" below that."""
    if value is None or value == "":
        return "—"
    p = float(value)
    text = "< .001" if p < 0.001 else f"{p:.3f}".lstrip("0")
    return digits(text)


@register.filter
def dof(value):
    """Degrees of freedom: whole numbers as such, corrected (fractional) ones with two decimals."""
    if value is None or value == "":
        return "—"
    number = float(value)
    return digits(str(int(number))) if number.is_integer() else digits(f"{number:.2f}")
