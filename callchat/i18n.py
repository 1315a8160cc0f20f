"""Languages of the pages and of what callchat says: Japanese and English, with Flask-Babel.

A request's language is the signed-in user's choice if they made one, else the best match of the
browser's `Accept-Language` (RFC 9110 §12.5.4), else DEFAULT_LOCALE (ja). Strings are marked with
`_()` in Python and `{{ _("…") }}` in templates; the catalogs are in `translations/`
(python-babel.github.io/flask-babel/).
"""

from __future__ import annotations

from flask import Flask, current_app, request
from flask_babel import Babel, get_locale
from flask_login import current_user

#: The languages callchat's pages and prompts come in: Babel locale names.
LOCALES = ("ja", "en")


def select_locale() -> str:
    """The language of the current request: one of LOCALES.

    Returns:
        The signed-in user's `locale` if set, else `Accept-Language`'s best match, else DEFAULT_LOCALE.
    """
    chosen = getattr(current_user, "locale", None) if current_user else None
    if chosen in LOCALES:
        return chosen
    return request.accept_languages.best_match(LOCALES) or current_app.config["DEFAULT_LOCALE"]


def init_app(app: Flask) -> None:
    """Set up Flask-Babel on `app`: `_`/`gettext`/`ngettext` and `locale` (the page's language) in templates."""
    Babel(app, locale_selector=select_locale, default_locale=app.config["DEFAULT_LOCALE"])
    app.context_processor(lambda: {"locale": str(get_locale() or app.config["DEFAULT_LOCALE"])})
