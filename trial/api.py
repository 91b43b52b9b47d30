from django.urls import path
from rest_framework import generics, serializers

from config.api import ReadPermission
from trial.models import Trial
from trial.selectors import visible_trials


class TrialOutput(serializers.ModelSerializer):
    class Meta:
        model = Trial
        fields = ["slug", "title", "status", "language", "created"]
        read_only_fields = fields


class TrialList(generics.ListAPIView):
    """Trials visible to the caller."""

    serializer_class = TrialOutput
    permission_classes = [ReadPermission]
    queryset = Trial.objects.none()

    def get_queryset(self):
        return visible_trials(self.request.user)


urlpatterns = [path("", TrialList.as_view(), name="api-trials")]
