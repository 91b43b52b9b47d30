from django.urls import path

from sessions import views

app_name = "sessions"
urlpatterns = [
    path("", views.index, name="index"),
    path("today/", views.today, name="today"),
    path("trials/<slug:slug>/", views.trial_groups, name="trial"),
    path("trials/<slug:slug>/curriculum/", views.curriculum_load, name="curriculum_load"),
    path("trials/<slug:slug>/groups/new/", views.group_create, name="group_create"),
    path("trials/<slug:slug>/groups/waitlist-offer/", views.waitlist_offer, name="waitlist_offer"),
    path("trials/<slug:slug>/place/", views.place, name="place"),
    path("trials/<slug:slug>/dose/", views.dose, name="dose"),
    path("cohorts/<int:pk>/posttest/", views.cohort_posttest, name="cohort_posttest"),
    path("participants/<int:pk>/exclusion/", views.exclusion, name="exclusion"),
    path("groups/<int:pk>/", views.group_detail, name="group"),
    path("groups/<int:pk>/move-member/", views.member_move, name="member_move"),
    path("groups/<int:pk>/facilitators/", views.group_facilitators, name="group_facilitators"),
    path("meetings/<int:pk>/", views.meeting_detail, name="meeting"),
    path("meetings/<int:pk>/move/", views.meeting_move, name="meeting_move"),
    path("meetings/<int:pk>/cancel/", views.meeting_cancel, name="meeting_cancel"),
    path("meetings/<int:pk>/replace/", views.meeting_replace, name="meeting_replace"),
    path("meetings/<int:pk>/held/", views.meeting_held, name="meeting_held"),
    path("meetings/<int:pk>/attendance/<int:participant_pk>/", views.attendance, name="attendance"),
    path("meetings/<int:pk>/fidelity/", views.fidelity, name="fidelity"),
    path("calendar/<str:token>.ics", views.calendar, name="calendar"),
]
