"""The default reactivation e-mail (subject and HTML template) in one language.

The result is a campaign template like any a business writes: it uses only
``TEMPLATE_VARIABLES`` (``{{ first_name }}``, ``{{ confirm_url }}``…) and is
stored on the campaign when it is created without its own body, so the
business sees exactly what will be sent. The translated sentences are
escaped here (they are fixed text); the variables are escaped when each
recipient's e-mail is rendered.
"""

from __future__ import annotations

from functools import lru_cache
from html import escape

CONFIRM_COLOUR = "#0b6b2e"  # white on it: contrast 6.9:1
DECLINE_COLOUR = "#a4000f"  # white on it: contrast 7.6:1
_BUSINESS = "\x00business\x00"
_NAME = "\x00name\x00"


def _fixed(text: str) -> str:
    """Translated text as template source: HTML-escaped, Jinja delimiters neutralised,
    then the placeholders turned into variables."""
    safe = escape(text).replace("{", "&#123;").replace("}", "&#125;")
    return safe.replace(_BUSINESS, "{{ business_name }}").replace(_NAME, "{{ first_name }}")


@lru_cache(maxsize=8)
def default_subject(language: str) -> str:
    from chalicelib.mail.rendering import Translator

    t = Translator(language)
    subject = t("react.subject", business=_BUSINESS).replace("{", "").replace("}", "")
    return subject.replace(_BUSINESS, "{{ business_name }}")


def _button(href_var: str, cta: str, colour: str, label: str) -> str:
    return (
        f'<a href="{{{{ {href_var} }}}}" data-cta="{cta}" style="display:block;background:{colour};'
        "color:#ffffff;font-weight:bold;font-size:17px;text-decoration:none;text-align:center;"
        f'padding:14px 20px;border-radius:6px;margin:0 0 12px;">{label}</a>'
    )


@lru_cache(maxsize=8)
def default_html(language: str) -> str:
    from chalicelib.mail.rendering import Translator

    t = Translator(language)
    greeting = (
        "{% if first_name %}"
        + _fixed(t("react.greeting_name", name=_NAME))
        + "{% else %}"
        + _fixed(t("react.greeting"))
        + "{% endif %}"
    )
    p = 'style="margin:0 0 16px;"'
    small = 'style="margin:0 0 8px;font-size:14px;color:#4a4a4a;"'
    link = 'style="color:#0b4f9c;"'
    return (
        f'<!DOCTYPE html>\n<html lang="{language}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_fixed(t('react.subject', business=_BUSINESS))}</title>\n</head>\n"
        '<body style="margin:0;padding:0;background:#f4f4f2;font-family:Arial,Helvetica,sans-serif;'
        'color:#1b1b1b;">\n'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f4f4f2;">'
        '<tr><td align="center" style="padding:24px 12px;">\n'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
        'style="max-width:560px;background:#ffffff;border:1px solid #d0d0cc;border-radius:8px;">'
        '<tr><td style="padding:24px;font-size:16px;line-height:1.5;">\n'
        '{% if logo_url %}<p style="margin:0 0 16px;text-align:center;"><img src="{{ logo_url }}" '
        'alt="{{ business_name }}" style="max-width:200px;max-height:64px;"></p>{% endif %}\n'
        f"<p {p}>{greeting}</p>\n"
        f"<p {p}>{_fixed(t('react.why', business=_BUSINESS))}</p>\n"
        f"<p {p}>{_fixed(t('react.choose'))}</p>\n"
        + _button("confirm_url", "confirm", CONFIRM_COLOUR, _fixed(t("react.confirm_button")))
        + "\n"
        + _button("decline_url", "decline", DECLINE_COLOUR, _fixed(t("react.decline_button")))
        + "\n"
        f"<p {small}>{_fixed(t('react.links'))}</p>\n"
        f'<p {small}><a href="{{{{ terms_url }}}}" {link}>{_fixed(t("react.terms_link"))}</a><br>'
        f'<a href="{{{{ legitimate_interest_url }}}}" {link}>{_fixed(t("react.li_link"))}</a></p>\n'
        f'<p style="margin:16px 0 0;font-size:12px;color:#4a4a4a;">'
        f"{_fixed(t('mail.footer', business=_BUSINESS))} "
        "{% if business_address %}<br>{{ business_address }}{% endif %}"
        "{% if business_website %}<br>{{ business_website }}{% endif %}"
        "{% if business_contact %}<br>{{ business_contact }}{% endif %}<br>"
        f'<a href="{{{{ unsubscribe_url }}}}" data-cta="unsubscribe" {link}>{_fixed(t("mail.unsubscribe"))}</a>'
        "</p>\n"
        "</td></tr></table>\n</td></tr></table>\n</body>\n</html>\n"
    )


def localised_default(subject: str, html: str, language: str) -> tuple[str, str]:
    """A campaign that kept the default template (in whichever language it was created)
    speaks each recipient's language; any other template is sent as written."""
    from chalicelib.mail.rendering import LANGUAGES

    for created_in in LANGUAGES:
        if html == default_html(created_in) and subject == default_subject(created_in):
            return default_subject(language), default_html(language)
    return subject, html
