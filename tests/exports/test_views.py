"""The Exports page and its downloads: researchers only, every download audited."""
import io
import zipfile

import pandas as pd
import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from exports import services

pytestmark = pytest.mark.django_db


def page_url(trial):
    return reverse("exports:trial", args=[trial.slug])


def download_url(trial):
    return reverse("exports:download", args=[trial.slug])


def codebook_url(trial):
    return reverse("exports:codebook", args=[trial.slug])


# Every request that could give data away: the page, each download, the codebook page.
EXPORT_REQUESTS = [("get", "page", {}), ("get", "codebook", {})] + [
    ("post", "download", {"format": export_format, "items": "1"}) for export_format in services.FORMATS
]


def send(client, trial, method, which, data):
    url = {"page": page_url, "download": download_url, "codebook": codebook_url}[which](trial)
    return getattr(client, method)(url, data)


def test_the_trial_page_links_to_its_exports(researcher_client, rich_trial):
    response = researcher_client.get(reverse("trial:detail", args=[rich_trial.slug]))
    assert f'href="{page_url(rich_trial)}"' in response.content.decode()


def test_the_exports_page_offers_every_format_and_the_item_option(researcher_client, rich_trial):
    html = researcher_client.get(page_url(rich_trial)).content.decode()
    for export_format in services.FORMATS:
        assert f'name="format" value="{export_format}"' in html
    assert 'name="items" value="1"' in html and f'action="{download_url(rich_trial)}"' in html
    assert f'href="{codebook_url(rich_trial)}"' in html
    assert "15 randomized participants" in html and "No exports yet." in html
    assert 'name="viewport"' in html


@pytest.mark.parametrize(("export_format", "filename", "content_type"), [
    ("long", "rich-long-items.csv", "text/csv"),
    ("wide", "rich-wide-items.csv", "text/csv"),
    ("sav", "rich-wide-items.sav", "application/x-spss-sav"),
    ("codebook", "rich-codebook-items.csv", "text/csv"),
    ("zip", "rich-export-items.zip", "application/zip"),
])
def test_a_researcher_downloads_each_format_and_it_is_audited(researcher_client, researcher, rich_trial, export_format,
                                                              filename, content_type):
    response = researcher_client.post(download_url(rich_trial), {"format": export_format, "items": "1"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith(content_type)
    assert response["Content-Disposition"] == f'attachment; filename="{filename}"'
    event = AuditEvent.objects.get(action=services.EXPORTED)
    assert (event.actor, event.after) == (researcher, {"format": export_format, "items": True, "file": filename,
                                                       **({"as": "csv"} if export_format == "codebook" else {})})
    if export_format == "zip":
        assert len(zipfile.ZipFile(io.BytesIO(response.content)).namelist()) == 8
    if export_format == "long":
        assert b",item," in response.content.splitlines()[0] and b",wssi,item,20," in response.content
    listed = researcher_client.get(page_url(rich_trial)).content.decode()
    assert filename in listed and "rita" in listed  # the recent exports, read from the audit trail


def test_without_the_item_option_no_item_rows(researcher_client, rich_trial):
    response = researcher_client.post(download_url(rich_trial), {"format": "long"})
    long = pd.read_csv(io.BytesIO(response.content), dtype=str)
    assert len(long) > 0 and (long["scale"] != "item").all()
    assert AuditEvent.objects.get(action=services.EXPORTED).after["items"] is False


def test_an_unknown_format_shows_what_is_accepted_and_audits_nothing(researcher_client, rich_trial):
    response = researcher_client.post(download_url(rich_trial), {"format": "xlsx"})
    assert response.status_code == 400
    assert "accepted: long, wide, sav, codebook, zip" in response.content.decode()
    assert not AuditEvent.objects.filter(action=services.EXPORTED).exists()


def test_a_download_is_a_post(researcher_client, rich_trial):
    assert researcher_client.get(download_url(rich_trial), {"format": "long"}).status_code == 405
    assert not AuditEvent.objects.filter(action=services.EXPORTED).exists()


def test_the_codebook_page_lists_the_variables_and_is_audited(researcher_client, researcher, rich_trial):
    response = researcher_client.get(codebook_url(rich_trial))
    html = response.content.decode()
    assert response["Content-Type"].startswith("text/html")
    assert "<code>wssi_total_pretest</code>" in html and "<code>arm</code>" in html
    assert AuditEvent.objects.get(action=services.EXPORTED).after == {
        "format": "codebook", "items": False, "file": "rich-codebook.html", "as": "html"}


def test_an_unknown_trial_is_404(researcher_client, rich_trial):
    assert researcher_client.get(reverse("exports:trial", args=["nope"])).status_code == 404
    assert researcher_client.post(reverse("exports:download", args=["nope"]), {"format": "long"}).status_code == 404


@pytest.mark.parametrize("role_client", ["facilitator_client", "monitor_client"])
@pytest.mark.parametrize(("method", "which", "data"), EXPORT_REQUESTS)
def test_facilitators_and_monitors_get_403_on_every_export_url(request, rich_trial, role_client, method, which, data):
    client = request.getfixturevalue(role_client)
    response = send(client, rich_trial, method, which, data)
    assert response.status_code == 403
    assert b"R000" not in response.content and b"Farahani" not in response.content
    assert not AuditEvent.objects.filter(action=services.EXPORTED).exists()


@pytest.mark.parametrize(("method", "which", "data"), EXPORT_REQUESTS)
def test_anonymous_visitors_are_sent_to_sign_in(rich_trial, method, which, data):
    response = send(Client(), rich_trial, method, which, data)
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]
    assert not AuditEvent.objects.filter(action=services.EXPORTED).exists()


def test_monitors_see_no_export_link_on_the_trial_page(monitor_client, rich_trial):
    response = monitor_client.get(reverse("trial:detail", args=[rich_trial.slug]))
    assert response.status_code == 200 and page_url(rich_trial) not in response.content.decode()
