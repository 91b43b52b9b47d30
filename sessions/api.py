"""The sessions API: the same selectors and services as the pages, explicit serializers.

Facilitators get their own groups only and never an arm; monitors read by pseudonym; only
researchers change the schedule; attendance is written by researchers or the group's facilitators.
"""
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from sessions import selectors, services
from sessions.models import Attendance, Cohort, GroupSession
from trial.models import Arm, Participant, Trial


class IsStaff(BasePermission):
    """Researchers, facilitators and monitors; writes need the researcher's permission unless the
    view allows facilitators (attendance)."""

    def has_permission(self, request, view):
        user = request.user
        if not user.is_authenticated:
            return False
        if not (user.has_perm(selectors.MANAGE) or user.has_perm(selectors.FACILITATE) or user.has_perm(selectors.VIEW)):
            return False
        if request.method in ("GET", "HEAD", "OPTIONS") or getattr(view, "facilitators_write", False):
            return True
        return selectors.can_manage(user)


# Output

class FacilitatorName(serializers.Serializer):
    username = serializers.CharField(source="get_username")


class GroupOutput(serializers.Serializer):
    """What a facilitator may see of a group: no arm, no cohort calendar of other arms."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    place = serializers.CharField()
    meeting_link = serializers.CharField()
    starts_at = serializers.DateTimeField(allow_null=True)
    cadence_days = serializers.IntegerField()
    number_of_sessions = serializers.IntegerField()
    session_minutes = serializers.IntegerField()
    facilitators = serializers.SerializerMethodField()

    def get_facilitators(self, group) -> list[str]:
        return [user.get_username() for user in group.facilitators.all()]


class GroupOutputWithArm(GroupOutput):
    trial = serializers.CharField(source="arm.trial.slug")
    arm = serializers.CharField(source="arm.slug")
    cohort = serializers.CharField(source="cohort.name")
    outside_analysis = serializers.BooleanField()


class MeetingOutput(serializers.Serializer):
    id = serializers.IntegerField()
    group = serializers.IntegerField(source="group_id")
    number = serializers.IntegerField()
    starts_at = serializers.DateTimeField()
    duration_minutes = serializers.IntegerField()
    status = serializers.CharField()
    status_reason = serializers.CharField()
    replaces = serializers.IntegerField(source="replaces_id", allow_null=True)


class AttendanceOutput(serializers.Serializer):
    participant = serializers.IntegerField(source="participant_id")
    pseudonym = serializers.CharField(source="participant.pseudonym")
    status = serializers.CharField()
    homework = serializers.CharField()
    note = serializers.CharField()
    updated = serializers.DateTimeField()


class AttendanceOutputWithName(AttendanceOutput):
    name = serializers.CharField(source="participant.name")


class DoseOutput(serializers.Serializer):
    participant = serializers.IntegerField(source="participant.pk")
    pseudonym = serializers.CharField(source="participant.pseudonym")
    arm = serializers.CharField(source="participant.allocation.arm.slug")
    held = serializers.IntegerField(source="dose.held")
    attended = serializers.IntegerField(source="dose.present")
    absences = serializers.IntegerField(source="dose.absences")
    unrecorded = serializers.IntegerField(source="dose.unrecorded")
    homework_completion = serializers.FloatField(source="dose.homework_completion", allow_null=True)
    flag = serializers.CharField()


# Input

class GroupInput(serializers.Serializer):
    trial = serializers.SlugField()
    arm = serializers.SlugField()
    cohort = serializers.CharField(max_length=80)
    posttest_opens = serializers.ChoiceField(choices=Cohort.PosttestOpens.choices, default=Cohort.PosttestOpens.WHEN_HELD)
    name = serializers.CharField(max_length=120)
    facilitators = serializers.ListField(child=serializers.CharField(), default=list)
    place = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    meeting_link = serializers.URLField(required=False, allow_blank=True, default="")
    starts_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    cadence_days = serializers.IntegerField(min_value=1, default=7)
    number_of_sessions = serializers.IntegerField(min_value=0, required=False, allow_null=True, default=None)


class MoveInput(serializers.Serializer):
    starts_at = serializers.DateTimeField()
    shift_later = serializers.BooleanField(default=False)
    reason = serializers.CharField(max_length=500)


class ReasonInput(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class ReplaceInput(serializers.Serializer):
    starts_at = serializers.DateTimeField()
    reason = serializers.CharField(max_length=500)


class AttendanceInput(serializers.Serializer):
    participant = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Attendance.Status.choices, required=False, allow_blank=True)
    homework = serializers.ChoiceField(choices=Attendance.Homework.choices, required=False, allow_blank=True)
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, trim_whitespace=False)


def _group_serializer(user):
    return GroupOutputWithArm if selectors.sees_arms(user) else GroupOutput


def _groups(user):
    return selectors.visible_groups(user).select_related("arm__trial", "cohort").prefetch_related("facilitators")


# Views

class GroupList(APIView):
    permission_classes = [IsStaff]

    @extend_schema(responses=GroupOutputWithArm(many=True), summary="Groups the caller may see (facilitators: their own, without arm)")
    def get(self, request):
        groups = _groups(request.user).order_by("pk")
        return Response(_group_serializer(request.user)(groups, many=True).data)

    @extend_schema(request=GroupInput, responses={201: GroupOutputWithArm}, summary="Create a group and its dated sessions (researchers)")
    def post(self, request):
        data = GroupInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        trial = get_object_or_404(Trial, slug=values["trial"])
        arm = get_object_or_404(Arm, trial=trial, slug=values["arm"])
        facilitators = list(selectors.facilitator_users().filter(username__in=values["facilitators"]))
        unknown = set(values["facilitators"]) - {u.username for u in facilitators}
        if unknown:
            return Response({"facilitators": [f"not facilitators: {', '.join(sorted(unknown))}"]}, status=400)
        with transaction.atomic():
            cohort = services.get_or_create_cohort(trial, name=values["cohort"], posttest_opens=values["posttest_opens"], by=request.user)
            group = services.create_group(
                arm, cohort=cohort, name=values["name"], facilitators=facilitators, place=values["place"],
                meeting_link=values["meeting_link"], starts_at=values["starts_at"], cadence_days=values["cadence_days"],
                number_of_sessions=values["number_of_sessions"], by=request.user,
            )
        return Response(GroupOutputWithArm(group).data, status=status.HTTP_201_CREATED)


class GroupDetail(APIView):
    permission_classes = [IsStaff]

    @extend_schema(responses=GroupOutputWithArm)
    def get(self, request, pk):
        group = get_object_or_404(_groups(request.user), pk=pk)
        return Response(_group_serializer(request.user)(group).data)


class GroupMeetings(APIView):
    permission_classes = [IsStaff]

    @extend_schema(responses=MeetingOutput(many=True), summary="A group's sessions, cancelled ones included")
    def get(self, request, pk):
        group = get_object_or_404(selectors.visible_groups(request.user), pk=pk)
        return Response(MeetingOutput(group.sessions.all(), many=True).data)


def _meeting(request, pk) -> GroupSession:
    return get_object_or_404(selectors.visible_meetings(request.user).select_related("group"), pk=pk)


class MeetingDetail(APIView):
    permission_classes = [IsStaff]

    @extend_schema(responses=MeetingOutput)
    def get(self, request, pk):
        return Response(MeetingOutput(_meeting(request, pk)).data)


class MeetingMove(APIView):
    permission_classes = [IsStaff]

    @extend_schema(request=MoveInput, responses=MeetingOutput(many=True), summary="Move a session (researchers)")
    def post(self, request, pk):
        meeting = _meeting(request, pk)
        data = MoveInput(data=request.data)
        data.is_valid(raise_exception=True)
        moved = services.move_session(meeting, by=request.user, **data.validated_data)
        return Response(MeetingOutput(moved, many=True).data)


class MeetingCancel(APIView):
    permission_classes = [IsStaff]

    @extend_schema(request=ReasonInput, responses=MeetingOutput, summary="Cancel a session (researchers)")
    def post(self, request, pk):
        meeting = _meeting(request, pk)
        data = ReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(MeetingOutput(services.cancel_session(meeting, by=request.user, **data.validated_data)).data)


class MeetingReplace(APIView):
    permission_classes = [IsStaff]

    @extend_schema(request=ReplaceInput, responses={201: MeetingOutput}, summary="Add a replacement for a cancelled session (researchers)")
    def post(self, request, pk):
        meeting = _meeting(request, pk)
        data = ReplaceInput(data=request.data)
        data.is_valid(raise_exception=True)
        replacement = services.add_replacement(meeting, by=request.user, **data.validated_data)
        return Response(MeetingOutput(replacement).data, status=status.HTTP_201_CREATED)


class MeetingAttendance(APIView):
    permission_classes = [IsStaff]
    facilitators_write = True

    def _output(self, user):
        return AttendanceOutputWithName if selectors.shows_names(user) else AttendanceOutput

    @extend_schema(responses=AttendanceOutputWithName(many=True), summary="A session's attendance (names for researchers and the group's facilitators)")
    def get(self, request, pk):
        meeting = _meeting(request, pk)
        rows = Attendance.objects.filter(group_session=meeting).select_related("participant").order_by("participant__pseudonym")
        return Response(self._output(request.user)(rows, many=True).data)

    @extend_schema(request=AttendanceInput, responses=AttendanceOutputWithName, summary="Record one participant's attendance, homework or note")
    def post(self, request, pk):
        meeting = _meeting(request, pk)
        if not selectors.can_take_roll(request.user, meeting):
            raise PermissionDenied("Only researchers and this group's facilitators record its attendance.")
        data = AttendanceInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        participant = get_object_or_404(Participant, pk=values.pop("participant"), trial_id=meeting.group.arm.trial_id)
        row = services.record_attendance(meeting, participant, by=request.user, **values)
        return Response(self._output(request.user)(row).data)


class TrialDose(APIView):
    permission_classes = [IsStaff]

    @extend_schema(responses=DoseOutput(many=True), summary="Dose and absence flag per allocated participant (researchers, monitors)")
    def get(self, request, slug):
        if not selectors.can_read_all(request.user):
            raise PermissionDenied("Dose and exclusions are for researchers and monitors.")
        trial = get_object_or_404(Trial, slug=slug)
        return Response(DoseOutput(selectors.doses(trial), many=True).data)


urlpatterns = [
    path("groups/", GroupList.as_view(), name="api-sessions-groups"),
    path("groups/<int:pk>/", GroupDetail.as_view(), name="api-sessions-group"),
    path("groups/<int:pk>/sessions/", GroupMeetings.as_view(), name="api-sessions-group-sessions"),
    path("meetings/<int:pk>/", MeetingDetail.as_view(), name="api-sessions-meeting"),
    path("meetings/<int:pk>/move/", MeetingMove.as_view(), name="api-sessions-meeting-move"),
    path("meetings/<int:pk>/cancel/", MeetingCancel.as_view(), name="api-sessions-meeting-cancel"),
    path("meetings/<int:pk>/replace/", MeetingReplace.as_view(), name="api-sessions-meeting-replace"),
    path("meetings/<int:pk>/attendance/", MeetingAttendance.as_view(), name="api-sessions-attendance"),
    path("trials/<slug:slug>/dose/", TrialDose.as_view(), name="api-sessions-dose"),
]
