"""Languages of the pages and of what callchat says: Japanese and English, with Flask-Babel.

A request's language is the signed-in user's choice if they made one, else the best match of the
browser's `Accept-Language` (RFC 9110 §12.5.4), else DEFAULT_LOCALE (ja). Strings are marked with
`_()` (`flask_babel.gettext`, or this module's `gettext` in `callchat/` modules, which also serve commands
without Flask-Babel) in Python, `N_()` (`lazy_gettext`: translated when shown) for texts made at import time, and `{{ _("…") }}` in templates; Babel's default keywords find all three; the catalogs are in `translations/`
(python-babel.github.io/flask-babel/): `messages.pot` (extracted by `pybabel extract -F babel.cfg`),
`ja/LC_MESSAGES/messages.po` (the Japanese), compiled to `.mo` by the build (`make`,
Heroku's `bin/post_compile`), never committed. English is the msgids themselves.

What callchat says on a call is in the ROOM's language, not the page's: `callchat.voices.NOTICES`.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
import flask_babel
from flask import Flask, current_app, has_app_context, has_request_context, request
from flask_babel import Babel, get_locale
from flask_babel.speaklater import LazyString
from flask_login import current_user

log = logging.getLogger(__name__)

#: The languages callchat's pages and prompts come in: Babel locale names.
LOCALES = ("ja", "en")
#: The language whose texts are the msgids themselves: it has no catalog.
SOURCE_LOCALE = "en"
#: The catalogs' folder (Flask-Babel's default BABEL_TRANSLATION_DIRECTORIES, next to app.py).
TRANSLATIONS = Path(__file__).resolve().parents[1] / "translations"


def gettext(string: str, **variables: object) -> str:
    """`flask_babel.gettext`: `string` in the request's language, `%(name)s` placeholders filled from `variables`.

    Where Flask-Babel is not set up (no app, or an app without it, such as `flask doctor` checking settings
    before the app is made), `string` itself, in English, filled the same way.
    """
    if not _babel_ready():
        return string % variables if variables else string
    return flask_babel.gettext(string, **variables)


def ngettext(singular: str, plural: str, num: int, **variables: object) -> str:
    """`flask_babel.ngettext`: the form of `singular`/`plural` for `num` in the request's language, `%(num)d` and
    `variables` filled in; English where Flask-Babel is not set up (see `gettext`)."""
    if not _babel_ready():
        return (singular if num == 1 else plural) % dict(variables, num=num)
    return flask_babel.ngettext(str(singular), str(plural), num, **variables)


def lazy_gettext(string: str, **variables: object) -> LazyString:
    """`gettext`, translated each time it is shown: for texts made at import time (labels, tables)."""
    return LazyString(gettext, string, **variables)


def stored(string: str) -> str:
    """Mark `string` as a text callchat stores in English (in Redis: a message's failure) and translates only
    when a page shows it (`shown`). Returns `string` unchanged; `pybabel extract -k stored` (the Makefile's
    `make messages`) puts it in the catalog."""
    return string


def shown(text: str) -> str:
    """A stored text (see `stored`) in the request's language if the catalog has it, else as stored (a text
    from Twilio, say). No placeholders are filled, so a `%` in it is safe. The `shown` filter in templates."""
    if not text or not _babel_ready():
        return text
    return flask_babel.gettext(text)


def _babel_ready() -> bool:
    return has_app_context() and "babel" in current_app.extensions


def country_name(code: str) -> str:
    """The name of ISO 3166 alpha-2 region `code` in the request's language, from CLDR (through Babel), e.g.
    `US` → "United States" / "アメリカ合衆国"; in English where Flask-Babel is not set up; the code if CLDR has none."""
    locale = (get_locale() if _babel_ready() else None) or Locale.parse(SOURCE_LOCALE)
    return locale.territories.get(code, code)


def select_locale() -> str:
    """The language of the current request: one of LOCALES.

    Returns:
        The signed-in user's `locale` if set, else the first language of `Accept-Language` (by quality) whose
        primary subtag is one of LOCALES, else DEFAULT_LOCALE.
        Outside a request (a command, a job with an app context), SOURCE_LOCALE: logs and commands are English.
    """
    if not has_request_context():
        return SOURCE_LOCALE
    chosen = getattr(current_user, "locale", None) if current_user else None
    if chosen in LOCALES:
        return chosen
    for tag, _quality in request.accept_languages:  # best first; `en-GB` asks for `en`, before a `ja;q=0.5`
        primary = tag.split("-", 1)[0].split("_", 1)[0].lower()
        if primary in LOCALES:
            return primary
    return current_app.config["DEFAULT_LOCALE"]


def catalog(locale: str, folder: Path = TRANSLATIONS, suffix: str = "po") -> Path:
    """The path of `locale`'s catalog in `folder`: `<folder>/<locale>/LC_MESSAGES/messages.<suffix>`."""
    return folder / locale / "LC_MESSAGES" / f"messages.{suffix}"


def ensure_compiled(folder: Path = TRANSLATIONS) -> list[str]:
    """Compile each translated locale's `.po` to `.mo` if its `.mo` is missing or older (what `pybabel
    compile` does; the build does it first, so this is the safety net of a start without a build).

    Writes through a temporary file and a rename, so that processes starting together never read half
    a catalog. Fuzzy entries are left out, as `pybabel compile` leaves them.

    Returns:
        The locales compiled now (empty when every `.mo` was up to date).

    Raises:
        RuntimeError: a catalog is missing, or its `.mo` cannot be written (a read-only folder),
            naming the file and the command that compiles it.
    """
    compiled = []
    for locale in LOCALES:
        if locale == SOURCE_LOCALE:
            continue
        po, mo = catalog(locale, folder), catalog(locale, folder, "mo")
        if not po.exists():
            raise RuntimeError(f"the {locale} catalog {po} is missing: the pages cannot be shown in {locale}")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        try:
            with po.open("rb") as source:
                messages = read_po(source, locale=locale)
            handle, temporary = tempfile.mkstemp(dir=mo.parent, suffix=".mo.tmp")
            with os.fdopen(handle, "wb") as target:
                write_mo(target, messages)
            os.replace(temporary, mo)
        except OSError as exc:
            raise RuntimeError(f"the {locale} catalog is not compiled and {mo} cannot be written ({exc}): "
                               f"run `pybabel compile -d translations` in the build") from exc
        compiled.append(locale)
    return compiled


def init_twilio_app(app: Flask) -> None:
    """Set up Flask-Babel on the app that answers Twilio (`callchat.twilio_facing`), which has no users.

    A webhook is nobody's request: it has no signed-in user and no `Accept-Language`. So the texts made while
    answering one are in DEFAULT_LOCALE, as `select_locale` gives such a request on the main app. These are a
    room's timeline entries and history, published to its pages. The catalogs are the main app's, already
    compiled by `init_app`.
    """
    Babel(app, locale_selector=lambda: app.config["DEFAULT_LOCALE"], default_locale=app.config["DEFAULT_LOCALE"])


def init_app(app: Flask) -> None:
    """Set up Flask-Babel on `app`: `_`/`gettext`/`ngettext` and `locale` (the page's language) in templates.

    Compiles the catalogs first if the build did not (`ensure_compiled`), saying so in the log, so that
    Japanese users never silently get English pages.

    Raises:
        RuntimeError: a catalog is missing or cannot be compiled (see `ensure_compiled`).
    """
    for locale in ensure_compiled(Path(app.root_path) / "translations"):
        log.warning("translations: the %s catalog was not compiled by the build (make, bin/post_compile); "
                    "compiled it now", locale)
    app.add_template_filter(shown)
    Babel(app, locale_selector=select_locale, default_locale=app.config["DEFAULT_LOCALE"])
    app.context_processor(lambda: {"locale": str(get_locale() or app.config["DEFAULT_LOCALE"])})
