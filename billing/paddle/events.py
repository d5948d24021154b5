"""What our code reads from Paddle's events, below the purchase and subscription rules that both
use it: the account named in custom data, amounts in minor units, an event that came too early."""

from decimal import Decimal

from django.core import signing

from accounts.models import Workspace


class EventNotReady(Exception):
    """The event depends on one not received yet (e.g. a refund before its payment)."""


def account_token(workspace_id: int) -> str:
    """Signs the account id put in Paddle's custom data, which the browser could change: a
    payment names the account to credit only with a token our server issued for it."""
    return signing.Signer(salt="clozit.paddle.account").sign(str(workspace_id))


def buyer_token(user_id: int) -> str:
    """Signs the member who opened the checkout, for the workspace's record of who paid."""
    return signing.Signer(salt="clozit.paddle.buyer").sign(str(user_id))


def buyer_from_custom_data(custom: dict):
    """The member named by `buyer_token` in a payment's custom data, or None."""
    from accounts.models import User

    try:
        user_id = signing.Signer(salt="clozit.paddle.buyer").unsign(str(custom.get("clozit_buyer_token", "")))
        return User.objects.filter(pk=int(user_id)).first()
    except (signing.BadSignature, ValueError):
        return None


def account_from_custom_data(custom: dict):
    """The account a payment's custom data names with a token we issued (`account_token`), or None."""
    try:
        workspace_id = signing.Signer(salt="clozit.paddle.account").unsign(str(custom.get("clozit_account_token", "")))
        return Workspace.objects.filter(pk=int(workspace_id)).first()
    except (signing.BadSignature, ValueError):
        return None


def minor_to_amount(value) -> Decimal | None:
    try:
        return (Decimal(str(value)) / 100).quantize(Decimal("0.01"))
    except (ArithmeticError, ValueError, TypeError):
        return None
