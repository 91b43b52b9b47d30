"""Pages for groups and sessions. Each view parses input, calls one service or selector, renders."""
from __future__ import annotations

import datetime
from functools import wraps

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.decorators import staff_permission_required
from config.errors import DomainError
from config.templatetags import digits
from sessions import feeds, forms, selectors, services
from sessions.models import Attendance, Cohort, Group, GroupSession, Membership
from trial.models import Participant, Trial

researcher_required = staff_permission_required(selectors.MANAGE)


def staff_required(view):
    """Signed-in researchers, facilitators and monitors; what each sees is the selectors' business."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        user = request.user
        if not (user.has_perm(selectors.MANAGE) or user.has_perm(selectors.FACILITATE) or user.has_perm(selectors.VIEW)):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def reader_required(view):
    """Researchers and monitors: the trial-wide pages."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not selectors.can_read_all(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def _attempt(form, call):
    """Run a service; a domain refusal becomes the form's error message."""
    try:
        return call(), True
    except DomainError as exc:
        form.add_error(None, str(exc))
        return None, False


# The facilitator's day

@staff_permission_required(selectors.FACILITATE)
def today(request):
    """The facilitator's day: the sessions of the groups they run, today."""
    day = timezone.localdate()
    return render(request, "sessions/today.html", {
        "day": day,
        "meetings": selectors.todays_meetings(request.user, day),
        "feed_url": request.build_absolute_uri(
            reverse("sessions:calendar", args=[feeds.feed_token("user", request.user.pk)])
        ),
    })


# Trial-wide pages (researchers write, monitors read)

@reader_required
def index(request):
    trials = Trial.objects.all().order_by("-created")
    return render(request, "sessions/trial_list.html", {"trials": trials})


def _trial_page_context(request, trial, **forms_given):
    groups = list(
        Group.objects.filter(arm__trial=trial).select_related("arm", "cohort", "curriculum")
        .prefetch_related("facilitators").order_by("arm__order", "name")
    )
    sizes = dict(
        Membership.objects.current().filter(group__in=groups).values_list("group_id")
        .annotate(n=Count("id"))
    )
    for group in groups:
        group.size = sizes.get(group.pk, 0)
    arms = list(trial.arms.select_related("curriculum").all())
    placed = set(
        Membership.objects.current().filter(in_analysis=True, participant__trial=trial).values_list("participant_id", flat=True)
    )
    for arm in arms:
        allocated = list(
            Participant.objects.filter(allocation__arm=arm, withdrawn_at__isnull=True).values_list("pk", flat=True)
        )
        arm.waiting = sum(1 for pk in allocated if pk not in placed)
        arm.group_list = [g for g in groups if g.arm_id == arm.pk]
    return {
        "trial": trial,
        "arms": arms,
        "cohorts": trial.cohorts.all(),
        "can_manage": selectors.can_manage(request.user),
        "curriculum_form": forms_given.get("curriculum_form") or forms.CurriculumForm(trial=trial),
        "place_form": forms_given.get("place_form") or forms.PlaceForm(trial=trial),
        "cohort_form": forms.CohortForm(),
    }


@reader_required
def trial_groups(request, slug):
    trial = get_object_or_404(Trial, slug=slug)
    return render(request, "sessions/trial_groups.html", _trial_page_context(request, trial))


@researcher_required
@require_POST
def curriculum_load(request, slug):
    trial = get_object_or_404(Trial, slug=slug)
    form = forms.CurriculumForm(request.POST, trial=trial)
    if form.is_valid():
        data = form.cleaned_data
        result, ok = _attempt(form, lambda: services.load_curriculum(trial, code=data["code"], arm=data["arm"], by=request.user))
        if ok:
            messages.success(request, _("Curriculum loaded."))
            return redirect("sessions:trial", slug=slug)
    return render(request, "sessions/trial_groups.html", _trial_page_context(request, trial, curriculum_form=form), status=400)


@researcher_required
@require_POST
def place(request, slug):
    trial = get_object_or_404(Trial, slug=slug)
    form = forms.PlaceForm(request.POST, trial=trial)
    if form.is_valid():
        data = form.cleaned_data
        one = data["mode"] == "one"
        plan, ok = _attempt(form, lambda: services.place_participants(
            data["arm"], group=data["group"] if one else None, max_size=None if one else data["max_size"], by=request.user
        ))
        if ok:
            placed = sum(len(ps) for ps in plan.values())
            messages.success(request, _("%(n)s participant(s) placed.") % {"n": placed})
            return redirect("sessions:trial", slug=slug)
    return render(request, "sessions/trial_groups.html", _trial_page_context(request, trial, place_form=form), status=400)


@researcher_required
@require_POST
def cohort_posttest(request, pk):
    cohort = get_object_or_404(Cohort, pk=pk)
    form = forms.CohortForm(request.POST)
    if form.is_valid():
        result, ok = _attempt(form, lambda: services.set_posttest_opening(
            cohort, posttest_opens=form.cleaned_data["posttest_opens"], reason=form.cleaned_data["reason"], by=request.user
        ))
        if ok:
            messages.success(request, _("Saved."))
            return redirect("sessions:trial", slug=cohort.trial.slug)
    for error in form.errors.values():
        messages.error(request, " ".join(error))
    return redirect("sessions:trial", slug=cohort.trial.slug)


@researcher_required
def group_create(request, slug):
    trial = get_object_or_404(Trial, slug=slug)
    form = forms.GroupForm(request.POST or None, trial=trial, initial={"arm": request.GET.get("arm")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data

        def create():
            cohort = services.get_or_create_cohort(trial, name=data["cohort"], posttest_opens=data["posttest_opens"], by=request.user)
            return services.create_group(
                data["arm"], cohort=cohort, name=data["name"], facilitators=data["facilitators"], place=data["place"],
                meeting_link=data["meeting_link"], starts_at=form.starts_at, cadence_days=data["cadence_days"],
                number_of_sessions=data["number_of_sessions"], by=request.user,
            )

        group, ok = _attempt(form, _atomic(create))
        if ok:
            messages.success(request, _("Group created with its sessions."))
            return redirect("sessions:group", pk=group.pk)
    return render(request, "sessions/group_form.html", {"trial": trial, "form": form, "title": _("New group")},
                  status=400 if form.errors else 200)


def _atomic(call):
    """Several services as one: if the second refuses, the first is undone too."""

    def run():
        with transaction.atomic():
            return call()

    return run


@researcher_required
def waitlist_offer(request, slug):
    trial = get_object_or_404(Trial, slug=slug)
    form = forms.WaitlistOfferForm(request.POST or None, trial=trial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        group, ok = _attempt(form, lambda: services.offer_waitlist_group(
            data["arm"], cohort=data["cohort"], curriculum=data["curriculum"], name=data["name"],
            facilitators=data["facilitators"], place=data["place"], meeting_link=data["meeting_link"],
            starts_at=form.starts_at, cadence_days=data["cadence_days"], by=request.user,
        ))
        if ok:
            messages.success(request, _("Group created outside the analysis."))
            return redirect("sessions:group", pk=group.pk)
    return render(request, "sessions/group_form.html", {
        "trial": trial, "form": form, "title": _("Offer the waitlist the intervention"),
        "intro": _("After its follow-up the waitlist may get the intervention. This group is marked outside the analysis."),
    }, status=400 if form.errors else 200)


@reader_required
def dose(request, slug):
    trial = get_object_or_404(Trial, slug=slug)
    rows = selectors.doses(trial)
    return render(request, "sessions/dose_list.html", {
        "trial": trial, "rows": rows, "can_manage": selectors.can_manage(request.user),
        "names": selectors.shows_names(request.user), "exclusion_form": forms.ExclusionForm(),
        "flagged": sum(1 for row in rows if row.flag == selectors.Flag.FLAGGED),
    })


@researcher_required
@require_POST
def exclusion(request, pk):
    participant = get_object_or_404(Participant, pk=pk)
    form = forms.ExclusionForm(request.POST)
    if form.is_valid():
        result, ok = _attempt(form, lambda: services.decide_exclusion(
            participant, decision=form.cleaned_data["decision"], reason=form.cleaned_data["reason"], by=request.user
        ))
        if ok:
            messages.success(request, _("Decision recorded."))
            return redirect("sessions:dose", slug=participant.trial.slug)
    for error in form.non_field_errors() + [e for f, es in form.errors.items() if f != "__all__" for e in es]:
        messages.error(request, error)
    return redirect("sessions:dose", slug=participant.trial.slug)


# A group and its sessions

@staff_required
def group_detail(request, pk):
    group = get_object_or_404(selectors.visible_groups(request.user).select_related("arm__trial", "cohort", "curriculum"), pk=pk)
    meetings = list(group.sessions.all())
    plans = {p.number: p for p in group.curriculum.sessions.all()} if group.curriculum_id else {}
    for meeting in meetings:
        meeting.plan = plans.get(meeting.number)
    members = list(group.memberships.current().select_related("participant").order_by("participant__name"))
    can_manage = selectors.can_manage(request.user)
    context = {
        "group": group, "meetings": meetings, "members": members, "can_manage": can_manage,
        "sees_arms": selectors.sees_arms(request.user), "names": selectors.shows_names(request.user),
        "facilitators": group.facilitators.all(),
        "feed_url": request.build_absolute_uri(reverse("sessions:calendar", args=[feeds.feed_token("group", group.pk)]))
        if can_manage or group.facilitators.filter(pk=request.user.pk).exists() else "",
        "move_form": forms.MoveMemberForm(group=group) if can_manage else None,
        "facilitators_form": forms.FacilitatorsForm(initial={"facilitators": group.facilitators.all()}) if can_manage else None,
    }
    if can_manage:
        rows = {row.participant.pk: row for row in selectors.doses(group.arm.trial, [m.participant_id for m in members])}
        for member in members:
            member.dose_row = rows.get(member.participant_id)
    return render(request, "sessions/group_detail.html", context)


@researcher_required
@require_POST
def member_move(request, pk):
    group = get_object_or_404(Group, pk=pk)
    form = forms.MoveMemberForm(request.POST, group=group)
    if form.is_valid():
        participant = get_object_or_404(Participant, pk=form.cleaned_data["participant"])
        result, ok = _attempt(form, lambda: services.move_member(
            participant, to_group=form.cleaned_data["to_group"], reason=form.cleaned_data["reason"], by=request.user
        ))
        if ok:
            messages.success(request, _("Participant moved."))
            return redirect("sessions:group", pk=pk)
    for field, errors in form.errors.items():
        for error in errors:
            messages.error(request, error if field == "__all__" else f"{form.fields[field].label}: {error}")
    return redirect("sessions:group", pk=pk)


@researcher_required
@require_POST
def group_facilitators(request, pk):
    group = get_object_or_404(Group, pk=pk)
    form = forms.FacilitatorsForm(request.POST)
    if form.is_valid():
        result, ok = _attempt(form, lambda: services.change_facilitators(
            group, facilitators=form.cleaned_data["facilitators"], reason=form.cleaned_data["reason"], by=request.user
        ))
        if ok:
            messages.success(request, _("Facilitators changed."))
            return redirect("sessions:group", pk=pk)
    for field, errors in form.errors.items():
        for error in errors:
            messages.error(request, error if field == "__all__" else f"{form.fields[field].label}: {error}")
    return redirect("sessions:group", pk=pk)


def _meeting_for(request, pk) -> GroupSession:
    return get_object_or_404(
        selectors.visible_meetings(request.user).select_related("group__arm", "group__curriculum"), pk=pk
    )


@staff_required
def meeting_detail(request, pk):
    meeting = _meeting_for(request, pk)
    plan = selectors.plan_of(meeting)
    may_record = selectors.can_take_roll(request.user, meeting)
    opened = meeting.local_day <= timezone.localdate() and meeting.status != GroupSession.Status.CANCELLED
    return render(request, "sessions/meeting_detail.html", {
        "meeting": meeting, "group": meeting.group, "plan": plan,
        "rows": selectors.roll_call(meeting),
        "fidelity": selectors.fidelity_of(meeting, plan),
        "may_record": may_record and opened, "opened": opened,
        "can_manage": selectors.can_manage(request.user),
        "names": selectors.shows_names(request.user),
        "sees_arms": selectors.sees_arms(request.user),
        "statuses": Attendance.Status.choices, "homework_choices": Attendance.Homework.choices,
        "replacement": getattr(meeting, "replacement", None) if meeting.status == GroupSession.Status.CANCELLED else None,
    })


def _meeting_form_page(request, pk, form_class, template, call, success):
    meeting = get_object_or_404(GroupSession.objects.select_related("group"), pk=pk)
    initial = {}
    if form_class in (forms.MoveForm, forms.ReplaceForm):
        local = timezone.localtime(meeting.starts_at)
        initial = {"date": local.date(), "time": local.time().replace(second=0, microsecond=0)}
    form = form_class(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        result, ok = _attempt(form, lambda: call(meeting, form))
        if ok:
            messages.success(request, success)
            target = result if isinstance(result, GroupSession) else meeting
            return redirect("sessions:meeting", pk=target.pk)
    return render(request, template, {"meeting": meeting, "group": meeting.group, "form": form},
                  status=400 if form.errors else 200)


@researcher_required
def meeting_move(request, pk):
    return _meeting_form_page(
        request, pk, forms.MoveForm, "sessions/meeting_move.html",
        lambda meeting, form: services.move_session(
            meeting, starts_at=form.starts_at, shift_later=form.cleaned_data["shift_later"],
            reason=form.cleaned_data["reason"], by=request.user)[0],
        _("Session moved."),
    )


@researcher_required
def meeting_cancel(request, pk):
    return _meeting_form_page(
        request, pk, forms.CancelForm, "sessions/meeting_cancel.html",
        lambda meeting, form: services.cancel_session(meeting, reason=form.cleaned_data["reason"], by=request.user),
        _("Session cancelled."),
    )


@researcher_required
def meeting_replace(request, pk):
    return _meeting_form_page(
        request, pk, forms.ReplaceForm, "sessions/meeting_replace.html",
        lambda meeting, form: services.add_replacement(
            meeting, starts_at=form.starts_at, reason=form.cleaned_data["reason"], by=request.user),
        _("Replacement session added."),
    )


@staff_required
@require_POST
def meeting_held(request, pk):
    meeting = _meeting_for(request, pk)
    if not selectors.can_take_roll(request.user, meeting):
        raise PermissionDenied
    try:
        services.mark_held(meeting, by=request.user)
    except DomainError as exc:
        messages.error(request, str(exc))
    return redirect("sessions:meeting", pk=pk)


# The roll call: one tap, one request

def _tap_response(request, pk, message: str, status: int):
    if request.htmx:
        return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    if status >= 400:
        messages.error(request, message)
    return redirect("sessions:meeting", pk=pk)


def _saved_text(when: datetime.datetime) -> str:
    return _("Saved %(time)s") % {"time": digits(timezone.localtime(when).strftime("%H:%M"))}


@staff_required
@require_POST
def attendance(request, pk, participant_pk):
    meeting = _meeting_for(request, pk)
    if not selectors.can_take_roll(request.user, meeting):
        raise PermissionDenied
    participant = get_object_or_404(Participant, pk=participant_pk, trial_id=meeting.group.arm.trial_id)
    form = forms.AttendanceForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items())
        return _tap_response(request, pk, _("Not saved: %(problems)s") % {"problems": problems}, 400)
    try:
        row = services.record_attendance(meeting, participant, by=request.user, **form.changes(request.POST))
    except DomainError as exc:
        return _tap_response(request, pk, _("Not saved: %(problem)s") % {"problem": exc}, exc.http_status)
    return _tap_response(request, pk, _saved_text(row.updated), 200)


@staff_required
@require_POST
def fidelity(request, pk):
    meeting = _meeting_for(request, pk)
    if not selectors.can_take_roll(request.user, meeting):
        raise PermissionDenied
    delivered = request.POST.get("delivered")
    if delivered not in ("yes", "no"):
        return _tap_response(request, pk, _("Not saved: say 'yes' or 'no' for delivered."), 400)
    try:
        check = services.record_fidelity(meeting, item=request.POST.get("item", ""), delivered=delivered == "yes", by=request.user)
    except DomainError as exc:
        return _tap_response(request, pk, _("Not saved: %(problem)s") % {"problem": exc}, exc.http_status)
    return _tap_response(request, pk, _saved_text(check.updated), 200)


# Calendar feeds

def calendar(request, token):
    """A facilitator's or a group's sessions as .ics; the signed token is the credential."""
    found = feeds.read_token(token)
    if found is None:
        raise Http404
    kind, pk = found
    meetings = GroupSession.objects.select_related("group").order_by("starts_at")
    if kind == "user":
        user = get_object_or_404(get_user_model(), pk=pk, is_active=True)
        meetings = meetings.filter(group__facilitators=user)
        name = _("Group sessions of %(user)s") % {"user": user.get_username()}
    else:
        group = get_object_or_404(Group, pk=pk)
        meetings = meetings.filter(group=group)
        name = group.name
    body = feeds.build_ics(list(meetings), name=name, host=request.get_host().split(":")[0])
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="sessions.ics"'
    return response
