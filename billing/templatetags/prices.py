"""`{% load prices %}{% prices_in_force as p %}`: the prices in force now for public pages (the
landing page, the terms), and the next scheduled change of each, so those pages never quote a
price that no longer applies."""

from decimal import Decimal

from django import template

from billing import prices
from billing.models import CreditPackage

register = template.Library()


@register.simple_tag
def prices_in_force() -> dict:
    """The call and AI rates, the first pack on sale at its price in force (None without one),
    and the next change of each (None when none is scheduled)."""
    package = CreditPackage.objects.filter(active=True).first()
    pack = None
    if package is not None:
        price = prices.package_price(package)
        pack = {
            "credits": package.credits,
            "amount": price.amount,
            "currency": package.currency,
            "change": prices.next_change(prices.Item.PACKAGE_PRICE, package_id=package.pk),
        }
    return {
        "call_second": prices.call_second_rate(),
        "call_second_change": prices.next_change(prices.Item.CALL_SECOND),
        "ai_query": prices.ai_query_cost(),
        "ai_query_change": prices.next_change(prices.Item.AI_QUERY),
        "number_monthly": prices.number_monthly_fee(),
        "pack": pack,
        "notice_days": prices.raise_notice_days(),
    }


@register.filter
def credits_number(value) -> str:
    """1, 0.5, 1.25: a rate or a number of credits as people write it (no trailing zeros)."""
    if value in (None, ""):
        return ""
    return format(Decimal(value).normalize(), "f")
