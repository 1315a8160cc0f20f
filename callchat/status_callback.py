"""The outcome webhook (`status_callback`): which URLs callchat will POST a call's outcome to.

Whoever places a call names the URL, and a worker POSTs to it from inside callchat's
network: unchecked, that is server-side request forgery (OWASP's "Server-Side Request
Forgery Prevention Cheat Sheet"): a POST to Redis on 127.0.0.1, to a cloud's metadata
service on 169.254.169.254, or to any internal host. So a status_callback must be an
`https://` URL (RFC 9110 section 4.2.2) whose host resolves only to public addresses:
every address `socket.getaddrinfo` gives, IPv4 and IPv6, IPv4-mapped IPv6 (RFC 4291
section 2.4.5) judged by its IPv4 address, must be none of loopback, private, link-local,
multicast, reserved or unspecified, and be global (Python's `ipaddress`, after IANA's
special-purpose address registries, RFC 6890). STATUS_CALLBACK_ALLOW_PRIVATE=true lifts
both rules, for the simulator, tests and intranets.

The API checks the URL when a call is requested, and the job again just before it POSTs,
since DNS answers change. The HTTP client resolves the name once more to connect, so a DNS
server answering differently within that instant could still win the race (DNS rebinding);
pinning the connection to the checked address would close it.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

#: The kinds of address refused, by the `ipaddress` property that tells them (`is_loopback`, …), checked in
#: this order (Python counts loopback and link-local addresses as private too), with how a person reads them.
_REFUSED_KINDS = {"unspecified": "an unspecified address", "loopback": "a loopback address",
                  "link_local": "a link-local address", "multicast": "a multicast address",
                  "private": "a private address", "reserved": "a reserved address"}


class RefusedURL(ValueError):
    """A status_callback callchat will not POST to; str() says why, in words a person understands."""


def check(url: str, allow_private: bool) -> str:
    """Refuse a status_callback that is not https or that reaches a non-public address.

    Args:
        url: the status_callback as given.
        allow_private: STATUS_CALLBACK_ALLOW_PRIVATE: also allow `http://` and any address.

    Returns:
        `url`, unchanged.

    Raises:
        RefusedURL: not an absolute http(s) URL; not https; its host does not resolve, or
            resolves (among others) to a non-public address. Every check resolves the host anew.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RefusedURL(f"'status_callback' is not a URL: {exc}.") from exc
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise RefusedURL("'status_callback' must be an absolute https:// URL.")
    if allow_private:
        return url
    if parts.scheme != "https":
        raise RefusedURL("'status_callback' must be an https:// URL: callchat does not send outcomes unencrypted.")
    for address in _addresses(parts.hostname, port or 443):
        kind = _kind(address)
        if kind:
            verb = "resolves to" if _is_name(parts.hostname) else "is"
            raise RefusedURL(f"'status_callback' must reach a public address, and {parts.hostname} {verb} {kind}; "
                             "callchat does not send outcomes into private networks.")
    return url


def _addresses(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Every address `host` resolves to now (IPv4 and IPv6)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise RefusedURL(f"'status_callback' host {host} cannot be found (DNS: {exc}).") from exc
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in found]


def _is_name(host: str) -> bool:
    """True for a host name, False for an IP address written as one."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


def _kind(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """What makes an address non-public, as a phrase (`a loopback address`), or "" for a public one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    for kind, phrase in _REFUSED_KINDS.items():
        if getattr(address, f"is_{kind}"):
            return phrase
    return "" if address.is_global else "a non-public address"
