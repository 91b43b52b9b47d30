"""Trial pages: each view parses input, calls one service or selector, and renders."""
import csv
import io

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.decorators import staff_permission_required
from config.errors import DomainError
from trial import blueprints, forms, selectors, services
from trial.models import (
    Allocation,
    AllocationCorrection,
    Arm,
    RosterImport,
    ScreeningClosure,
    TimePoint,
    Trial,
)

MANAGE = "trial.manage_trial"
VIEW = "trial.view_trial"
PAGE_SIZE = 50


def _fail(request, exc: DomainError):
    messages.error(request, str(exc))


# Trials ------------------------------------------------------------------------------------


@staff_permission_required(VIEW)
def trial_list(request):
    return render(request, "trial/trial_list.html", {"trials": selectors.visible_trials(request.user)})


@staff_permission_required(MANAGE)
def trial_new(request):
    form = forms.TemplateForm(request.POST or None, initial={"template": "burnout-three-arm"})
    if request.method == "POST" and form.is_valid():
        try:
            trial = services.create_trial_from_template(
                form.cleaned_data["template"], slug=form.cleaned_data["slug"], title=form.cleaned_data["title"],
                language=form.cleaned_data["language"], by=request.user,
            )
        except DomainError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Trial created from the template."))
            return redirect("trial:detail", trial.slug)
    templates = [(name, data["description"]) for name, data in blueprints.TEMPLATES.items()]
    return render(request, "trial/trial_new.html", {"form": form, "templates": templates})


@staff_permission_required(VIEW)
def trial_detail(request, slug):
    trial = selectors.trial_for(request.user, slug)
    return render(request, "trial/trial_detail.html", {
        "trial": trial,
        "arms": trial.arms.all(),
        "time_points": trial.time_points.prefetch_related("instrument_links__instrument").select_related("anchor_time_point"),
        "counts": [(selectors.STAGE_LABELS[k], n) for k, n in selectors.stage_counts(trial).items() if n],
        "arm_counts": selectors.arm_counts(trial) if selectors.sees_arms(request.user) else [],
        "locks": services.setting_locks(trial),
        "next_statuses": [(s, Trial.Status(s).label) for s in services.next_statuses(trial)],
        "scheme": services.randomization_of(trial),
        "consent_texts": trial.consent_texts.all(),
        "can_manage": request.user.has_perm(MANAGE),
    })


@require_POST
@staff_permission_required(MANAGE)
def trial_status(request, slug):
    trial = selectors.trial_for(request.user, slug)
    try:
        services.change_status(trial, to=request.POST.get("status", ""), reason=request.POST.get("reason", ""), by=request.user)
    except DomainError as exc:
        _fail(request, exc)
    else:
        messages.success(request, _("Status changed."))
    return redirect("trial:detail", trial.slug)


@staff_permission_required(MANAGE)
def trial_settings(request, slug):
    trial = selectors.trial_for(request.user, slug)
    form = forms.TrialSettingsForm(request.POST or None, instance=Trial.objects.get(pk=trial.pk))
    if request.method == "POST" and form.is_valid():
        try:
            services.update_trial_settings(trial, changes=form.cleaned_data, by=request.user)
        except DomainError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Settings saved."))
            return redirect("trial:detail", trial.slug)
    return render(request, "trial/trial_settings.html", {"trial": trial, "form": form, "locks": services.setting_locks(trial)})


@staff_permission_required(MANAGE)
def arm_edit(request, slug, arm=None):
    trial = selectors.trial_for(request.user, slug)
    instance = get_object_or_404(Arm, trial=trial, slug=arm) if arm else None
    form = forms.ArmForm(request.POST or None, instance=Arm.objects.get(pk=instance.pk) if instance else Arm(trial=trial))
    if request.method == "POST" and form.is_valid():
        try:
            services.save_arm(trial, values=form.cleaned_data, arm=instance, by=request.user)
        except DomainError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Arm saved."))
            return redirect("trial:detail", trial.slug)
    return render(request, "trial/arm_form.html", {"trial": trial, "form": form, "arm": instance})


@staff_permission_required(MANAGE)
def time_point_edit(request, slug, time_point=None):
    trial = selectors.trial_for(request.user, slug)
    instance = get_object_or_404(TimePoint, trial=trial, slug=time_point) if time_point else None
    form = forms.TimePointForm(
        request.POST or None, trial=trial,
        instance=TimePoint.objects.get(pk=instance.pk) if instance else TimePoint(trial=trial),
    )
    if request.method == "POST" and form.is_valid():
        values = {k: v for k, v in form.cleaned_data.items() if k != "instruments"}
        try:
            services.save_time_point(trial, values=values, instruments=form.cleaned_data["instruments"],
                                     time_point=instance, by=request.user)
        except DomainError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Time point saved."))
            return redirect("trial:detail", trial.slug)
    return render(request, "trial/time_point_form.html", {"trial": trial, "form": form, "time_point": instance})


@staff_permission_required(MANAGE)
def consent_texts(request, slug):
    trial = selectors.trial_for(request.user, slug)
    form = forms.ConsentTextForm(request.POST or None, initial={"language": trial.language})
    if request.method == "POST" and form.is_valid():
        try:
            services.add_consent_text(trial, by=request.user, **form.cleaned_data)
        except DomainError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("New consent text version saved."))
            return redirect("trial:consent_texts", trial.slug)
    return render(request, "trial/consent_texts.html", {"trial": trial, "form": form, "texts": trial.consent_texts.all()})


# Roster ------------------------------------------------------------------------------------


@staff_permission_required(MANAGE)
def roster_upload(request, slug):
    trial = selectors.trial_for(request.user, slug)
    form = forms.RosterUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        from trial.roster import MAX_BYTES

        data = upload.read(MAX_BYTES + 1)
        try:
            result = services.import_roster(trial, data=data, filename=upload.name, by=request.user)
        except DomainError as exc:
            form.add_error("file", str(exc))
        else:
            return redirect("trial:roster_result", trial.slug, result.pk)
    imports = trial.roster_imports.all()[:10]
    return render(request, "trial/roster_upload.html", {"trial": trial, "form": form, "imports": imports})


@staff_permission_required(MANAGE)
def roster_result(request, slug, pk):
    trial = selectors.trial_for(request.user, slug)
    result = get_object_or_404(RosterImport, trial=trial, pk=pk)
    rows = sorted({r["row"] for r in result.rejected})
    return render(request, "trial/roster_result.html", {"trial": trial, "result": result, "rejected_rows": len(rows)})


@staff_permission_required(MANAGE)
def roster_rejected_csv(request, slug, pk):
    trial = selectors.trial_for(request.user, slug)
    result = get_object_or_404(RosterImport, trial=trial, pk=pk)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["row", "column", "reason", *result.columns])
    for problem in result.rejected:
        writer.writerow([problem["row"], problem["column"], problem["reason"], *[problem["cells"].get(c, "") for c in result.columns]])
    # BOM: Excel then opens Persian text as UTF-8.
    response = HttpResponse("\ufeff" + out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{trial.slug}-rejected-rows-{result.pk}.csv"'
    return response


# Screening ---------------------------------------------------------------------------------


@staff_permission_required(VIEW)
def screening(request, slug):
    trial = selectors.trial_for(request.user, slug)
    if request.method == "POST":
        if not request.user.has_perm(MANAGE):
            raise PermissionDenied
        action = request.POST.get("action")
        try:
            if action == "open":
                added = services.open_screening(trial, by=request.user)
                messages.success(request, _("Screening is open: %(n)s questionnaires added.") % {"n": added})
            elif action == "close":
                services.close_screening(trial, by=request.user)
                messages.success(request, _("Screening closed: the figures are frozen."))
        except DomainError as exc:
            _fail(request, exc)
        return redirect("trial:screening", trial.slug)
    closure = getattr(trial, "screening_closure", None)
    context = {"trial": trial, "closure": closure, "can_manage": request.user.has_perm(MANAGE),
               "show_identity": selectors.shows_identity(request.user),
               "time_point": trial.time_points.filter(is_screening=True).first()}
    if closure is None:
        try:
            context["live_n"] = len(services.screening_totals(trial))
        except DomainError as exc:
            context["problem"] = str(exc)
        context["roster_n"] = trial.participants.active().count()
    else:
        context["by_site"] = selectors.screening_by_site(trial)
        context["passing"] = trial.participants.filter(screening_passed=True).order_by("pseudonym")
    return render(request, "trial/screening_report.html", context)


@staff_permission_required(VIEW)
def screening_histogram(request, slug):
    trial = selectors.trial_for(request.user, slug)
    closure = get_object_or_404(ScreeningClosure, trial=trial)
    from trial.charts import screening_histogram_svg

    svg = screening_histogram_svg(closure, labels={
        "x": _("Screening total (MBI)"), "y": _("Workers"), "fixed": _("Fixed cutoff"), "sd": _("Mean + k·SD"),
    })
    return HttpResponse(svg, content_type="image/svg+xml")


# Eligibility, consent, enrollment ----------------------------------------------------------


@staff_permission_required(MANAGE)
def eligibility_queue(request, slug):
    """Everyone waiting for an eligibility decision, with the auto-filled checklist; a researcher
    ticks "can attend" for those who can and confirms them in one go."""
    trial = selectors.trial_for(request.user, slug)
    waiting = trial.participants.active().filter(eligible__isnull=True).order_by("pseudonym")
    if trial.time_points.filter(is_screening=True).exists():
        # Only those who passed screening wait; those below the cutoff are screened out.
        waiting = waiting.filter(screening_passed=True)
    if request.method == "POST":
        chosen = list(waiting.filter(pseudonym__in=request.POST.getlist("confirm")))
        attend = set(request.POST.getlist("attend"))
        try:
            count = services.confirm_eligibility_many(
                chosen, can_attend={p.pk for p in chosen if p.pseudonym in attend}, by=request.user
            )
        except DomainError as exc:
            _fail(request, exc)
        else:
            messages.success(request, _("Eligibility confirmed for %(n)s participants.") % {"n": count})
        return redirect("trial:eligibility", trial.slug)
    people = list(waiting.select_related("trial").prefetch_related("trial__time_points"))
    checklists = [(p, services.eligibility_items(p)) for p in people]
    codes = [c for c in services.CRITERIA if any(c in items for _p, items in checklists)]
    rows = [(p, [(code, forms.CRITERION_LABELS[code], items.get(code)) for code in codes]) for p, items in checklists]
    return render(request, "trial/eligibility_queue.html", {
        "trial": trial, "rows": rows, "labels": [forms.CRITERION_LABELS[c] for c in codes],
        "screening_closed": hasattr(trial, "screening_closure"),
    })


@staff_permission_required(MANAGE)
def enrollment(request, slug):
    """Paper consents collected at a consent session, then enrollment, for many at once."""
    trial = selectors.trial_for(request.user, slug)
    waiting = trial.participants.active().filter(eligible=True, enrolled_at__isnull=True).order_by("pseudonym")
    form = forms.BulkConsentForm(request.POST or None, initial={"signed_on": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        chosen = list(waiting.filter(pseudonym__in=request.POST.getlist("participants")))
        if not chosen:
            form.add_error(None, _("Tick the participants whose signed forms you have."))
        else:
            try:
                count = services.consent_on_paper_and_enroll(chosen, by=request.user, **form.cleaned_data)
            except DomainError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, _("%(n)s participants consented and enrolled.") % {"n": count})
                return redirect("trial:enrollment", trial.slug)
    return render(request, "trial/enrollment.html", {
        "trial": trial, "form": form, "waiting": waiting.prefetch_related("consents"),
        "consent_text": services.current_consent_text(trial, trial.language),
    })


# Randomization -----------------------------------------------------------------------------


@staff_permission_required(MANAGE)
def randomization(request, slug):
    trial = selectors.trial_for(request.user, slug)
    scheme = services.randomization_of(trial)
    form = forms.RandomizationForm(request.POST or None, instance=type(scheme).objects.get(pk=scheme.pk))
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "save" and form.is_valid():
                values = {k: form.cleaned_data[k] for k in form.Meta.fields}
                services.update_randomization(trial, values=values, by=request.user)
                messages.success(request, _("Randomization settings saved."))
                return redirect("trial:randomization", trial.slug)
            if action == "lock":
                services.lock_randomization(trial, by=request.user)
                messages.success(request, _("Randomization locked: the concealed sequence is generated."))
                return redirect("trial:randomization", trial.slug)
            if action == "cohort":
                allocations = services.randomize_cohort(trial, by=request.user)
                messages.success(request, _("%(n)s participants randomized.") % {"n": len(allocations)})
                return redirect("trial:participants", trial.slug)
        except DomainError as exc:
            if action == "save":
                form.add_error(None, str(exc))
            else:
                _fail(request, exc)
                return redirect("trial:randomization", trial.slug)
    return render(request, "trial/randomization.html", {
        "trial": trial, "scheme": scheme, "form": form, "arms": trial.arms.all(),
        "waiting": trial.participants.awaiting_allocation().count(),
        "arm_counts": selectors.arm_counts(trial),
        "can_view_sequence": request.user.has_perm("trial.view_sequence"),
    })


@staff_permission_required(VIEW)
def sequence(request, slug):
    trial = selectors.trial_for(request.user, slug)
    slots = services.reveal_sequence(trial, by=request.user)
    return render(request, "trial/sequence.html", {"trial": trial, "slots": slots, "scheme": services.randomization_of(trial)})


# Participants ------------------------------------------------------------------------------


@staff_permission_required(VIEW)
def participant_list(request, slug):
    trial = selectors.trial_for(request.user, slug)
    arms = list(trial.arms.all()) if selectors.sees_arms(request.user) else []
    form = forms.ParticipantFilterForm(request.GET or None, arms=arms, sites=selectors.sites_of(trial))
    filters = form.cleaned_data if form.is_valid() else {}
    rows = selectors.participant_rows(
        request.user, trial, stage=filters.get("stage", ""), arm=filters.get("arm", ""),
        site=filters.get("site", ""), q=filters.get("q", ""),
    )
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    for participant in page:
        participant.stage = selectors.stage_of(participant)
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "trial/participant_list.html", {
        "trial": trial, "form": form, "page": page, "query": query.urlencode(),
        "show_identity": selectors.shows_identity(request.user), "show_arms": selectors.sees_arms(request.user),
        "stage_labels": selectors.STAGE_LABELS,
    })


@staff_permission_required(VIEW)
def participant_detail(request, slug, pseudonym):
    trial = selectors.trial_for(request.user, slug)
    participant = selectors.participant_for(request.user, trial, pseudonym)
    can_manage = request.user.has_perm(MANAGE)
    context = {
        "trial": trial, "participant": participant, "stage": selectors.stage_of(participant),
        "stage_labels": selectors.STAGE_LABELS, "timeline": selectors.timeline(request.user, participant),
        "show_identity": selectors.shows_identity(request.user), "show_arms": selectors.sees_arms(request.user),
        "can_manage": can_manage, "consents": participant.consents.select_related("text"),
        "eligibility": getattr(participant, "eligibility", None), "labels": forms.CRITERION_LABELS,
    }
    allocation = Allocation.objects.filter(participant=participant).select_related("arm").first()
    context["allocation"] = allocation
    context["corrections"] = allocation.corrections.select_related("requested_by", "confirmed_by", "arm_received") if allocation else []
    if can_manage:
        items = services.eligibility_items(participant)
        context.update({
            "items": items,
            "eligibility_form": forms.EligibilityForm(items=items),
            "consent_form": forms.PaperConsentForm(trial=trial),
            "withdraw_form": forms.WithdrawForm(initial={"on": timezone.localdate()}),
            "correction_form": forms.CorrectionForm(trial=trial),
            "scheme": services.randomization_of(trial),
        })
    return render(request, "trial/participant_detail.html", context)


def _participant_action(request, slug, pseudonym):
    participant = selectors.participant_to_change(request.user, slug, pseudonym)
    return participant.trial, participant


def _back(trial, participant):
    return redirect("trial:participant", trial.slug, participant.pseudonym)


def _form_errors(request, form):
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        messages.error(request, f"{label}: {' '.join(errors)}" if label else " ".join(errors))


@require_POST
@staff_permission_required(MANAGE)
def participant_eligibility(request, slug, pseudonym):
    trial, participant = _participant_action(request, slug, pseudonym)
    form = forms.EligibilityForm(request.POST, items=services.eligibility_items(participant))
    if form.is_valid():
        try:
            services.confirm_eligibility(participant, answers=form.answers(), note=form.cleaned_data["note"], by=request.user)
            messages.success(request, _("Eligibility confirmed."))
        except DomainError as exc:
            _fail(request, exc)
    else:
        _form_errors(request, form)
    return _back(trial, participant)


@require_POST
@staff_permission_required(MANAGE)
def participant_consent(request, slug, pseudonym):
    trial, participant = _participant_action(request, slug, pseudonym)
    form = forms.PaperConsentForm(request.POST, trial=trial)
    if form.is_valid():
        try:
            services.record_paper_consent(participant, by=request.user, **form.cleaned_data)
            messages.success(request, _("Paper consent recorded."))
        except DomainError as exc:
            _fail(request, exc)
    else:
        _form_errors(request, form)
    return _back(trial, participant)


@require_POST
@staff_permission_required(MANAGE)
def participant_enroll(request, slug, pseudonym):
    trial, participant = _participant_action(request, slug, pseudonym)
    try:
        services.enroll(participant, by=request.user)
        messages.success(request, _("Enrolled."))
    except DomainError as exc:
        _fail(request, exc)
    return _back(trial, participant)


@require_POST
@staff_permission_required(MANAGE)
def participant_allocate(request, slug, pseudonym):
    trial, participant = _participant_action(request, slug, pseudonym)
    try:
        allocation = services.allocate(participant, by=request.user)
        messages.success(request, _("Randomized to %(arm)s.") % {"arm": allocation.arm.name})
    except DomainError as exc:
        _fail(request, exc)
    return _back(trial, participant)


@require_POST
@staff_permission_required(MANAGE)
def participant_withdraw(request, slug, pseudonym):
    trial, participant = _participant_action(request, slug, pseudonym)
    form = forms.WithdrawForm(request.POST)
    if form.is_valid():
        try:
            services.withdraw(participant, by=request.user, **form.cleaned_data)
            messages.success(request, _("Withdrawal recorded; the data collected so far is kept."))
        except DomainError as exc:
            _fail(request, exc)
    else:
        _form_errors(request, form)
    return _back(trial, participant)


@require_POST
@staff_permission_required(MANAGE)
def correction_request(request, slug, pseudonym):
    trial, participant = _participant_action(request, slug, pseudonym)
    allocation = get_object_or_404(Allocation, participant=participant)
    form = forms.CorrectionForm(request.POST, trial=trial)
    if form.is_valid():
        try:
            services.request_correction(allocation, by=request.user, **form.cleaned_data)
            messages.success(request, _("Correction recorded; a second researcher must confirm it."))
        except DomainError as exc:
            _fail(request, exc)
    else:
        _form_errors(request, form)
    return _back(trial, participant)


@require_POST
@staff_permission_required(MANAGE)
def correction_confirm(request, slug, pseudonym, pk):
    trial, participant = _participant_action(request, slug, pseudonym)
    correction = get_object_or_404(AllocationCorrection, pk=pk, allocation__participant=participant)
    try:
        services.confirm_correction(correction, by=request.user)
        messages.success(request, _("Correction confirmed."))
    except DomainError as exc:
        _fail(request, exc)
    return _back(trial, participant)

