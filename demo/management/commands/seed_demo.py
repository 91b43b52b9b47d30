"""The demo that `make run` shows: logins for each role and two finished trials. Safe to run again."""
import logging

from django.core.management.base import BaseCommand, CommandError

from demo.seeding import DEMO_LOGINS, DemoSeedError, seed_demo


class Command(BaseCommand):
    help = "Create the demo logins and the two demo trials (model three-arm trial, one-arm programme) if missing."

    def handle(self, *args, **options):
        # The analyses run in-process here; one "task succeeded" log line each says nothing new.
        trace = logging.getLogger("celery.app.trace")
        level = trace.level
        trace.setLevel(logging.WARNING)
        try:
            result = seed_demo(stdout=self.stdout)
        except DemoSeedError as problem:
            raise CommandError(str(problem)) from None
        finally:
            trace.setLevel(level)
        built = ", ".join(result.seeded) or "nothing (the demo was there already)"
        self.stdout.write(f"Seeded {built} in {result.seconds:.1f} s.")
        self.stdout.write("Demo logins (user / password):")
        for role, (username, password) in DEMO_LOGINS.items():
            self.stdout.write(f"  {role:<12} {username} / {password}")
