from django import template

from config.templatetags import digits

register = template.Library()


@register.filter
def percent(share):
    """A share (0..1) as a whole percentage in the page's digits; — when unknown."""
    if share is None or share == "":
        return "—"
    return digits(f"{100 * float(share):.0f}%")
