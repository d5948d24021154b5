from django.core.management.base import BaseCommand

from clozit import demo


class Command(BaseCommand):
    help = "Create the demo account (with credits, an agent, contacts and a draft campaign) and a staff login."

    def handle(self, *args, **options):
        user = demo.load_demo()
        self.stdout.write(demo.describe(user))
        self.stdout.write(f"Demo login: {demo.DEMO_EMAIL} / {demo.DEMO_PASSWORD}")
        self.stdout.write(f"Staff login (/admin/): {demo.ADMIN_EMAIL} / {demo.ADMIN_PASSWORD}")
