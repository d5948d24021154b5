from django import template

register = template.Library()


@register.filter
def days_after(later, earlier) -> str:
    """The whole days from `earlier` to `later`, "30 days" (Django's timeuntil says "4 weeks, 2 days")."""
    if not later or not earlier:
        return ""
    days = round((later - earlier).total_seconds() / 86400)
    return f"{days} day{'' if days == 1 else 's'}"


@register.filter
def browser_label(user_agent: str) -> str:
    """ "Chrome on Android" for a browser's user agent (accounts.security.user_agent_label)."""
    from accounts.security import user_agent_label

    return user_agent_label(user_agent)
