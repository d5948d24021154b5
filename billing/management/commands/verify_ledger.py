from django.core.management.base import BaseCommand, CommandError

from billing.verification import ledger_problems


class Command(BaseCommand):
    help = "Check every account: entries add up to the balance, no negative balance, one usage entry per settled call."

    def handle(self, *args, **options):
        problems = ledger_problems()
        for problem in problems:
            self.stderr.write(problem)
        if problems:
            raise CommandError(f"{len(problems)} ledger problem(s) found.")
        self.stdout.write(self.style.SUCCESS("Ledger is consistent."))
