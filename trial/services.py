"""Every write to a trial goes through here, in a transaction, with its audit event."""
from django.db import transaction
from django.utils.text import slugify

from audit import services as audit
from trial.exceptions import TrialSlugTaken
from trial.models import Trial


@transaction.atomic
def create_trial(*, title: str, slug: str = "", language: str = Trial.Language.ENGLISH, by=None) -> Trial:
    slug = slug or slugify(title)
    if Trial.objects.filter(slug=slug).exists():
        raise TrialSlugTaken(f"A trial with the short name '{slug}' exists already; choose another short name.")
    trial = Trial.objects.create(title=title, slug=slug, language=language)
    audit.record("trial.trial.created", trial, by=by, after={"title": title, "slug": slug, "language": language})
    return trial
