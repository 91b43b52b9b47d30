from django.urls import path

from reports import views

app_name = "reports"
urlpatterns = [
    path("", views.report_index, name="index"),
    path("<slug:slug>/", views.report, name="report"),
    path("<slug:slug>/analyses/", views.launch_analyses, name="launch"),
    path("<slug:slug>/consort/<str:key>/", views.consort_list, name="consort_list"),
    path("<slug:slug>/pdf/", views.pdf_request, name="pdf_request"),
    path("<slug:slug>/pdf/<int:pk>/", views.pdf_detail, name="pdf"),
    path("<slug:slug>/pdf/<int:pk>/progress/", views.pdf_progress, name="pdf_progress"),
    path("<slug:slug>/pdf/<int:pk>/download/", views.pdf_download, name="pdf_download"),
]
