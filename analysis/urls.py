from django.urls import path

from analysis import views

app_name = "analysis"
urlpatterns = [
    path("", views.run_list, name="runs"),
    path("trials/<slug:slug>/", views.trial_analyses, name="trial"),
    path("runs/<int:pk>/", views.run_detail, name="run"),
    path("runs/<int:pk>/progress/", views.run_progress, name="progress"),
]
