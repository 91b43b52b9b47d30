"""The demo: one login per role and the model trial from its template. Safe to run again."""
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.roles import FACILITATOR, MONITOR, RESEARCHER
from trial.models import Trial
from trial.services import create_trial_from_template

DEMO_TRIAL_SLUG = "demo-burnout"
# Published in the README: for the local demo only.
DEMO_LOGINS = {
    RESEARCHER: ("researcher", "demo-researcher-2024"),
    FACILITATOR: ("facilitator", "demo-facilitator-2024"),
    MONITOR: ("monitor", "demo-monitor-2024"),
}


class Command(BaseCommand):
    help = "Create the demo logins and the demo trial if they are missing."

    @transaction.atomic
    def handle(self, *args, **options):
        User = get_user_model()
        for role, (username, password) in DEMO_LOGINS.items():
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_password(password)
                user.save()
            user.groups.add(Group.objects.get(name=role))
        if not Trial.objects.filter(slug=DEMO_TRIAL_SLUG).exists():
            create_trial_from_template(
                "burnout-three-arm", slug=DEMO_TRIAL_SLUG, title="Demo: burnout in factory workers (three arms)"
            )
        self.stdout.write("Demo logins (user / password):")
        for role, (username, password) in DEMO_LOGINS.items():
            self.stdout.write(f"  {role:<12} {username} / {password}")
