from django.core.management.base import BaseCommand, CommandError

from campaigns.calls.counters import counter_problems


class Command(BaseCommand):
    help = (
        "Recompute the call and campaign-contact counters the pages read from the calls and contacts "
        "themselves, and report any drift (reads every row: run it off-peak)."
    )

    def handle(self, *args, **options):
        problems = counter_problems()
        for problem in problems:
            self.stderr.write(problem)
        if problems:
            raise CommandError(f"{len(problems)} counter(s) drifted from the rows.")
        self.stdout.write(self.style.SUCCESS("Counters match the calls and campaign contacts."))
