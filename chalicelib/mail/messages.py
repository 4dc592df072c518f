"""The product's transactional e-mails, rendered from templates in the recipient's language."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.domain.records import Account, Client
from chalicelib.mail.mime import OutgoingMail
from chalicelib.mail.rendering import Translator, pick_language, render

if TYPE_CHECKING:
    from chalicelib.domain.identity import User


def double_opt_in_mail(
    account: Account, client: Client, confirm_url: str, *, language: str | None = None
) -> OutgoingMail:
    """The confirmation request of the intake form; its link carries ``data-cta="confirm"``.

    It shows nothing a stranger could have typed into the form: the greeting uses the name
    on record only for a client that is not pending (staff entered or its owner confirmed
    it) — the form's name field is a known way to carry spam into confirmation mails.
    ``language`` is the one the form was filled in, else the client's, else the account's.
    The business's logo and footer (address, website, contact) come from its settings.
    """
    from chalicelib.domain.business import footer_lines

    language = pick_language(language, client.language, account.settings.language)
    name = None if client.pending else client.first_name
    context = {
        "business": account.name,
        "first_name": name,
        "confirm_url": confirm_url,
        "logo_url": account.settings.logo_url,
        "footer": footer_lines(account.settings),
    }
    return OutgoingMail(
        sender_email=account.settings.sender_email,
        sender_name=account.settings.sender_name or account.name,
        to=client.email,
        subject=Translator(language)("doi.subject", business=account.name),
        text=render("mail/double_opt_in.txt", language, **context),
        html=render("mail/double_opt_in.html", language, **context),
        language=language,
    )


def _identity_mail(kind: str, account: Account, user: User, url: str) -> OutgoingMail:
    language = pick_language(user.language, account.settings.language)
    context = {"business": account.name, "email": user.email, "url": url, "kind": kind}
    return OutgoingMail(
        sender_email=account.settings.sender_email,
        sender_name=account.settings.sender_name or account.name,
        to=user.email,
        subject=Translator(language)(f"{kind}.subject", business=account.name),
        text=render("mail/identity.txt", language, **context),
        html=render("mail/identity.html", language, **context),
        language=language,
    )


def invitation_mail(account: Account, user: User, url: str) -> OutgoingMail:
    """An invitation to the console: the link sets the first password (valid 7 days)."""
    return _identity_mail("invitation_mail", account, user, url)


def password_reset_mail(account: Account, user: User, url: str) -> OutgoingMail:
    """A password reset link (valid 1 hour)."""
    return _identity_mail("reset_mail", account, user, url)
