"""The trial API: the same selectors and services as the pages, the same permissions."""
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import ReadPermission
from trial import selectors, services
from trial.exceptions import ScreeningNotReady
from trial.models import Allocation, Participant, Trial


class CanView(BasePermission):
    def has_permission(self, request, view):
        return request.user.has_perm("trial.view_trial")


class CanManage(BasePermission):
    """Randomization and allocation: researchers only (facilitators and monitors get 403)."""

    def has_permission(self, request, view):
        return request.user.has_perm("trial.manage_trial")


# Output shapes ------------------------------------------------------------------------------


class TrialOutput(serializers.ModelSerializer):
    class Meta:
        model = Trial
        fields = ["slug", "title", "status", "language", "created"]
        read_only_fields = fields


class ArmOutput(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    allocation_weight = serializers.IntegerField()
    session_count = serializers.IntegerField()
    session_minutes = serializers.IntegerField()
    session_interval_days = serializers.IntegerField()
    mode = serializers.CharField()


class TimePointOutput(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    anchor = serializers.CharField()
    anchor_time_point = serializers.CharField(source="anchor_time_point.slug", default=None)
    offset_days = serializers.IntegerField()
    window_days = serializers.IntegerField()
    is_screening = serializers.BooleanField()
    instruments = serializers.SerializerMethodField()

    def get_instruments(self, time_point) -> list[str]:
        return [link.instrument.code for link in time_point.instrument_links.all()]


class TrialDetailOutput(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    status = serializers.CharField()
    language = serializers.CharField()
    template = serializers.CharField()
    screening_rule = serializers.CharField()
    screening_comparison = serializers.CharField()
    screening_cutoff = serializers.DecimalField(max_digits=7, decimal_places=2, allow_null=True)
    screening_sd_k = serializers.DecimalField(max_digits=4, decimal_places=2)
    min_years_of_service = serializers.IntegerField(allow_null=True)
    min_education_grade = serializers.IntegerField(allow_null=True)
    required_sex = serializers.CharField()
    requires_attendance = serializers.BooleanField()
    absence_threshold = serializers.IntegerField(allow_null=True)
    absence_comparison = serializers.CharField()
    randomization_method = serializers.CharField(source="randomization.method")
    randomization_locked = serializers.BooleanField(source="randomization.is_locked")
    arms = ArmOutput(many=True)
    time_points = TimePointOutput(many=True)


class ParticipantOutput(serializers.Serializer):
    """Identity fields only for researchers; the arm only for those who may see arms."""

    pseudonym = serializers.CharField()
    site = serializers.CharField()
    stage = serializers.SerializerMethodField()
    screening_total = serializers.FloatField(allow_null=True)
    screening_passed = serializers.BooleanField(allow_null=True)
    eligible = serializers.BooleanField(allow_null=True)
    consented = serializers.BooleanField(source="has_consent")
    enrolled_at = serializers.DateTimeField(allow_null=True)
    withdrawn_on = serializers.DateField(allow_null=True)
    arm = serializers.SerializerMethodField()
    worker_id = serializers.CharField(required=False)
    name = serializers.CharField(required=False)
    email = serializers.CharField(required=False)
    phone = serializers.CharField(required=False)

    def get_stage(self, participant) -> str:
        return selectors.stage_of(participant)

    def get_arm(self, participant) -> str | None:
        if not selectors.sees_arms(self.context["request"].user):
            return None
        allocation = selectors.allocation_of(participant)
        return allocation.arm.slug if allocation else None

    def to_representation(self, participant):
        data = super().to_representation(participant)
        if not selectors.shows_identity(self.context["request"].user):
            for field in ("worker_id", "name", "email", "phone"):
                data.pop(field, None)
        if not selectors.sees_arms(self.context["request"].user):
            data.pop("arm", None)
        return data


class ScreeningOutput(serializers.Serializer):
    closed = serializers.BooleanField()
    rule = serializers.CharField(allow_null=True)
    comparison = serializers.CharField(allow_null=True)
    n = serializers.IntegerField()
    mean = serializers.FloatField(allow_null=True)
    sd = serializers.FloatField(allow_null=True)
    fixed_cutoff = serializers.FloatField(allow_null=True)
    sd_cutoff = serializers.FloatField(allow_null=True)
    passed = serializers.IntegerField(allow_null=True)
    passing = serializers.ListField(child=serializers.CharField())
    by_site = serializers.ListField(child=serializers.DictField())


class AllocationOutput(serializers.Serializer):
    participant = serializers.CharField(source="participant.pseudonym")
    arm = serializers.CharField(source="arm.slug")
    method = serializers.CharField()
    cohort = serializers.IntegerField(allow_null=True)
    created = serializers.DateTimeField()


class SlotOutput(serializers.Serializer):
    stratum = serializers.CharField()
    position = serializers.IntegerField()
    block = serializers.IntegerField()
    block_size = serializers.IntegerField()
    arm = serializers.CharField(source="arm.slug")


class SequenceOutput(serializers.Serializer):
    seed = serializers.CharField()
    slots = SlotOutput(many=True)


class RandomizationOutput(serializers.Serializer):
    method = serializers.CharField()
    block_sizes = serializers.ListField(child=serializers.IntegerField())
    strata = serializers.ListField(child=serializers.CharField())
    minimization_factors = serializers.ListField(child=serializers.CharField())
    imbalance = serializers.CharField()
    p_preferred = serializers.DecimalField(max_digits=3, decimal_places=2)
    locked_at = serializers.DateTimeField(allow_null=True)
    seed_sha256 = serializers.CharField()
    waiting = serializers.IntegerField()


# Views -------------------------------------------------------------------------------------


def _trial(request, slug):
    return selectors.trial_for(request.user, slug)


class TrialList(generics.ListAPIView):
    """Trials visible to the caller."""

    serializer_class = TrialOutput
    permission_classes = [ReadPermission]
    queryset = Trial.objects.none()

    def get_queryset(self):
        return selectors.visible_trials(self.request.user)


class TrialDetail(APIView):
    permission_classes = [CanView]

    @extend_schema(responses=TrialDetailOutput)
    def get(self, request, slug):
        trial = _trial(request, slug)
        trial = Trial.objects.select_related("randomization").prefetch_related(
            "arms", "time_points__instrument_links__instrument", "time_points__anchor_time_point"
        ).get(pk=trial.pk)
        return Response(TrialDetailOutput(trial).data)


class ParticipantList(generics.ListAPIView):
    """The roster as the caller may see it (pseudonyms; names for researchers only)."""

    serializer_class = ParticipantOutput
    permission_classes = [CanView]

    def get_queryset(self):
        trial = _trial(self.request, self.kwargs["slug"])
        params = self.request.query_params
        return selectors.participant_rows(
            self.request.user, trial, stage=params.get("stage", ""), arm=params.get("arm", ""),
            site=params.get("site", ""), q=params.get("q", ""),
        )


class ParticipantDetail(APIView):
    permission_classes = [CanView]

    @extend_schema(responses=ParticipantOutput)
    def get(self, request, slug, pseudonym):
        participant = selectors.participant_for(request.user, _trial(request, slug), pseudonym)
        return Response(ParticipantOutput(participant, context={"request": request}).data)


class ScreeningResults(APIView):
    """The frozen screening figures (or, before closing, how many are scored so far)."""

    permission_classes = [CanView]

    @extend_schema(responses=ScreeningOutput)
    def get(self, request, slug):
        trial = _trial(request, slug)
        closure = getattr(trial, "screening_closure", None)
        if closure is None:
            try:
                n = len(services.screening_totals(trial))
            except ScreeningNotReady:
                n = 0
            data = {"closed": False, "rule": None, "comparison": None, "n": n, "mean": None, "sd": None,
                    "fixed_cutoff": None, "sd_cutoff": None, "passed": None, "passing": [], "by_site": []}
        else:
            data = {
                "closed": True, "rule": closure.rule, "comparison": closure.comparison, "n": closure.n,
                "mean": closure.mean, "sd": closure.sd,
                "fixed_cutoff": float(closure.fixed_cutoff) if closure.fixed_cutoff is not None else None,
                "sd_cutoff": closure.sd_cutoff, "passed": closure.passed,
                "passing": list(trial.participants.filter(screening_passed=True).order_by("pseudonym").values_list("pseudonym", flat=True)),
                "by_site": selectors.screening_by_site(trial),
            }
        return Response(ScreeningOutput(data).data)


class ParticipantAllocation(APIView):
    """GET: the participant's allocation. POST: randomize the participant (atomic, final)."""

    permission_classes = [CanManage]

    def _participant(self, request, slug, pseudonym):
        return selectors.participant_to_change(request.user, slug, pseudonym)

    @extend_schema(responses=AllocationOutput)
    def get(self, request, slug, pseudonym):
        participant = self._participant(request, slug, pseudonym)
        allocation = get_object_or_404(Allocation.objects.select_related("arm", "participant"), participant=participant)
        return Response(AllocationOutput(allocation).data)

    @extend_schema(request=None, responses={201: AllocationOutput})
    def post(self, request, slug, pseudonym):
        # CanManage has checked the researcher's permission; the service finds the participant
        # under its row lock (one query, not a lookup here and a second read there).
        try:
            allocation = services.allocate_by_pseudonym(slug, pseudonym, by=request.user)
        except Participant.DoesNotExist:
            raise Http404("No such participant") from None
        return Response(AllocationOutput(allocation).data, status=status.HTTP_201_CREATED)


class RandomizationDetail(APIView):
    """The scheme's settings (never the seed or the sequence)."""

    permission_classes = [CanManage]

    @extend_schema(responses=RandomizationOutput)
    def get(self, request, slug):
        trial = _trial(request, slug)
        scheme = services.randomization_of(trial)
        scheme.waiting = trial.participants.awaiting_allocation().count()
        return Response(RandomizationOutput(scheme).data)


class RandomizationLock(APIView):
    permission_classes = [CanManage]

    @extend_schema(request=None, responses=RandomizationOutput)
    def post(self, request, slug):
        trial = _trial(request, slug)
        scheme = services.lock_randomization(trial, by=request.user)
        scheme.waiting = trial.participants.awaiting_allocation().count()
        return Response(RandomizationOutput(scheme).data)


class CohortRandomization(APIView):
    """Randomize every enrolled participant waiting, at once (cohort designs)."""

    permission_classes = [CanManage]

    @extend_schema(request=None, responses={201: AllocationOutput(many=True)})
    def post(self, request, slug):
        allocations = services.randomize_cohort(_trial(request, slug), by=request.user)
        return Response(AllocationOutput(allocations, many=True).data, status=status.HTTP_201_CREATED)


class Sequence(APIView):
    """The concealed sequence: unblinded statistician only (or researchers once closed); audited."""

    permission_classes = [CanView]

    @extend_schema(responses=SequenceOutput)
    def get(self, request, slug):
        trial = _trial(request, slug)
        slots = services.reveal_sequence(trial, by=request.user)
        return Response(SequenceOutput({"seed": services.randomization_of(trial).seed, "slots": slots}).data)


urlpatterns = [
    path("", TrialList.as_view(), name="api-trials"),
    path("<slug:slug>/", TrialDetail.as_view(), name="api-trial"),
    path("<slug:slug>/participants/", ParticipantList.as_view(), name="api-participants"),
    path("<slug:slug>/participants/<str:pseudonym>/", ParticipantDetail.as_view(), name="api-participant"),
    path("<slug:slug>/participants/<str:pseudonym>/allocation/", ParticipantAllocation.as_view(), name="api-allocation"),
    path("<slug:slug>/screening/", ScreeningResults.as_view(), name="api-screening"),
    path("<slug:slug>/randomization/", RandomizationDetail.as_view(), name="api-randomization"),
    path("<slug:slug>/randomization/lock/", RandomizationLock.as_view(), name="api-randomization-lock"),
    path("<slug:slug>/randomization/cohort/", CohortRandomization.as_view(), name="api-randomization-cohort"),
    path("<slug:slug>/sequence/", Sequence.as_view(), name="api-sequence"),
]
