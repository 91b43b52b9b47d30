from django.urls import path
from rest_framework import generics, serializers

from audit.models import AuditEvent
from audit.selectors import visible_events
from config.api import ReadPermission


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ["id", "created", "actor_label", "action", "object_type", "object_id", "object_repr",
                  "before", "after", "reason", "request_id"]
        read_only_fields = fields


class AuditEventList(generics.ListAPIView):
    """The audit trail, newest first (monitors, researchers)."""

    serializer_class = AuditEventSerializer
    permission_classes = [ReadPermission]
    queryset = AuditEvent.objects.none()  # for the permission class; the selector decides the rows

    def get_queryset(self):
        return visible_events(self.request.user)


urlpatterns = [path("events/", AuditEventList.as_view(), name="api-audit-events")]
