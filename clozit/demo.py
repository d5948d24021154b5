"""Demo data for `make run`: an account with credits, an agent, a contact list, a campaign, a
shared caller number and a number of the account's own that its agent answers."""

import textwrap
from decimal import Decimal

from allauth.account.models import EmailAddress
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import account_created
from accounts.workspaces import personal_workspace_of
from billing import ledger, prices
from billing.models import CreditPackage, LedgerEntry, Plan
from campaigns.contacts.importing import contact_list_confirm_consent, contacts_import
from campaigns.lifecycle.approval import workspace_preapprove
from campaigns.models import Agent, Campaign
from telephony import numbers
from telephony.models import PhoneNumber

DEMO_EMAIL = "demo@clozit.local"
DEMO_PASSWORD = "clozit-demo"
DEMO_MOBILE = "+12025550199"  # fictional; sign-in codes are printed in the `make run` console
ADMIN_EMAIL = "admin@clozit.local"
ADMIN_PASSWORD = "clozit-admin"
DEMO_CREDITS = Decimal("3000")
DEMO_SHARED_NUMBER = "+12025550100"  # the demo campaign calls from it
DEMO_OWN_NUMBER = "+12025550150"  # the demo account's own; its agent answers calls to it
# The demo's patients have Washington, DC numbers (+1 202).
DEMO_PATIENTS_TIME = "the demo's patients are in Washington, DC, on US Eastern time"
DAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

# Fictional numbers (555-01XX); the simulated carrier gives each a predictable callee.
DEMO_CSV = """phone,first_name,last_name,company,city
+1 202 555 0101,Ada,Lovelace,Analytical Engines,London
+1 202 555 0112,Grace,Hopper,Compilers Inc,Arlington
+1 202 555 0123,Alan,Turing,Bletchley Labs,Manchester
+1 202 555 0134,Katherine,Johnson,Orbital Math,Hampton
+1 202 555 0145,Edsger,Dijkstra,Shortest Paths,Austin
+1 202 555 0156,Barbara,Liskov,Substitution Co,Boston
+1 202 555 0167,Donald,Knuth,Literate Press,Stanford
+1 202 555 0178,Margaret,Hamilton,Apollo Software,Cambridge
+1 202 555 0189,Dennis,Ritchie,Portable Systems,Murray Hill
+1 202 555 0105,Radia,Perlman,Spanning Trees,Seattle
"""


@transaction.atomic
def load_demo() -> User:
    """Create the demo account once; running it again changes nothing."""
    user = User.objects.filter(email=DEMO_EMAIL).first()
    if user is None:
        user = User.objects.create_user(
            email=DEMO_EMAIL,
            password=DEMO_PASSWORD,
            first_name="Demo",
            company_name="Demo Dental Clinic",
            mobile_number=DEMO_MOBILE,
            mobile_verified_at=timezone.now(),
        )
        EmailAddress.objects.create(user=user, email=DEMO_EMAIL, primary=True, verified=True)
        account_created(user=user)
    workspace = personal_workspace_of(user)
    ledger.credit_post(
        workspace=workspace,
        amount=DEMO_CREDITS,
        kind=LedgerEntry.Kind.STAFF_ADJUSTMENT,
        reference="demo:grant",
        memo="Demo credits",
    )
    if not CreditPackage.objects.exists():
        CreditPackage.objects.create(name="Starter pack", credits=500, price=Decimal("10.00"), sort_order=1)
        CreditPackage.objects.create(name="Team pack", credits=2500, price=Decimal("50.00"), sort_order=2)
    if not Plan.objects.exists():
        Plan.objects.create(
            name="Growth monthly",
            paddle_price_id="pri_demo_growth_monthly",
            monthly_price=Decimal("29.00"),
            included_credits=1500,
        )
    if not User.objects.filter(email=ADMIN_EMAIL).exists():
        staff = User.objects.create_superuser(email=ADMIN_EMAIL, password=ADMIN_PASSWORD, first_name="Support")
        EmailAddress.objects.create(user=staff, email=ADMIN_EMAIL, primary=True, verified=True)
    agent = Agent.objects.filter(workspace=workspace).first() or Agent.objects.create(
        workspace=workspace,
        name="Appointment reminder",
        opening_line="Hi {{first_name}}, this is Riley calling from Demo Dental Clinic.",
        questions="Would you like to book your yearly check-up this month?\nDo mornings or afternoons suit you better?",
        answers="price, cost, how much | A check-up costs 60 dollars and most insurance plans cover it.\n"
        "where, address, location | We are at 12 Harbour Street, next to the library.",
        closing_line="Thank you {{first_name}}, we'll text you a confirmation. Have a lovely day!",
        voicemail_message="Hi {{first_name}}, Riley from Demo Dental Clinic here. Please call us back to book.",
        max_call_seconds=120,
        transport=Agent.Transport.RELAY,
    )
    contact_list = workspace.contact_lists.first()
    if contact_list is None:
        contact_list = contacts_import(
            workspace=workspace,
            name="Patients due a check-up",
            filename="patients.csv",
            data=DEMO_CSV.encode(),
            consent_by=user,  # the demo's patients agreed to reminder calls
        ).contact_list
    if contact_list.consent_confirmed_at is None:  # a demo database made before consent was asked for
        contact_list_confirm_consent(contact_list=contact_list, by=user)
    if not PhoneNumber.objects.filter(number=DEMO_SHARED_NUMBER, status=PhoneNumber.Status.ACTIVE).exists():
        PhoneNumber.objects.create(number=DEMO_SHARED_NUMBER, provider="simulated", label="Demo shared line")
    if not PhoneNumber.objects.filter(workspace=workspace).exists():
        # Recorded as bought at the simulated carrier, whatever TELEPHONY_PROVIDER says: loading
        # demo data must never buy a real number.
        own = numbers.number_record(
            workspace=workspace,
            number=DEMO_OWN_NUMBER,
            provider="simulated",
            provider_number_id="PNdemo",
            monthly_fee=prices.number_monthly_fee(),
        )
        numbers.number_assign_agent(phone_number=own, agent=agent)
    if not Campaign.objects.filter(workspace=workspace).exists():
        Campaign.objects.create(
            workspace=workspace,
            name="November check-up reminders",
            agent=agent,
            contact_list=contact_list,
            caller_number=DEMO_SHARED_NUMBER,
            max_concurrent_calls=3,
        )
    # The demo launches at once: a first campaign would otherwise wait for staff approval.
    workspace_preapprove(workspace=workspace, note="The demo workspace of make run.")
    return user


def calling_days_text(days: list[int]) -> str:
    """[0, 1, 2, 3, 4] → "Monday to Friday"; [0, 2] → "Monday and Wednesday"."""
    days = sorted(set(days))
    if not days:
        return "no day"
    if len(days) > 2 and days == list(range(days[0], days[-1] + 1)):
        return f"{DAY_NAMES[days[0]]} to {DAY_NAMES[days[-1]]}"
    names = [DAY_NAMES[day] for day in days]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def describe(user: User) -> str:
    """What the demo holds and when its campaign calls, read from the data as it is (printed by
    `manage.py demo_data`, so by `make run`)."""
    workspace = personal_workspace_of(user)
    balance = ledger.balance_of(workspace=workspace).balance
    campaign = Campaign.objects.filter(workspace=workspace).order_by("created_at").first()
    paragraphs = [f"Demo account {user.email}: {balance:,.0f} credits, an agent, ten patients to call."]
    if campaign is not None:
        paragraphs.append(
            f"Its campaign “{campaign.name}” ({campaign.get_status_display().lower()}) calls only from "
            f"{campaign.calling_hours_start:%H:%M} to {campaign.calling_hours_end:%H:%M}, "
            f"{calling_days_text(campaign.calling_days)}, in each patient's own time ({DEMO_PATIENTS_TIME}). "
            "Launched outside those hours, it waits: its page says when calls start. To watch calls at once, "
            "create a campaign whose calling hours and days include the present moment."
        )
    return "\n".join(textwrap.fill(paragraph, width=100) for paragraph in paragraphs)
