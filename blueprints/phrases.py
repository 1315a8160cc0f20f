"""The signed-in user's quick phrases: one page to add, edit, reorder and delete them (one per line)."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, ngettext
from flask_login import current_user

from callchat import phrases

bp = Blueprint("phrases", __name__, url_prefix="/phrases")


@bp.get("")
def edit():
    """The user's phrases in a text box, one per line, in the order the room page shows them."""
    return render_template("phrases/edit.html", phrases=phrases.get(current_app.redis, current_user.username),
                           limits=(phrases.MAX_PHRASES, phrases.MAX_LENGTH))


@bp.post("")
def save():
    """Save the phrases typed one per line (`text`), or with `action=defaults` restore the default ones.

    Too many phrases, or one too long, shows the page again with the reason (400) and the text as typed.
    """
    if request.form.get("action") == "defaults":
        phrases.save(current_app.redis, current_user.username, None)
        flash(_("Your phrases are the default ones again."))
        return redirect(url_for("phrases.edit"), code=303)
    typed = request.form.get("text", "")
    try:
        chosen = phrases.parse(typed)
    except phrases.InvalidPhrases as exc:
        return render_template("phrases/edit.html", phrases=typed.splitlines(), error=str(exc),
                               limits=(phrases.MAX_PHRASES, phrases.MAX_LENGTH)), 400
    phrases.save(current_app.redis, current_user.username, chosen)
    flash(ngettext("Saved %(num)d phrase.", "Saved %(num)d phrases.", len(chosen)))
    return redirect(url_for("phrases.edit"), code=303)
