"""One HTTP round trip: the request sent, the whole answer spooled, or a transport failure described.

Nothing here lets the API key out: ``requests`` exception texts (which carry the full URL) are
reduced to a scrubbed reason and never chained under the errors raised here.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, cast

import requests
import urllib3

from airflow_provider_mailpartner.client.commands import Call
from airflow_provider_mailpartner.client.redaction import Redactor
from airflow_provider_mailpartner.client.retry import Retryable
from airflow_provider_mailpartner.connection_settings import ConnectionSettings
from airflow_provider_mailpartner.exceptions import MailPartnerResponseError, MailPartnerTransportError

CHUNK_SIZE = 1 << 16  # bytes read at a time, from the socket and from the spool (larger: only more memory)
SPOOL_IN_MEMORY = 4 << 20  # larger bodies go to a temporary file, not to RAM
ATTEMPT_TIMEOUTS = 30  # one attempt may take 30 x the connection's timeout in all (5 min by default)
USER_AGENT = "airflow-provider-mailpartner"
POOL_SIZE = 32  # kept-alive connections per host; the add operator's worker threads share them
# requests drops None-valued entries after merging, so these keys shut out the environment's proxies.
_NO_PROXY = cast("dict[str, str]", {"http": None, "https": None, "all": None})


@dataclass
class Answer:
    """An HTTP answer whose body has been read completely into a spool."""

    http_status: int
    content_type: str
    retry_after: str | None
    location: str
    body: IO[bytes]

    def chunks(self) -> Iterator[bytes]:
        self.body.seek(0)
        while chunk := self.body.read(CHUNK_SIZE):
            yield chunk

    def head(self, size: int = 512) -> bytes:
        self.body.seek(0)
        return self.body.read(size)


def _announced_size(response: requests.Response) -> int:
    length = response.headers.get("Content-Length", "")
    return int(length) if length.isascii() and length.isdigit() else 0


class Exchange:
    """The session of one connection, and the one way a request is sent through it."""

    def __init__(self, settings: ConnectionSettings, redactor: Redactor) -> None:
        self.settings = settings
        self.redactor = redactor
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=POOL_SIZE)  # threads may share one hook
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        # Plain http (loopback, or an explicit opt-in) must not travel through an environment
        # proxy: the key is in the URL. https may, since the proxy only sees a tunnel.
        self._proxies = _NO_PROXY if settings.base_url.startswith("http://") else None

    def send(self, call: Call, body_limit: int) -> Answer:
        """One round trip, the body read to the end. A transport failure raises :class:`Retryable`
        (a failed TLS handshake fails again: it raises at once); a body over ``body_limit`` is refused."""
        # Closed below on failure, else by whoever consumes the Answer.
        spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
        try:
            answer = self._receive(call, spool, body_limit)
        except requests.exceptions.SSLError as exc:
            failure: MailPartnerTransportError | Retryable = self._error(call, self._describe_tls(exc))
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            failure = Retryable(self._error(call, self._describe(exc)))
        except BaseException:
            spool.close()
            raise
        else:
            return answer
        spool.close()
        raise failure  # outside the except block: the requests exception (full URL) is not chained

    def _receive(self, call: Call, spool: IO[bytes], body_limit: int) -> Answer:
        payload = call.payload(self.settings.api_key)
        with self.session.request(
            call.command.method,
            f"{self.settings.base_url}/v1/{call.command.path}",
            params=payload if call.command.method == "GET" else None,
            json=payload if call.command.method == "POST" else None,
            timeout=(self.settings.timeout, self.settings.timeout),
            allow_redirects=False,
            stream=True,
            proxies=self._proxies,
        ) as response:
            self._spool(call, response, spool, body_limit)
            return Answer(
                response.status_code,
                response.headers.get("Content-Type", ""),
                response.headers.get("Retry-After"),
                response.headers.get("Location", ""),
                spool,
            )

    def _spool(self, call: Call, response: requests.Response, spool: IO[bytes], body_limit: int) -> None:
        """Copy the body to ``spool``, within the size limit and the attempt's deadline."""
        deadline = time.monotonic() + self.settings.timeout * ATTEMPT_TIMEOUTS
        if _announced_size(response) > SPOOL_IN_MEMORY:
            spool.rollover()  # type: ignore[attr-defined]  # to disk now, not after 4 MB were held and copied
        size = 0
        # read1 returns as soon as any bytes arrive (iter_content waits for a whole chunk), so the
        # deadline is checked even while a server trickles; the read timeout bounds each pause.
        while chunk := response.raw.read1(CHUNK_SIZE, decode_content=True):
            size += len(chunk)
            if size > body_limit:
                raise MailPartnerResponseError(
                    f"{self._prefix(call)}answer larger than {body_limit} bytes, far beyond what this command sends",
                    http_status=response.status_code,
                    conn_id=self.settings.conn_id,
                )
            if time.monotonic() > deadline:
                took = f"the answer took longer than {self.settings.timeout * ATTEMPT_TIMEOUTS:g} s"
                raise Retryable(self._error(call, took))
            spool.write(chunk)

    def _describe(self, exc: requests.RequestException | urllib3.exceptions.HTTPError) -> str:
        """A short account of a transport failure, without the URL requests puts in every text."""
        if isinstance(exc, requests.ConnectTimeout):
            return f"could not connect within {self.settings.timeout:g} s"
        if isinstance(exc, (requests.Timeout, urllib3.exceptions.TimeoutError)):
            return f"no answer within {self.settings.timeout:g} s"
        if isinstance(exc, (requests.exceptions.ChunkedEncodingError, urllib3.exceptions.ProtocolError)):
            return "the connection broke before the whole answer arrived (truncated body)"
        reason: object = exc.args[0] if exc.args else exc
        reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the real cause
        text = self.redactor.scrub(str(reason))  # scrubbed before it is cut: no fragment survives
        if isinstance(reason, Exception):
            text = text.split(": ", 1)[-1]
        return f"{type(exc).__name__}: {text[:200]}"

    def _describe_tls(self, exc: requests.exceptions.SSLError) -> str:
        """A TLS handshake failure, with what to do about it: the commonest is https to a plain-http server."""
        detail = self._describe(exc)
        if "WRONG_VERSION_NUMBER" in detail or "wrong version number" in detail:
            return (
                f"the server at {self.settings.base_url} does not speak TLS (https). If it serves plain http, "
                "write http://... as the connection's host (allowed on loopback, or with allow_insecure_http); "
                f"not retried ({detail})"
            )
        return f"the TLS handshake with {self.settings.base_url} failed; not retried ({detail})"

    def _error(self, call: Call, problem: str) -> MailPartnerTransportError:
        return MailPartnerTransportError(self._prefix(call) + problem, conn_id=self.settings.conn_id)

    def _prefix(self, call: Call) -> str:
        return f"MailPartner connection {self.settings.conn_id!r} {call.command.label}: "
