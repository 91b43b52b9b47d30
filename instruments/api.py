"""The questionnaire API for staff. Writes call the same services as the pages.

Answers and scores go to researchers only (selectors.sees_answers); facilitators get 403 on
every endpoint here.
"""
from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from instruments import selectors, services
from instruments.library import UnknownInstrument, get_instrument, shipped_codes
from instruments.models import Administration, Instrument, Submission
from trial.models import Participant, TimePoint


class IsResearcher(BasePermission):
    def has_permission(self, request, view):
        return request.user.is_authenticated and request.user.has_perm("trial.manage_trial")


class IsResearcherOrMonitor(BasePermission):
    def has_permission(self, request, view):
        user = request.user
        return user.is_authenticated and (user.has_perm("trial.manage_trial") or user.has_perm("trial.monitor_trial"))


class InstrumentOutput(serializers.ModelSerializer):
    licensed = serializers.SerializerMethodField()
    items = serializers.SerializerMethodField()

    class Meta:
        model = Instrument
        fields = ["code", "version", "name", "licensed", "items", "definition", "created"]
        read_only_fields = fields

    def get_licensed(self, obj) -> bool:
        return bool(obj.definition.get("licensed"))

    def get_items(self, obj) -> int:
        return len(obj.definition.get("items", []))


class InstrumentList(generics.ListAPIView):
    """Stored instrument versions (every shipped instrument is stored on first listing)."""

    serializer_class = InstrumentOutput
    permission_classes = [IsResearcherOrMonitor]
    queryset = Instrument.objects.none()

    def get_queryset(self):
        for code in shipped_codes():
            get_instrument(code)
        return selectors.visible_instruments(self.request.user)


class InstrumentDetail(APIView):
    permission_classes = [IsResearcherOrMonitor]

    @extend_schema(responses=InstrumentOutput)
    def get(self, request, code):
        try:
            instrument = get_instrument(code)
        except UnknownInstrument as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_404_NOT_FOUND)
        return Response(InstrumentOutput(instrument).data)


class AdministrationOutput(serializers.ModelSerializer):
    participant = serializers.CharField(source="participant.pseudonym")
    time_point = serializers.IntegerField(source="time_point_id")
    status = serializers.CharField(source="current_status")

    class Meta:
        model = Administration
        fields = ["id", "participant", "time_point", "opens_at", "closes_at", "started_at", "status"]
        read_only_fields = fields


class AdministrationsInput(serializers.Serializer):
    time_point = serializers.PrimaryKeyRelatedField(queryset=TimePoint.objects.all())
    participants = serializers.PrimaryKeyRelatedField(queryset=Participant.objects.all(), many=True, allow_empty=False)


def _with_status(administrations):
    from django.utils import timezone

    now = timezone.now()
    submitted = set(Submission.objects.filter(administration__in=administrations).values_list("administration_id", flat=True))
    for administration in administrations:
        administration.current_status = administration.status_at(now, submitted=administration.pk in submitted)
    return administrations


class AdministrationList(generics.GenericAPIView):
    """Administrations (participant × time point) with their window and status; POST creates them."""

    permission_classes = [IsResearcher]
    serializer_class = AdministrationOutput
    queryset = Administration.objects.none()

    def get_queryset(self):
        queryset = selectors.visible_administrations(self.request.user)
        time_point = self.request.query_params.get("time_point")
        if time_point and time_point.isdigit():
            queryset = queryset.filter(time_point_id=int(time_point))
        return queryset

    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(AdministrationOutput(_with_status(list(page)), many=True).data)

    @extend_schema(request=AdministrationsInput, responses={201: AdministrationOutput(many=True)})
    def post(self, request):
        data = AdministrationsInput(data=request.data)
        data.is_valid(raise_exception=True)
        created = services.create_administrations(
            data.validated_data["time_point"], data.validated_data["participants"], by=request.user
        )
        return Response(AdministrationOutput(_with_status(created), many=True).data, status=status.HTTP_201_CREATED)


class LinkOutput(serializers.Serializer):
    path = serializers.CharField()


class AdministrationLink(APIView):
    """Issue a personal link; the raw token is in this response only."""

    permission_classes = [IsResearcher]

    @extend_schema(request=None, responses={201: LinkOutput})
    def post(self, request, pk):
        administration = get_object_or_404(selectors.visible_administrations(request.user), pk=pk)
        return Response({"path": services.issue_link(administration, by=request.user)}, status=status.HTTP_201_CREATED)


class PaperInput(serializers.Serializer):
    answers = serializers.DictField(child=serializers.DictField(child=serializers.JSONField(allow_null=True)))
    form_date = serializers.DateField()
    double_entry = serializers.BooleanField(default=False)


class PaperOutput(serializers.Serializer):
    entry_number = serializers.IntegerField()
    double_entry = serializers.BooleanField()
    submitted = serializers.BooleanField()


class AdministrationPaper(APIView):
    """Enter a paper form (double entry: a second person types it; differences are adjudicated)."""

    permission_classes = [IsResearcher]

    @extend_schema(request=PaperInput, responses={201: PaperOutput})
    def post(self, request, pk):
        administration = get_object_or_404(selectors.visible_administrations(request.user), pk=pk)
        data = PaperInput(data=request.data)
        data.is_valid(raise_exception=True)
        entry = services.enter_paper_form(
            administration, answers=data.validated_data["answers"], form_date=data.validated_data["form_date"],
            double_entry=data.validated_data["double_entry"], by=request.user,
        )
        submitted = Submission.objects.filter(administration=administration).exists()
        return Response({"entry_number": entry.entry_number, "double_entry": entry.double_entry, "submitted": submitted},
                        status=status.HTTP_201_CREATED)


class ScoreOutput(serializers.Serializer):
    instrument = serializers.CharField(source="instrument.code")
    instrument_version = serializers.IntegerField(source="instrument.version")
    scoring_version = serializers.IntegerField()
    total = serializers.FloatField(allow_null=True)
    subscales = serializers.DictField(child=serializers.FloatField(allow_null=True))
    missing_items = serializers.IntegerField()
    rule_applied = serializers.CharField()


class SubmissionOutput(serializers.ModelSerializer):
    administration = serializers.IntegerField(source="administration_id")
    participant = serializers.CharField(source="administration.participant.pseudonym")
    time_point = serializers.IntegerField(source="administration.time_point_id")
    answers = serializers.SerializerMethodField()
    scores = serializers.SerializerMethodField()

    class Meta:
        model = Submission
        fields = ["id", "administration", "participant", "time_point", "provenance", "submitted_at", "form_date",
                  "answers", "scores"]
        read_only_fields = fields

    def get_answers(self, obj) -> dict:
        return services.answers_of(obj.administration)

    @extend_schema(responses=ScoreOutput(many=True))
    def get_scores(self, obj) -> list:
        scores = selectors.visible_scores(self.context["request"].user).current().filter(administration=obj.administration)
        return ScoreOutput(scores, many=True).data


class SubmissionList(generics.ListAPIView):
    """Submissions with their answers and current scores (researchers only)."""

    permission_classes = [IsResearcher]
    serializer_class = SubmissionOutput
    queryset = Submission.objects.none()

    def get_queryset(self):
        queryset = selectors.visible_submissions(self.request.user).order_by("pk")
        time_point = self.request.query_params.get("time_point")
        if time_point and time_point.isdigit():
            queryset = queryset.filter(administration__time_point_id=int(time_point))
        return queryset


urlpatterns = [
    path("administrations/", AdministrationList.as_view(), name="api-administrations"),
    path("administrations/<int:pk>/link/", AdministrationLink.as_view(), name="api-administration-link"),
    path("administrations/<int:pk>/paper/", AdministrationPaper.as_view(), name="api-administration-paper"),
    path("submissions/", SubmissionList.as_view(), name="api-submissions"),
    path("", InstrumentList.as_view(), name="api-instruments"),
    path("<slug:code>/", InstrumentDetail.as_view(), name="api-instrument"),
]
