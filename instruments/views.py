"""Researchers' pages: the library, wording import, opening a time point, completion, paper forms."""
import segno
from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.decorators import staff_permission_required
from config.errors import DomainError
from instruments import forms, selectors, services
from instruments.keys import Key
from instruments.library import get_instrument, read_definition, shipped_codes
from instruments.models import Administration, Instrument, Submission
from trial.models import TimePoint, Trial

researcher_only = staff_permission_required("trial.manage_trial")


@researcher_only
def instrument_list(request):
    stored = {}
    for instrument in Instrument.objects.order_by("code", "-version"):
        stored.setdefault(instrument.code, []).append(instrument)
    library = []
    for code in shipped_codes():
        definition = read_definition(code)
        library.append({"code": code, "name": definition["name"], "items": len(definition["items"]),
                        "licensed": definition.get("licensed", False), "versions": stored.get(code, [])})
    return render(request, "instruments/instrument_list.html", {"library": library})


@researcher_only
def instrument_detail(request, code):
    if code not in shipped_codes() and not Instrument.objects.filter(code=code).exists():
        raise Http404(f"no instrument {code}")
    versions = list(Instrument.objects.filter(code=code).order_by("-version"))
    definition = versions[0].definition if versions else read_definition(code)
    form = forms.KeyCorrectionForm(definition, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            current = get_instrument(code)
            new = services.correct_key(current, changes=form.changes(), reason=form.cleaned_data["reason"], by=request.user)
            rescored = services.rescore(new, reason=form.cleaned_data["reason"], by=request.user)
        except DomainError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Version %(v)s created; %(n)s scores recomputed (the old ones are kept).")
                             % {"v": new.version, "n": rescored})
            return redirect("instruments:detail", code=code)
    key = Key.from_definition(definition)
    return render(request, "instruments/instrument_detail.html", {
        "definition": definition, "versions": versions, "form": form, "key": key,
        "reverse": sorted(key.reverse, key=int), "missing_rule": key.missing.describe(len(key.items)),
    })


def _trial(slug):
    return get_object_or_404(Trial, slug=slug)


@researcher_only
def trial_questionnaires(request, slug):
    trial = _trial(slug)
    form = forms.WordingImportForm(trial, request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            count = services.import_wording(
                trial, form.cleaned_data["instrument"], form.csv_text(), by=request.user
            )
        except DomainError as exc:
            form.add_error("file", str(exc))
        else:
            messages.success(request, _("%(n)s item texts imported.") % {"n": count})
            return redirect("instruments:trial", slug=slug)
    time_points = []
    for time_point in trial.time_points.all():
        opens_at, closes_at = services.window_of(time_point)
        time_points.append({"time_point": time_point, "instruments": services.instruments_of(time_point),
                            "opens_at": opens_at, "closes_at": closes_at,
                            "problems": services.missing_wording(time_point)})
    return render(request, "instruments/trial_questionnaires.html",
                  {"trial": trial, "time_points": time_points, "form": form})


def _time_point(pk):
    return get_object_or_404(TimePoint.objects.select_related("trial"), pk=pk)


@researcher_only
def time_point_dashboard(request, pk):
    time_point = _time_point(pk)
    opens_at, closes_at = services.window_of(time_point)
    return render(request, "instruments/time_point_dashboard.html", {
        "time_point": time_point, "trial": time_point.trial, "opens_at": opens_at, "closes_at": closes_at,
        "completion": selectors.completion(time_point), "reminders": selectors.reminder_log(time_point),
        "open_form": forms.OpenTimePointForm(initial={"opens_on": (opens_at or timezone.now()).date()}),
    })


@researcher_only
@require_POST
def time_point_open(request, pk):
    time_point = _time_point(pk)
    form = forms.OpenTimePointForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("instruments:time_point", pk=pk)
    try:
        window = services.open_time_point(time_point, opens_at=form.opens_at(), by=request.user)
    except DomainError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Opened until %(date)s.") % {"date": timezone.localtime(window.closes_at).strftime("%Y-%m-%d")})
    return redirect("instruments:time_point", pk=pk)


def _chosen_administrations(request, time_point):
    chosen = Administration.objects.filter(time_point=time_point, submission__isnull=True).select_related("participant")
    ids = request.POST.getlist("administration")
    if ids:
        chosen = chosen.filter(pk__in=[i for i in ids if i.isdigit()])
    return list(chosen)


@researcher_only
@require_POST
def time_point_remind(request, pk):
    time_point = _time_point(pk)
    now = timezone.now()
    chosen = [a for a in _chosen_administrations(request, time_point)
              if a.is_open_at(now) and a.participant.email and a.participant.withdrawn_at is None]
    services.request_reminders(chosen, by=request.user)
    messages.success(request, _("Reminders requested for %(n)s participants (at most one per person per day).")
                     % {"n": len(chosen)})
    return redirect("instruments:time_point", pk=pk)


@researcher_only
@require_POST
def time_point_slips(request, pk):
    time_point = _time_point(pk)
    chosen = _chosen_administrations(request, time_point)
    if "without_email" in request.POST:
        chosen = [a for a in chosen if not a.participant.email]
    issued = services.issue_links(chosen, by=request.user, purpose="printed slips")
    slips = []
    for administration, path in issued:
        url = request.build_absolute_uri(path)
        slips.append({"administration": administration, "url": url,
                      "qr": segno.make(url, error="m").svg_inline(scale=3, border=2)})
    response = render(request, "instruments/slips_print.html",
                      {"time_point": time_point, "trial": time_point.trial, "slips": slips})
    response["Cache-Control"] = "no-store"
    return response


def _administration(pk):
    return get_object_or_404(
        Administration.objects.select_related("participant__trial", "time_point"), pk=pk
    )


@researcher_only
def administration_detail(request, pk, new_link=None):
    administration = _administration(pk)
    now = timezone.now()
    submission = Submission.objects.filter(administration=administration).first()
    return render(request, "instruments/administration_detail.html", {
        "administration": administration, "submission": submission, "new_link": new_link,
        "status": Administration.Status(administration.status_at(now, submitted=submission is not None)).label,
        "answers": services.answers_of(administration), "scores": selectors.scores_by_instrument(administration),
        "paper": selectors.paper_state(administration), "links": administration.links.all(),
        "reminders": administration.reminders.prefetch_related("attempts"),
    })


@researcher_only
@require_POST
def administration_link(request, pk):
    administration = _administration(pk)
    if "revoke" in request.POST:
        count = services.revoke_links(administration, by=request.user)
        messages.success(request, _("%(n)s links revoked.") % {"n": count})
        return redirect("instruments:administration", pk=pk)
    path = services.issue_link(administration, by=request.user)
    # Shown once, in this response only: the token is not stored anywhere.
    response = administration_detail(request, pk=pk, new_link=request.build_absolute_uri(path))
    response["Cache-Control"] = "no-store"
    return response


@researcher_only
def paper_entry(request, pk):
    administration = _administration(pk)
    instruments = services.instruments_of(administration.time_point)
    form = forms.PaperForm(instruments, request.POST or None)
    state = selectors.paper_state(administration)
    if request.method == "POST" and form.is_valid():
        try:
            entry = services.enter_paper_form(
                administration, answers=form.answers(), form_date=form.cleaned_data["form_date"], by=request.user,
                double_entry=form.cleaned_data.get("double_entry", False),
            )
        except DomainError as exc:
            form.add_error(None, str(exc))
        else:
            if Submission.objects.filter(administration=administration).exists():
                messages.success(request, _("The paper form is entered and scored."))
            elif entry.entry_number == 1:
                messages.success(request, _("First typing saved. A second person now types the same form."))
            else:
                messages.success(request, _("The two typings differ; a third person adjudicates the listed items."))
            return redirect("instruments:administration", pk=pk)
    return render(request, "instruments/paper_entry.html",
                  {"administration": administration, "form": form, "state": state,
                   "first_entry": not state["entries"]})


@researcher_only
def paper_adjudicate(request, pk):
    administration = _administration(pk)
    state = selectors.paper_state(administration)
    if not state["mismatches"]:
        messages.error(request, _("There is nothing to adjudicate for this form."))
        return redirect("instruments:administration", pk=pk)
    form = forms.AdjudicationForm(state["mismatches"], request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.adjudicate_paper_form(administration, resolved=form.resolved(), form_date=form.form_date(), by=request.user)
        except DomainError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Adjudicated; the form is now scored."))
            return redirect("instruments:administration", pk=pk)
    return render(request, "instruments/paper_adjudicate.html",
                  {"administration": administration, "form": form, "state": state})
