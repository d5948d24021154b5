"""Estimated totals before checkout, from Paddle's pricing preview (tax for the buyer's country)."""

import logging
from dataclasses import dataclass
from decimal import Decimal

from paddle_billing.Entities.PricingPreviews import PricePreviewItem
from paddle_billing.Entities.Shared import AddressPreview, CountryCode
from paddle_billing.Resources.PricingPreviews.Operations import PreviewPrice

from .client import paddle_client

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Estimate:
    subtotal: Decimal
    tax: Decimal
    total: Decimal
    currency: str
    from_paddle: bool


def _amount(minor: str) -> Decimal:
    return (Decimal(minor) / 100).quantize(Decimal("0.01"))


def estimate_for(*, package, country_code: str, ip_address: str | None = None) -> Estimate:
    """Paddle's preview when Paddle is configured and answers; otherwise the base price, tax unknown."""
    fallback = Estimate(package.price, Decimal("0"), package.price, package.currency, from_paddle=False)
    if not package.paddle_price_id:
        return fallback
    try:
        preview = paddle_client().pricing_previews.preview_prices(
            PreviewPrice(
                items=[PricePreviewItem(price_id=package.paddle_price_id, quantity=1)],
                address=AddressPreview(postal_code=None, country_code=CountryCode(country_code)),
                customer_ip_address=ip_address,
            )
        )
        totals = preview.details.line_items[0].totals
        currency = getattr(preview.currency_code, "value", None) or package.currency
        return Estimate(_amount(totals.subtotal), _amount(totals.tax), _amount(totals.total), str(currency), True)
    except Exception as exc:  # the SDK raises many kinds; the page must still work
        logger.warning("Paddle pricing preview failed: %s", exc)
        return fallback
