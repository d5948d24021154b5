"""Estimated totals before checkout, from Paddle's pricing preview (tax for the buyer's country)."""

import logging
from dataclasses import dataclass
from decimal import Decimal

from django.core.cache import cache
from paddle_billing.Entities.PricingPreviews import PricePreviewItem
from paddle_billing.Entities.Shared import AddressPreview, CountryCode
from paddle_billing.Resources.PricingPreviews.Operations import PreviewPrice

from .. import prices
from .client import paddle_client, paddle_configured

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Estimate:
    price: Decimal
    service_fee: Decimal
    tax: Decimal
    total: Decimal
    currency: str
    from_paddle: bool

    @property
    def subtotal(self) -> Decimal:
        return self.price + self.service_fee


def _amount(minor: str) -> Decimal:
    return (Decimal(minor) / 100).quantize(Decimal("0.01"))


ESTIMATE_CACHE_SECONDS = 600


def estimate_for(
    *, package, country_code: str, ip_address: str | None = None, price: prices.Price | None = None
) -> Estimate:
    """Paddle's preview of `package` at `price` (the price in force now by default: a scheduled
    change is charged only from its date), kept 10 minutes per pack, Paddle price and country so
    the buy page does not wait on Paddle at every view; a failed preview is not kept."""
    price = price or prices.package_price(package)
    key = f"paddle-estimate:{package.pk}:{price.paddle_price_id}:{package.service_fee_price_id}:{country_code}"
    estimate = cache.get(key)
    if estimate is None:
        estimate = _estimate(package=package, price=price, country_code=country_code, ip_address=ip_address)
        if estimate.from_paddle:
            cache.set(key, estimate, ESTIMATE_CACHE_SECONDS)
    return estimate


def _estimate(*, package, price: prices.Price, country_code: str, ip_address: str | None = None) -> Estimate:
    """Paddle's preview when Paddle is configured and answers; otherwise the base price, tax unknown.

    Without an API key nothing is asked: Paddle would refuse the request anyway, and the page
    would wait for that answer (up to the client's 10 s timeout) at every view."""
    fallback = Estimate(
        price.amount,
        package.service_fee,
        Decimal("0"),
        price.amount + package.service_fee,
        package.currency,
        from_paddle=False,
    )
    if not price.paddle_price_id or not paddle_configured():
        return fallback
    items = [PricePreviewItem(price_id=price.paddle_price_id, quantity=1)]
    if package.service_fee_price_id:
        items.append(PricePreviewItem(price_id=package.service_fee_price_id, quantity=1))
    try:
        preview = paddle_client().pricing_previews.preview_prices(
            PreviewPrice(
                items=items,
                address=AddressPreview(postal_code=None, country_code=CountryCode(country_code)),
                customer_ip_address=ip_address,
            )
        )
        lines = [line.totals for line in preview.details.line_items]
        currency = getattr(preview.currency_code, "value", None) or package.currency
        return Estimate(
            price=_amount(lines[0].subtotal),
            service_fee=sum((_amount(line.subtotal) for line in lines[1:]), Decimal("0")),
            tax=sum((_amount(line.tax) for line in lines), Decimal("0")),
            total=sum((_amount(line.total) for line in lines), Decimal("0")),
            currency=str(currency),
            from_paddle=True,
        )
    except Exception as exc:  # the SDK raises many kinds; the page must still work
        logger.warning("Paddle pricing preview failed: %s", exc)
        return fallback
