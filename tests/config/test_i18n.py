"""English and Persian from the first page: RTL, Persian digits, Jalali dates, a complete catalogue."""
import datetime

import polib
import pytest
from django.utils import translation

from config.templatetags import digits, localdate
from tests.conftest import REPO

pytestmark = pytest.mark.django_db


def test_persian_catalogue_translates_every_string():
    catalogue = polib.pofile(str(REPO / "locale" / "fa" / "LC_MESSAGES" / "django.po"))
    untranslated = [entry.msgid for entry in catalogue.untranslated_entries() + catalogue.fuzzy_entries()]
    assert untranslated == []


def test_persian_page_is_rtl_with_persian_digits_and_a_jalali_date(client):
    client.post("/i18n/setlang/", {"language": "fa", "next": "/accounts/login/"})
    page = client.get("/accounts/login/").content.decode()
    assert '<html lang="fa" dir="rtl">' in page
    assert "ورود" in page  # "Sign in" from the compiled catalogue
    assert any(month in page for month in ("آذر", "دی", "بهمن", "اسفند", "فروردین", "اردیبهشت", "خرداد",
                                           "تیر", "مرداد", "شهریور", "مهر", "آبان"))
    assert any(d in page for d in "۰۱۲۳۴۵۶۷۸۹")


def test_english_page_is_ltr_with_a_switch_to_persian(client):
    page = client.get("/accounts/login/").content.decode()
    assert '<html lang="en" dir="ltr">' in page
    assert 'name="language" value="fa"' in page


def test_jalali_date_and_digits_filters():
    nowruz = datetime.date(2025, 3, 21)
    with translation.override("fa"):
        assert localdate(nowruz) == "۱ فروردین ۱۴۰۴"
        assert digits(2024) == "۲۰۲۴"
    with translation.override("en"):
        assert localdate(nowruz) == "21 March 2025"
        assert digits(2024) == 2024
