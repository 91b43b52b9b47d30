from django.urls import path

from exports import views

app_name = "exports"
urlpatterns = [
    path("trials/<slug:slug>/", views.trial_exports, name="trial"),
    path("trials/<slug:slug>/download/", views.download, name="download"),
    path("trials/<slug:slug>/codebook/", views.codebook, name="codebook"),
]
