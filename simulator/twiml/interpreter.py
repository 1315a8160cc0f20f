"""The one TwiML interpreter: it runs a document on a call, as a conference announcement,
or as a waiting participant's hold music (twilio.com/docs/voice/twiml).

What differs between those is a :class:`Target`: who hears the verbs, the parameters
of each fetch, how long a verb takes (and what cuts it short), and which verbs are
allowed. The interpreter itself fetches and parses documents, plays Say/Play/Pause to
the target's listeners (recording what each phone heard), follows <Redirect> and stops
at <Hangup>; any other verb (<Dial>, <Start>) is the target's.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urldefrag, urljoin

from ..calls import transcription
from ..calls.models import Call
from ..conferences.models import Conference
from ..core import delivery, timeline
from ..core.kernel import Kernel
from ..phones import audio
from ..world import World
from . import parser
from .parser import Node

__all__ = ["Target", "run", "Source"]

Source = dict[str, Any]  # {"twiml": text} or {"url", "method", "purpose"?, "extra"?: params}


class Target:
    """Where a document runs. Subclasses override what differs; every hook but
    :meth:`wait` is called with the kernel's lock held.

    Attributes:
        kernel, world: The simulator and the World the target belongs to.
        call_sid, conference: What timeline entries and errors are about.
        source: The ``source`` of heard entries ("twiml", "announcement", "wait").
        redirect_purpose: The timeline purpose of <Redirect> fetches.
        restricted: True for announceUrl/waitUrl documents: only Say, Play, Pause
            and Redirect (twilio.com/docs/api/errors/13238).
        max_redirects: A limit on <Redirect>s, or None.
        rejected: How an error message names a rejected document.
    """

    source = "twiml"
    redirect_purpose = "redirect"
    restricted = False
    max_redirects: int | None = None
    rejected = "TwiML"

    def __init__(self, kernel: Kernel, world: World, call_sid: str | None = None,
                 conference: Conference | None = None) -> None:
        self.kernel, self.world = kernel, world
        self.call_sid, self.conference = call_sid, conference

    def params(self) -> dict[str, str]:
        """The parameters of each fetch."""
        raise NotImplementedError

    def listeners(self) -> list[Call]:
        """The calls whose phones hear the next Say/Play/Pause."""
        raise NotImplementedError

    def going_on(self) -> bool:
        """Called before each verb: False stops the document (e.g. the conference ended)."""
        return not self.world.dead

    def loaded(self) -> None:
        """A document was fetched and parsed (an inbound call is answered now)."""

    def wait(self, seconds: float, silent: bool) -> None:
        """Let one pass of a Say/Play/Pause take ``seconds`` simulated seconds (lock NOT
        held). ``silent``: a <Pause> followed only by a <Redirect>. Raise to cut it short."""
        self.kernel.clock.sleep(seconds, owner=self.world)  # a timed wait, in flight

    def execute(self, verb: Node, base: str) -> Source | None:
        """Run a verb other than Say, Play, Pause, Redirect and Hangup; return a new
        source if it moves the call elsewhere (lock NOT held)."""
        raise parser.TwimlError(f"<{verb.name}> cannot run here")


def run(target: Target, source: Source) -> str | None:
    """Fetch and run TwiML until it runs out, says <Hangup>, or the target stops it.

    Args:
        target: Where it runs.
        source: The first document: ``{"twiml": text}`` or ``{"url", "method",
            "purpose", "extra"?}``.

    Returns:
        None if it ran to its end, or why it failed, e.g. "Error 11200: HTTP retrieval
        failure: …" (the error is already recorded).

    Raises:
        Whatever the target's hooks raise: a hung-up call's ``Hangup``, a modified
        call's ``Redirect`` (its new TwiML is the call runner's to run).
    """
    redirects = 0
    current: Source | None = source
    while current is not None:
        loaded = _load(target, current)
        if isinstance(loaded, str):
            return loaded
        verbs, base = loaded
        with target.kernel.lock:
            target.loaded()
        current = _perform(target, verbs, base)
        if current is not None and "twiml" not in current:
            redirects += 1
            if target.max_redirects is not None and redirects > target.max_redirects:
                return f"more than {target.max_redirects} redirects"
    return None


def _load(target: Target, source: Source) -> tuple[list[Node], str] | str:
    """Fetch and parse one document; return (verbs, base URL), or why it failed."""
    kernel, world = target.kernel, target.world
    if "twiml" in source:
        content_type, content, url = "text/xml", source["twiml"], ""
    else:
        with kernel.lock:
            params = {**target.params(), **source.get("extra", {})}
        result = delivery.fetch(kernel, world, source.get("purpose", "voice"), source["url"],
                                source.get("method") or "POST", params,
                                call_sid=target.call_sid, conference=target.conference)
        if not result.ok:
            return f"Error {result.error_code}: HTTP retrieval failure: {result.error}"
        # The document's URL as asked for (an audio answer is played from it; relative
        # URLs resolve against it), without a GET's parameters or a #fragment.
        content_type, content, url = (result.content_type, result.content,
                                      urldefrag(source["url"])[0])
    try:
        verbs = parser.parse_document(content_type, content, url, announcement=target.restricted)
    except parser.TwimlError as exc:
        with kernel.lock:
            timeline.error(kernel, world, exc.code, f"{target.rejected} rejected: {exc}",
                           call_sid=target.call_sid, conference=target.conference,
                           url=url or None)
        return f"Error {exc.code}: {exc}"
    return verbs, url


def _perform(target: Target, verbs: list[Node], base: str) -> Source | None:
    """Run verbs in order; return the next document's source, or None when done."""
    for index, verb in enumerate(verbs):
        with target.kernel.lock:
            if not target.going_on():
                return None
        if verb.name == "Hangup":
            return None
        if verb.name == "Redirect":
            return {"url": urljoin(base, verb.text), "method": verb.attrs.get("method", "POST"),
                    "purpose": target.redirect_purpose}
        if verb.name in ("Say", "Play", "Pause"):
            silent = verb.name == "Pause" and [v.name for v in verbs[index + 1:]] == ["Redirect"]
            _play(target, verb, silent)
        else:
            moved = target.execute(verb, base)
            if moved is not None:
                return moved
    return None


def _play(target: Target, verb: Node, silent: bool) -> None:
    """Every listener hears each pass of a Say, Play or Pause; a cut-short pass is marked.
    A Say's words reach each listener's call as its outbound track, transcribed as they
    are said if a transcription covers it (``calls.transcription``)."""
    kernel = target.kernel
    attrs = verb.attrs
    for _ in range(1 if verb.name == "Pause" else parser.loops(verb)):
        with kernel.lock:
            listeners = target.listeners()
            heard = [entry for call in listeners for entry in audio.hear(
                kernel, call, verb.name.lower(),
                text=verb.text if verb.name == "Say" else attrs.get("digits"),
                url=(verb.text or None) if verb.name == "Play" else None,
                voice=attrs.get("voice"), language=attrs.get("language"), rate=attrs.get("rate"),
                source=target.source, conference=target.conference)]
        try:
            if verb.name == "Say":
                transcription.speak(kernel, target.world, verb.text,
                                    [(call, "outbound_track") for call in listeners],
                                    lambda seconds: target.wait(seconds, silent))
            else:
                target.wait(parser.seconds(verb), silent)
        except BaseException:
            with kernel.lock:  # a modified or hung-up call, an ended conference
                for entry in heard:
                    entry["interrupted"] = True
            raise
