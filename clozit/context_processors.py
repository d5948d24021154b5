from django.conf import settings


def site(request):
    return {
        "product_name": "Clozit",
        "telephony_provider": settings.TELEPHONY_PROVIDER,
        "debug": settings.DEBUG,
        "support_email": settings.SUPPORT_EMAIL,
    }
