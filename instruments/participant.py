"""The participant's side: personal link → cookie → questionnaire pages, autosave and submit.

Participants are not users. The token appears once, on the first request; the pages after it
are token-free and the browser carries a signed, HttpOnly cookie naming the link.
"""
import datetime
import logging
import re

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from instruments import links, selectors, services
from instruments.exceptions import AlreadySubmitted, Incomplete, InvalidAnswers, NotOpen
from instruments.models import Administration, ParticipantLink, Submission

log = logging.getLogger(__name__)

ANSWER_FIELD = re.compile(r"^([a-z0-9_-]{1,20}):([A-Za-z0-9_-]{1,20})$")
NUMBER = re.compile(r"^-?\d{1,4}$")
MAX_AUTOSAVE_BYTES = 4096
MAX_PAGE_BYTES = 64 * 1024


# Helpers ------------------------------------------------------------------------------------


def _client_address(request) -> str:
    return request.META.get("REMOTE_ADDR", "")


def _bad_token_key(request) -> str:
    return f"instruments:bad-token:{_client_address(request)}"


def _rate_limited(request) -> bool:
    return (cache.get(_bad_token_key(request)) or 0) >= settings.PARTICIPANT_BAD_TOKEN_LIMIT


def _count_bad_token(request) -> None:
    key = _bad_token_key(request)
    if cache.add(key, 1, timeout=settings.PARTICIPANT_BAD_TOKEN_WINDOW_SECONDS):
        return
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=settings.PARTICIPANT_BAD_TOKEN_WINDOW_SECONDS)


def _private(response, *, referrer="same-origin"):
    """No caching of participant pages, no referrer leaving the site, no token in Django's logs.

    "same-origin", not "no-referrer", on the pages with forms: Chrome sends `Origin: null` with
    a no-referrer form post, which Django's CSRF check rightly refuses.
    """
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = referrer
    # Django logs every 4xx with its path; the path may hold a token (log_response honours this).
    response._has_been_logged = True
    return response


def _notice(request, status, title, body, *, trial=None, detail=""):
    language = trial.language if trial else translation.get_language()
    with translation.override(language):
        response = render(
            request, "instruments/questionnaire_notice.html",
            {"title": title(), "body": body(), "detail": detail, "trial": trial}, status=status,
        )
    return _private(response, referrer="no-referrer")


def _not_found(request):
    log.info("personal link refused from %s (unknown, malformed, revoked or long expired)", _client_address(request))
    return _notice(
        request, 404, lambda: _("Link not found"),
        lambda: _("This link is not valid. Please check that you copied all of it, or ask the research team for a new one."),
    )


def _current(request):
    """The link and administration the participant's cookie names, or None."""
    link_id = links.link_id_from_cookie(request.COOKIES.get(links.cookie_name()))
    if link_id is None:
        return None
    # One query on every participant request (autosave included): no ordering, only what is needed.
    administration = (
        Administration.objects.select_related("participant__trial")
        .filter(links__pk=link_id, links__revoked_at__isnull=True, participant__withdrawn_at__isnull=True)
        .order_by().first()
    )
    return administration


def participant_view(view):
    """Resolve the cookie to an administration and render in the trial's language."""

    def wrapped(request, *args, **kwargs):
        administration = _current(request)
        if administration is None:
            return _notice(
                request, 403, lambda: _("Please open your personal link"),
                lambda: _("Open the link from your invitation (e-mail or printed slip) to reach your questionnaire."),
            )
        with translation.override(administration.participant.trial.language):
            return _private(view(request, administration, *args, **kwargs))

    wrapped.__name__ = view.__name__
    return wrapped


def _closed(request, administration, now):
    trial = administration.participant.trial
    if administration.opens_at is None or now < administration.opens_at:
        return _notice(
            request, 200, lambda: _("Not open yet"),
            lambda: _("This questionnaire is not open yet. You will receive a message when it opens."),
            trial=trial, detail=administration.opens_at,
        )
    return render(request, "instruments/questionnaire_closed.html",
                  {"administration": administration, "trial": trial}, status=410)


def _parse_answers(post) -> dict[str, dict[str, object]]:
    """{code: {item: value}} from fields named "code:item"; other fields are ignored."""
    answers: dict[str, dict[str, object]] = {}
    for name, raw in post.items():
        match = ANSWER_FIELD.match(name)
        if not match:
            continue
        raw = raw.strip()
        value: object = int(raw) if NUMBER.match(raw) else (links.DECLINED if raw == links.DECLINED else raw)
        answers.setdefault(match.group(1), {})[match.group(2)] = value
    return answers


# Views --------------------------------------------------------------------------------------


def open_link(request, token):
    """Exchange the token for the cookie and leave the token-bearing address at once.

    Unknown, malformed, revoked and long-expired tokens all take the same path (one hash, one
    indexed query) and get the same 404, so the answer says nothing about which it was.
    """
    if _rate_limited(request):
        return _notice(request, 429, lambda: _("Too many attempts"),
                       lambda: _("Too many invalid links were tried from this address. Please wait 15 minutes and try again."))
    digest = links.token_hash(token)
    link = (ParticipantLink.objects.live().select_related("administration__participant__trial")
            .filter(token_hash=digest).first())
    now = timezone.now()
    notice = datetime.timedelta(days=settings.PARTICIPANT_CLOSED_NOTICE_DAYS)
    if (link is None or not links.looks_like_token(token)
            or link.administration.participant.withdrawn_at is not None
            or (link.administration.closes_at is not None and now > link.administration.closes_at + notice)):
        _count_bad_token(request)
        return _not_found(request)
    services.note_link_opened(link, now=now)
    response = redirect("instruments:questionnaire")
    closes_at = link.administration.closes_at
    max_age = int((closes_at + notice - now).total_seconds()) if closes_at else 60 * 60 * 24 * 90
    response.set_cookie(
        links.cookie_name(), links.cookie_value(link.pk), max_age=max(max_age, 60), httponly=True, samesite="Lax",
        secure=request.is_secure() or not settings.DEBUG,
    )
    return _private(response, referrer="no-referrer")


@participant_view
def questionnaire(request, administration):
    """Resume where the participant was: the first instrument with an unanswered item."""
    now = timezone.now()
    if Submission.objects.filter(administration=administration).exists():
        return redirect("instruments:thanks")
    if not administration.is_open_at(now):
        return _closed(request, administration, now)
    return redirect("instruments:step", step=selectors.resume_step(administration))


@participant_view
@require_http_methods(["GET", "POST"])
def step(request, administration, step):
    now = timezone.now()
    instruments = services.instruments_of(administration.time_point)
    if not 1 <= step <= len(instruments):
        return redirect("instruments:questionnaire")
    submission = Submission.objects.filter(administration=administration).first()
    if submission is None and not administration.is_open_at(now):
        return _closed(request, administration, now)
    error, status = "", 200
    if request.method == "POST":
        if submission is not None:
            return _already_submitted(request, administration, submission)
        if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_PAGE_BYTES:
            return HttpResponse(_("The form is too large."), status=400, content_type="text/plain; charset=utf-8")
        try:
            services.save_answers(administration, _parse_answers(request.POST))
        except (InvalidAnswers, NotOpen) as exc:
            error, status = str(exc), 400
        except AlreadySubmitted:
            return _already_submitted(request, administration, None)
        if not error:
            target = step - 1 if "back" in request.POST else step + 1
            return redirect("instruments:step", step=min(max(target, 1), len(instruments)))
    context = selectors.step_context(administration, instruments, step, language=translation.get_language())
    return render(request, "instruments/questionnaire_step.html",
                  {**context, "error": error, "submission": submission}, status=status)


@require_POST
def autosave(request):
    """One answer, saved as it is given (htmx). 400 says what is accepted; nothing is stored then.

    The hot path of the questionnaire: the link's check and the row lock are one query, and the
    reply is built without a template (the page counts newly answered items itself).
    """
    link_id = links.link_id_from_cookie(request.COOKIES.get(links.cookie_name()))
    if link_id is None:
        return _private(_plain(_("Not saved: open your personal link again."), 403))
    if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_AUTOSAVE_BYTES:
        return _private(_plain(_("Not saved: the request is too large (at most %(n)s bytes).") % {"n": MAX_AUTOSAVE_BYTES}, 400))
    answers = _parse_answers(request.POST)
    count = sum(len(items) for items in answers.values())
    if count == 0:
        return _private(_plain(_("Not saved: no answer was sent (fields are named instrument:item)."), 400))
    if count > 50:
        return _private(_plain(_("Not saved: at most 50 answers per request."), 400))
    try:
        administration, _saved = services.save_answers_by_link(link_id, answers)
    except Administration.DoesNotExist:
        return _private(_plain(_("Not saved: open your personal link again."), 403))
    except InvalidAnswers as exc:
        return _private(_plain(_("Not saved: %(reason)s") % {"reason": exc}, 400))
    except AlreadySubmitted:
        return _private(_plain(_("Not saved: this questionnaire has already been submitted."), 409))
    except NotOpen:
        return _private(_plain(_("Not saved: this questionnaire is closed."), 409))
    with translation.override(administration.language):
        return _private(HttpResponse(format_html('<span class="saved" data-state="saved">✓ {}</span>', _("Saved"))))


def _plain(text, status):
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")


@participant_view
@require_POST
def submit(request, administration):
    if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_PAGE_BYTES:
        return _plain(_("The form is too large."), 400)
    now = timezone.now()
    try:
        services.submit_response(administration, answers=_parse_answers(request.POST))
    except AlreadySubmitted:
        return _already_submitted(request, administration, Submission.objects.filter(administration=administration).first())
    except NotOpen:
        return _closed(request, administration, now)
    except (Incomplete, InvalidAnswers) as exc:
        instruments = services.instruments_of(administration.time_point)
        first_gap = selectors.resume_step(administration)
        context = selectors.step_context(administration, instruments, first_gap, language=translation.get_language())
        return render(request, "instruments/questionnaire_step.html",
                      {**context, "error": str(exc), "submission": None, "highlight_missing": True}, status=400)
    return redirect("instruments:thanks")


def _already_submitted(request, administration, submission):
    return render(request, "instruments/questionnaire_submitted.html",
                  {"administration": administration, "submission": submission, "again": True,
                   "trial": administration.participant.trial}, status=409)


@participant_view
def thanks(request, administration):
    submission = Submission.objects.filter(administration=administration).first()
    if submission is None:
        return redirect("instruments:questionnaire")
    return render(request, "instruments/questionnaire_submitted.html",
                  {"administration": administration, "submission": submission, "again": False,
                   "trial": administration.participant.trial})
