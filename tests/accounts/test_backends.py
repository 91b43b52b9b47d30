"""The permission backend answers exactly as Django's ModelBackend, in one query per request."""
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission

from accounts.backends import PermissionBackend

pytestmark = pytest.mark.django_db


def _fresh(user):
    """The user as the next request loads it (no permission cache)."""
    return get_user_model().objects.get(pk=user.pk)


@pytest.mark.parametrize("role_user", ["researcher", "facilitator", "monitor"])
def test_each_role_gets_the_permissions_model_backend_gives(request, role_user):
    user = request.getfixturevalue(role_user)
    expected = ModelBackend().get_all_permissions(_fresh(user))
    assert expected  # the roles' groups carry permissions
    assert PermissionBackend().get_all_permissions(_fresh(user)) == expected


def test_own_and_group_permissions_are_both_counted_and_read_in_one_query(facilitator, django_assert_num_queries):
    facilitator.user_permissions.add(Permission.objects.get(codename="view_trial", content_type__app_label="trial"))
    user = _fresh(facilitator)
    with django_assert_num_queries(1):
        assert user.has_perm("trial.view_trial") and user.has_perm("trial.facilitate_sessions")
        assert not user.has_perm("trial.manage_trial")
        assert user.has_module_perms("trial") and not user.has_module_perms("audit")
    assert PermissionBackend().get_all_permissions(_fresh(facilitator)) == ModelBackend().get_all_permissions(_fresh(facilitator))


def test_inactive_users_have_none_and_superusers_have_all(researcher, django_user_model):
    researcher.is_active = False
    researcher.save(update_fields=["is_active"])
    assert PermissionBackend().get_all_permissions(_fresh(researcher)) == set()
    assert not _fresh(researcher).has_perm("trial.manage_trial")
    boss = django_user_model.objects.create_superuser("boss", password="boss-Secret-123")
    assert PermissionBackend().get_all_permissions(_fresh(boss)) == ModelBackend().get_all_permissions(_fresh(boss))
    assert len(PermissionBackend().get_all_permissions(_fresh(boss))) == Permission.objects.count()


def test_a_role_taken_away_counts_from_the_next_request(researcher, researcher_client):
    assert researcher_client.get("/api/trials/").status_code == 200
    researcher.groups.remove(Group.objects.get(name="researcher"))
    assert researcher_client.get("/api/trials/").status_code == 403
