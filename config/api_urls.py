"""Every app's API under /api/, so the OpenAPI schema shows one tree."""
from django.urls import include, path

urlpatterns = [
    path("trials/", include("trial.api")),
    path("audit/", include("audit.api")),
    path("sessions/", include("sessions.api")),
    path("instruments/", include("instruments.api")),
    path("analysis/", include("analysis.api")),
]
