from django.urls import path

from sessions import views

app_name = "sessions"
urlpatterns = [path("today/", views.today, name="today")]
