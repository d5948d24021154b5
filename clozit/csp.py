"""The Content-Security-Policy's one exception (the policy itself is in clozit/settings.py).

Paddle.js, which cannot be vendored, styles its overlay checkout inline: a <style> element for
its spinner and `style` attributes on the overlay and the checkout frame. A policy without
inline styles would leave the checkout unstyled, i.e. invisible. So the page that opens it allows
inline styles while Paddle is configured, and no other page does. Scripts stay as strict there as
everywhere.
"""

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.conf import settings

# URL names of the pages that open Paddle's checkout.
PADDLE_CHECKOUT_PAGES = {"credits_buy"}


@csp_update({"style-src": [UNSAFE_INLINE]})
def _allow_paddle_styles(request, response):
    return response


class PaddleCheckoutPolicyMiddleware:
    """Placed after csp.middleware.CSPMiddleware, which writes the header from what this adds."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        match = request.resolver_match
        if settings.PADDLE_API_KEY and match is not None and match.url_name in PADDLE_CHECKOUT_PAGES:
            response = _allow_paddle_styles(request, response)
        return response
