"""python manage.py export_trial SLUG --format long|wide|sav|codebook|zip --out PATH [--items]"""
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from exports import services, writers
from trial.models import Trial


class Command(BaseCommand):
    help = (
        "Export a trial's pseudonymised data: long or wide CSV, SPSS .sav, the codebook (CSV, or HTML "
        "when PATH ends in .html) or a zip of everything with the audit trail. Audited as the system."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the trial's short name")
        # Checked by the service, so a wrong value gets the same message as on the page.
        parser.add_argument("--format", dest="export_format", required=True, help=", ".join(services.FORMATS))
        parser.add_argument("--out", required=True, help="the file to write (replaced whole, never half-written)")
        parser.add_argument("--items", action="store_true", help="include item-level answers")

    def handle(self, *args, slug, export_format, out, items, **options):
        trial = Trial.objects.filter(slug=slug).first()
        if trial is None:
            known = ", ".join(Trial.objects.order_by("slug").values_list("slug", flat=True)) or "none yet"
            raise CommandError(f"no trial '{slug}'; trials: {known}")
        path = Path(out).expanduser()
        if path.is_dir():
            raise CommandError(f"--out {out} is a folder; give the path of the file to write")
        if not path.parent.is_dir():
            raise CommandError(f"--out {out}: the folder {path.parent} does not exist")
        codebook_as = "html" if path.suffix.lower() in (".html", ".htm") else "csv"
        try:
            # The audit event and the file land together: a failed write rolls the event back.
            with transaction.atomic():
                export = services.export_trial(
                    trial, export_format=export_format, items=items, codebook_as=codebook_as, by=None,
                    reason="manage.py export_trial",
                )
                writers.write_atomically(path, export.content)
        except services.ExportRefused as refused:
            raise CommandError(str(refused)) from None
        except OSError as problem:
            raise CommandError(f"could not write {out}: {problem.strerror or problem}") from None
        self.stdout.write(f"Wrote {path} ({len(export.content):,} bytes, {export_format} of '{trial.slug}').")
