"""python manage.py create_trial --template burnout-three-arm [--slug … --title … --language fa]"""
from django.core.management.base import BaseCommand, CommandError

from config.errors import DomainError
from trial.blueprints import TEMPLATES
from trial.services import create_trial_from_template


class Command(BaseCommand):
    help = "Create a trial from one of the ready templates."

    def add_arguments(self, parser):
        parser.add_argument("--template", required=True, choices=sorted(TEMPLATES))
        parser.add_argument("--slug", default="", help="short name (default: the template's name)")
        parser.add_argument("--title", default="")
        parser.add_argument("--language", default="en", choices=["en", "fa"])

    def handle(self, *args, template, slug, title, language, **options):
        try:
            trial = create_trial_from_template(template, slug=slug, title=title, language=language, by=None)
        except DomainError as exc:
            raise CommandError(str(exc)) from None
        arms = ", ".join(f"{arm.slug} ×{arm.allocation_weight}" for arm in trial.arms.all())
        points = ", ".join(tp.slug for tp in trial.time_points.all())
        self.stdout.write(f"Created trial '{trial.slug}' from {template}: arms {arms}; time points {points}.")
