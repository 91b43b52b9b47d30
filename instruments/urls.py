from django.urls import path

from instruments import participant, views

app_name = "instruments"
urlpatterns = [
    path("", views.instrument_list, name="list"),
    path("library/<slug:code>/", views.instrument_detail, name="detail"),
    path("trials/<slug:slug>/", views.trial_questionnaires, name="trial"),
    path("time-points/<int:pk>/", views.time_point_dashboard, name="time_point"),
    path("time-points/<int:pk>/open/", views.time_point_open, name="open"),
    path("time-points/<int:pk>/remind/", views.time_point_remind, name="remind"),
    path("time-points/<int:pk>/slips/", views.time_point_slips, name="slips"),
    path("administrations/<int:pk>/", views.administration_detail, name="administration"),
    path("administrations/<int:pk>/link/", views.administration_link, name="issue_link"),
    path("administrations/<int:pk>/paper/", views.paper_entry, name="paper"),
    path("administrations/<int:pk>/adjudicate/", views.paper_adjudicate, name="adjudicate"),
    # The participant's side: the token appears only in the first address.
    path("p/<str:token>/", participant.open_link, name="link"),
    path("q/", participant.questionnaire, name="questionnaire"),
    path("q/<int:step>/", participant.step, name="step"),
    path("q/answer/", participant.autosave, name="autosave"),
    path("q/submit/", participant.submit, name="submit"),
    path("q/done/", participant.thanks, name="thanks"),
]
