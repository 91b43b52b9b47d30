from django.urls import path

from trial import views

app_name = "trial"
urlpatterns = [
    path("", views.trial_list, name="list"),
    path("new/", views.trial_new, name="new"),
    path("<slug:slug>/", views.trial_detail, name="detail"),
    path("<slug:slug>/status/", views.trial_status, name="status"),
    path("<slug:slug>/settings/", views.trial_settings, name="settings"),
    path("<slug:slug>/arms/new/", views.arm_edit, name="arm_new"),
    path("<slug:slug>/arms/<slug:arm>/", views.arm_edit, name="arm_edit"),
    path("<slug:slug>/time-points/new/", views.time_point_edit, name="time_point_new"),
    path("<slug:slug>/time-points/<slug:time_point>/", views.time_point_edit, name="time_point_edit"),
    path("<slug:slug>/consent-texts/", views.consent_texts, name="consent_texts"),
    path("<slug:slug>/roster/", views.roster_upload, name="roster"),
    path("<slug:slug>/roster/<int:pk>/", views.roster_result, name="roster_result"),
    path("<slug:slug>/roster/<int:pk>/rejected.csv", views.roster_rejected_csv, name="roster_rejected"),
    path("<slug:slug>/screening/", views.screening, name="screening"),
    path("<slug:slug>/screening/histogram.svg", views.screening_histogram, name="screening_histogram"),
    path("<slug:slug>/eligibility/", views.eligibility_queue, name="eligibility"),
    path("<slug:slug>/enrollment/", views.enrollment, name="enrollment"),
    path("<slug:slug>/randomization/", views.randomization, name="randomization"),
    path("<slug:slug>/randomization/sequence/", views.sequence, name="sequence"),
    path("<slug:slug>/participants/", views.participant_list, name="participants"),
    path("<slug:slug>/participants/<str:pseudonym>/", views.participant_detail, name="participant"),
    path("<slug:slug>/participants/<str:pseudonym>/eligibility/", views.participant_eligibility, name="participant_eligibility"),
    path("<slug:slug>/participants/<str:pseudonym>/consent/", views.participant_consent, name="participant_consent"),
    path("<slug:slug>/participants/<str:pseudonym>/enroll/", views.participant_enroll, name="participant_enroll"),
    path("<slug:slug>/participants/<str:pseudonym>/allocate/", views.participant_allocate, name="participant_allocate"),
    path("<slug:slug>/participants/<str:pseudonym>/withdraw/", views.participant_withdraw, name="participant_withdraw"),
    path("<slug:slug>/participants/<str:pseudonym>/corrections/", views.correction_request, name="correction_request"),
    path("<slug:slug>/participants/<str:pseudonym>/corrections/<int:pk>/confirm/", views.correction_confirm, name="correction_confirm"),
]
