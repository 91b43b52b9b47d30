"""`python manage.py analyze_csv SUBCOMMAND FILE [flags]`: one JSON object on stdout.

The contract (subcommands, flags, keys) is `../shared/reference/README.md`; the dispatch lives in
the pure `analysis.stats.contract` so the engine can also be used without Django.
"""
import argparse
import json

from django.core.management.base import BaseCommand, CommandError

from analysis.stats import AnalysisInputError
from analysis.stats.contract import build_parser, run


class Command(BaseCommand):
    help = "Analyse a long CSV table (rm-anova, lmm, ancova, paired, reliability) and print JSON."

    def add_arguments(self, parser):
        # The engine's own parser owns the flags (--dv may repeat, --items takes many values).
        parser.add_argument("engine_args", nargs=argparse.REMAINDER, help=build_parser().format_usage())

    def handle(self, *args, engine_args, **options):
        try:
            result = run(engine_args)
        except AnalysisInputError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(json.dumps(result, allow_nan=False))
