"""What Clozit tells an account, by kind. Essential notices are always emailed (they are about the
account's standing, its money or its agreement with us); the others can be turned off in
Settings and are still listed on the notices page."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    code: str
    label: str  # as the preferences list shows it
    essential: bool


ACCOUNT_SUSPENDED = Kind("account_suspended", "Your account or workspace suspended", True)
ACCOUNT_TERMINATED = Kind("account_terminated", "Your account or workspace terminated", True)
ACCOUNT_REACTIVATED = Kind("account_reactivated", "Your account or workspace reactivated", True)
CHARGEBACK = Kind("chargeback", "A chargeback on a payment", True)
REFUND_RECEIVED = Kind("refund_received", "Refund request received", True)
REFUND_DECIDED = Kind("refund_decided", "Refund request decided", True)
NUMBER_RENEWAL_FAILED = Kind("number_renewal_failed", "A phone number could not be renewed", True)
PLAN_CREDIT_EXPIRY = Kind("plan_credit_expiry", "Plan credits will start to expire", True)
POLICY_CHANGE = Kind("policy_change", "Changes to our terms and policies", True)
PRICE_CHANGE = Kind("price_change", "Changes to prices", True)
# Decisions by Clozit's staff and their automatic follow-ups are essential: each concerns the
# account's standing (reports, QA), its money (a disputed charge) or its ability to call (a
# campaign not approved); a webhook endpoint turned off means the customer's integrations stop
# receiving events silently, and nothing else would tell them.
REPORT_DECISION = Kind("report_decision", "Staff decisions on reports about your calls", True)
QA_VIOLATION = Kind("qa_violation", "A review of your calls found a breach of our terms", True)
CALL_DISPUTE_DECIDED = Kind("call_dispute_decided", "A dispute of a call's charge decided", True)
CAMPAIGN_REJECTED = Kind("campaign_rejected", "A campaign not approved by Clozit staff", True)
WEBHOOK_DISABLED = Kind("webhook_disabled", "A webhook endpoint turned off after failing", True)
CAMPAIGN_PAUSED = Kind("campaign_paused", "A campaign was paused by Clozit (credits, reports, carrier failures)", False)
CAMPAIGN_COMPLETED = Kind("campaign_completed", "A campaign finished", False)
LOW_BALANCE = Kind("low_balance", "Credits running low", False)

KINDS = {
    kind.code: kind
    for kind in (
        ACCOUNT_SUSPENDED,
        ACCOUNT_TERMINATED,
        ACCOUNT_REACTIVATED,
        CHARGEBACK,
        REFUND_RECEIVED,
        REFUND_DECIDED,
        NUMBER_RENEWAL_FAILED,
        PLAN_CREDIT_EXPIRY,
        POLICY_CHANGE,
        PRICE_CHANGE,
        REPORT_DECISION,
        QA_VIOLATION,
        CALL_DISPUTE_DECIDED,
        CAMPAIGN_REJECTED,
        WEBHOOK_DISABLED,
        CAMPAIGN_PAUSED,
        CAMPAIGN_COMPLETED,
        LOW_BALANCE,
    )
}
OPTIONAL_KINDS = [kind for kind in KINDS.values() if not kind.essential]
