from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from analysis import services
from analysis.models import AnalysisRun
from analysis.selectors import visible_runs
from analysis.stats.outcome_report import ANALYSES
from trial.selectors import visible_trials


class IsResearcher(BasePermission):
    def has_permission(self, request, view):
        return request.user.has_perm("trial.manage_trial")


class LaunchInput(serializers.Serializer):
    trial = serializers.SlugField()
    instrument = serializers.SlugField()
    scale = serializers.SlugField(default="total")
    population = serializers.ChoiceField(choices=AnalysisRun.Population.choices, default="itt")
    time_points = serializers.ListField(child=serializers.SlugField(), min_length=2)
    analyses = serializers.ListField(child=serializers.ChoiceField(choices=ANALYSES), required=False, default=None,
                                     allow_null=True, help_text="tables wanted; omitted = all")
    reliability = serializers.FloatField(required=False, allow_null=True, default=None, min_value=0.01, max_value=0.99)


class RunOutput(serializers.ModelSerializer):
    trial = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = AnalysisRun
        fields = ["id", "trial", "instrument_code", "scale", "population", "time_points", "analyses", "reliability", "status", "progress",
                  "step", "attempts", "error", "input_hash", "engine_version", "created", "started_at", "finished_at"]
        read_only_fields = fields


class RunListCreate(APIView):
    """Launch an analysis (POST) or list the runs (GET). Same data and settings → the stored run."""

    permission_classes = [IsResearcher]

    @extend_schema(responses=RunOutput(many=True))
    def get(self, request):
        return Response(RunOutput(visible_runs(request.user)[:100], many=True).data)

    @extend_schema(request=LaunchInput, responses={201: RunOutput, 200: RunOutput})
    def post(self, request):
        given = LaunchInput(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        trial = get_object_or_404(visible_trials(request.user), slug=data["trial"])
        run, reused = services.launch_analysis(trial, instrument_code=data["instrument"], scale=data["scale"],
                                       population=data["population"], time_points=data["time_points"],
                                               reliability=data["reliability"], analyses=data["analyses"],
                                               by=request.user)
        return Response(RunOutput(run).data, status=status.HTTP_200_OK if reused else status.HTTP_201_CREATED)


class RunDetail(generics.RetrieveAPIView):
    """Poll a run: status, progress 0–100 and the current step."""

    serializer_class = RunOutput
    permission_classes = [IsResearcher]

    def get_queryset(self):
        return visible_runs(self.request.user)


class RunResult(APIView):
    """The result of a finished run: every table of the outcome, as the engine returns it."""

    permission_classes = [IsResearcher]

    @extend_schema(responses={200: dict, 409: dict})
    def get(self, request, pk):
        run = get_object_or_404(visible_runs(request.user), pk=pk)
        if run.status != AnalysisRun.Status.SUCCEEDED:
            return Response({"detail": f"run {run.pk} is {run.status}; a result exists once it has succeeded",
                             "error": run.error}, status=status.HTTP_409_CONFLICT)
        return Response(run.result)


urlpatterns = [
    path("runs/", RunListCreate.as_view(), name="api-analysis-runs"),
    path("runs/<int:pk>/", RunDetail.as_view(), name="api-analysis-run"),
    path("runs/<int:pk>/result/", RunResult.as_view(), name="api-analysis-result"),
]
