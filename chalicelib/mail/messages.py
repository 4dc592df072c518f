"""The product's transactional e-mails, rendered from templates in the recipient's language."""

from __future__ import annotations

from chalicelib.domain.records import Account, Client
from chalicelib.mail.mime import OutgoingMail
from chalicelib.mail.rendering import Translator, pick_language, render


def double_opt_in_mail(
    account: Account, client: Client, confirm_url: str, *, language: str | None = None
) -> OutgoingMail:
    """The confirmation request of the intake form; its link carries ``data-cta="confirm"``.

    It shows nothing a stranger could have typed into the form: the greeting uses the name
    on record only for a client that is not pending (staff entered or its owner confirmed
    it) — the form's name field is a known way to carry spam into confirmation mails.
    ``language`` is the one the form was filled in, else the client's, else the account's.
    """
    language = pick_language(language, client.language, account.settings.language)
    name = None if client.pending else client.first_name
    context = {"business": account.name, "first_name": name, "confirm_url": confirm_url}
    return OutgoingMail(
        sender_email=account.settings.sender_email,
        sender_name=account.settings.sender_name or account.name,
        to=client.email,
        subject=Translator(language)("doi.subject", business=account.name),
        text=render("mail/double_opt_in.txt", language, **context),
        html=render("mail/double_opt_in.html", language, **context),
        language=language,
    )
