from django import template

from ..selectors import acceptances_of

register = template.Library()


@register.inclusion_tag("policies/fragment_acceptances.html")
def policy_acceptances(user):
    """The versions `user` accepted, when and from where (the settings page)."""
    return {"acceptances": acceptances_of(user=user) if user.is_authenticated else []}
