"""The one way the integrations make an outgoing HTTP request (healthchecks' `hc.lib.curl`).

Workspaces choose where their webhooks go, so a URL is something a stranger typed: without a
guard it could make our servers call the cloud's metadata service (169.254.169.254), Redis on
localhost or a database on the private network. So every request here:

- resolves the host itself, refuses the whole request if any address it resolves to is private,
  loopback, link-local, multicast, reserved or unspecified (IPv4, IPv6 and IPv4 inside IPv6),
  unless WEBHOOK_ALLOW_PRIVATE_TARGETS (development and tests);
- connects to the address it checked, never resolving the name again (a DNS answer that changes
  between the check and the connection cannot slip through), with the Host header and the TLS
  server name and certificate check still those of the URL's host;
- follows no redirect (a 3xx is the answer, not a pointer to somewhere unchecked), and gives up
  after 3 s to connect and WEBHOOK_TIMEOUT_SECONDS (10) in all;
- reads at most what it keeps of the answer.

`TransportError(message, permanent=False)`: the caller retries or gives up from `permanent`,
never from the message, which is written for the person who owns the endpoint.
"""

import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import certifi
import urllib3
from django.conf import settings

CONNECT_TIMEOUT = 3.0  # total: WEBHOOK_TIMEOUT_SECONDS
KEEP_BYTES = 1024  # of an answer's body: enough to show why a receiver refused
USER_AGENT = "Clozit-Webhooks/1"


class TransportError(Exception):
    """A request that did not get an answer. `permanent`: trying again cannot help (the address
    is refused, the URL is malformed), so the caller should stop."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.message = message
        self.permanent = permanent


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes  # at most KEEP_BYTES
    elapsed_ms: int


def address_refusal(address: str) -> str:
    """Why `address` (an IP) may not be called, or "" when it may."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone ("fe80::1%eth0") is no part of it
    if isinstance(ip, ipaddress.IPv6Address):
        # ::ffff:127.0.0.1 reaches 127.0.0.1; ::127.0.0.1 (IPv4-compatible) and 64:ff9b::/96
        # (NAT64) do on some networks: judge the IPv4 address inside.
        inner = ip.ipv4_mapped or (ipaddress.IPv4Address(int(ip)) if int(ip) >> 32 == 0 and int(ip) > 1 else None)
        if inner is None and ip in ipaddress.ip_network("64:ff9b::/96"):
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None:
            ip = inner
    if ip.is_loopback:
        return "a loopback address (this server itself)"
    if ip.is_link_local:
        return "a link-local address (such as a cloud's metadata service)"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_private or ip.is_reserved or not ip.is_global:
        return "a private or reserved address"
    return ""


def resolve(host: str, port: int) -> str:
    """The address to connect to for `host`: every address the name resolves to must be allowed
    (a name with one public and one private address is refused), and the first one is used.
    Raises TransportError."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TransportError(f"The host name {host} could not be resolved.") from exc
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:  # pragma: no cover - getaddrinfo raises instead
        raise TransportError(f"The host name {host} could not be resolved.")
    if not settings.WEBHOOK_ALLOW_PRIVATE_TARGETS:
        for address in addresses:
            why = address_refusal(address)
            if why:
                raise TransportError(
                    f"{host} resolves to {address}, {why}: Clozit does not send there.", permanent=True
                )
    return addresses[0]


def url_refusal(url: str) -> str:
    """Why a URL may not be used as a target (scheme, form), or "". No network access."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return "This is not a valid URL."
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "Enter a URL starting with https://."
    if parts.scheme == "http" and not settings.WEBHOOK_ALLOW_HTTP:
        return "Use https://: deliveries carry call transcripts and must be encrypted on the way."
    if parts.username or parts.password:
        return "Leave the user name and password out of the URL; verify our signature instead."
    return ""


def check_target(url: str) -> None:
    """The checks a request makes before it connects, for a form to show at once. Raises TransportError."""
    why = url_refusal(url)
    if why:
        raise TransportError(why, permanent=True)
    parts = urlsplit(url)
    resolve(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))


def _ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=certifi.where())


_CONTEXT = None


def request(method: str, url: str, *, body: bytes = b"", headers: dict | None = None) -> Response:
    """Send one request to `url` through the guard above; any answer (including 3xx, 4xx, 5xx)
    is returned. Raises TransportError when there is none (refused target, DNS, connection, time)."""
    global _CONTEXT
    total = settings.WEBHOOK_TIMEOUT_SECONDS
    why = url_refusal(url)
    if why:
        raise TransportError(why, permanent=True)
    parts = urlsplit(url)
    host = parts.hostname
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    address = resolve(host, port)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    host_header = host if parts.port is None else f"{host}:{port}"
    if ":" in host and parts.port is None:
        host_header = f"[{host}]"
    headers = {"Host": host_header, "User-Agent": USER_AGENT, **(headers or {})}
    timeout = urllib3.Timeout(total=total, connect=min(CONNECT_TIMEOUT, total))
    if https:
        if _CONTEXT is None:
            _CONTEXT = _ssl_context()
        # Connected to the checked address; the TLS server name and the certificate are the host's.
        pool = urllib3.HTTPSConnectionPool(
            address,
            port,
            timeout=timeout,
            retries=False,
            maxsize=1,
            server_hostname=host,
            assert_hostname=host,
            ssl_context=_CONTEXT,
        )
    else:
        pool = urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False, maxsize=1)
    started = time.monotonic()
    try:
        response = pool.urlopen(
            method,
            path,
            body=body,
            headers=headers,
            redirect=False,
            retries=False,
            preload_content=False,
            assert_same_host=False,
        )
        try:
            kept = b""
            # The body is read up to what is kept, and within what is left of the total time.
            while len(kept) < KEEP_BYTES:
                if time.monotonic() - started > total:
                    raise TransportError(f"The receiver took longer than {total:g} s to answer.")
                chunk = response.read(KEEP_BYTES - len(kept))
                if not chunk:
                    break
                kept += chunk
        finally:
            response.release_conn()
            response.close()
    except urllib3.exceptions.NewConnectionError as exc:  # a subclass of the timeout: refused, unreachable
        raise TransportError(f"Could not connect to {host}: {_short(exc)}") from exc
    except urllib3.exceptions.ConnectTimeoutError as exc:
        raise TransportError(f"Could not connect to {host} within {CONNECT_TIMEOUT:.0f} s.") from exc
    except (urllib3.exceptions.ReadTimeoutError, TimeoutError) as exc:
        raise TransportError(f"The receiver took longer than {total:g} s to answer.") from exc
    except urllib3.exceptions.SSLError as exc:
        raise TransportError(f"The TLS connection to {host} failed: {_short(exc)}") from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise TransportError(f"Could not connect to {host}: {_short(exc)}") from exc
    finally:
        pool.close()
    elapsed = time.monotonic() - started
    if elapsed > total:
        raise TransportError(f"The receiver took longer than {total:g} s to answer.")
    return Response(status=response.status, body=kept, elapsed_ms=int(elapsed * 1000))


def _short(exc: Exception) -> str:
    reason = getattr(exc, "reason", None) or exc
    return str(reason)[:200]
