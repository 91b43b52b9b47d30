from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.health import healthz

urlpatterns = [
    path("", include("accounts.urls")),
    path("trials/", include("trial.urls")),
    path("instruments/", include("instruments.urls")),
    path("sessions/", include("sessions.urls")),
    path("analysis/", include("analysis.urls")),
    path("reports/", include("reports.urls")),
    path("exports/", include("exports.urls")),
    path("audit/", include("audit.urls")),
    path("api/", include("config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
]
