import importlib

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from campaigns.calls.counters import counter_problems
from campaigns.models import CallCount, CallHourCount, TargetCount

# The migration that created the triggers also knows how to fill the counters from the rows.
counters_migration = importlib.import_module("campaigns.migrations.0016_counters")


class Command(BaseCommand):
    help = (
        "Recompute the call and campaign-contact counters the pages read from the calls and contacts "
        "themselves, and report any drift (reads every row: run it off-peak). With --rebuild, refill "
        "them from the rows instead (calls and contacts cannot change meanwhile)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--rebuild", action="store_true", help="Refill every counter from the rows.")

    def handle(self, *args, rebuild=False, **options):
        if rebuild:
            self._rebuild()
        problems = counter_problems()
        for problem in problems:
            self.stderr.write(problem)
        if problems:
            raise CommandError(f"{len(problems)} counter(s) drifted from the rows.")
        self.stdout.write(self.style.SUCCESS("Counters match the calls and campaign contacts."))

    def _rebuild(self):
        vendor = connection.vendor
        with transaction.atomic():
            if vendor == "postgresql":
                # Writers wait (readers do not) while the counters are refilled, so none is missed.
                connection.cursor().execute("LOCK TABLE campaigns_call, campaigns_campaigncontact IN SHARE MODE")
                statements = counters_migration.pg_backfill()
            else:
                statements = counters_migration.sqlite_backfill()
            for model in (CallCount, CallHourCount, TargetCount):
                model.objects.all().delete()
            with connection.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
        self.stdout.write("Counters rebuilt from the calls and campaign contacts.")
