"""A real SMTP server on loopback (aiosmtpd) that keeps every message it receives.

    server = SmtpServer().start()          # server.host, server.port
    ... the app sends mail to 127.0.0.1:server.port ...
    [msg] = await server.wait_for(1)
    msg.subject, msg.to, msg.body, msg.message["X-Header"]
    server.stop()

The server runs in aiosmtpd's own thread with its own event loop, so it works
from sync and async tests alike and never blocks the test's event loop.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from aiosmtpd.controller import Controller


HOST = "127.0.0.1"


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class ReceivedMessage:
    """One message as received: SMTP envelope plus the parsed message."""

    envelope_from: str
    envelope_to: list[str]
    message: EmailMessage
    raw: bytes = field(repr=False)

    @property
    def from_(self) -> str:
        """The ``From:`` header (falls back to the envelope sender)."""
        return str(self.message.get("From", self.envelope_from))

    @property
    def to(self) -> list[str]:
        """Bare addresses from ``To:``/``Cc:`` headers, else the envelope recipients."""
        addresses: list[str] = []
        for header in ("To", "Cc"):
            value = self.message.get(header)
            if value is not None:
                addresses.extend(addr.addr_spec for addr in value.addresses)
        return addresses or list(self.envelope_to)

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    @property
    def body(self) -> str:
        """The text/plain body (or text/html if there is no plain part)."""
        part = self.message.get_body(preferencelist=("plain", "html"))
        if part is None:
            return ""
        return part.get_content()

    @property
    def html(self) -> str | None:
        part = self.message.get_body(preferencelist=("html",))
        return None if part is None else part.get_content()


class _StoringHandler:
    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd API)
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        # SMTP carries CRLF line endings; parse with plain \n so bodies compare naturally.
        parsed = BytesParser(policy=policy.default).parsebytes(raw.replace(b"\r\n", b"\n"))
        self._server._store(
            ReceivedMessage(
                envelope_from=envelope.mail_from or "",
                envelope_to=list(envelope.rcpt_tos),
                message=parsed,  # type: ignore[arg-type]  (policy.default yields EmailMessage)
                raw=raw,
            )
        )
        return "250 Message accepted for delivery"


class SmtpServer:
    """Loopback SMTP sink. Thread-safe; ``messages`` is a snapshot list."""

    def __init__(self, host: str = HOST) -> None:
        self.host = host
        self.port: int | None = None
        self._controller: Controller | None = None
        self._lock = threading.Lock()
        self._messages: list[ReceivedMessage] = []

    # ------------------------------------------------------------ lifecycle
    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> SmtpServer:
        if self._controller is not None:
            return self
        last_error: Exception | None = None
        # aiosmtpd's Controller cannot use port 0, so pick a free port (retry on a race).
        for _attempt in range(5):
            port = _free_port(self.host)
            controller = Controller(
                _StoringHandler(self),
                hostname=self.host,
                port=port,
                enable_SMTPUTF8=True,
                ready_timeout=10,
            )
            try:
                controller.start()
            except Exception as exc:  # bind race or startup failure
                last_error = exc
                try:
                    controller.stop()
                except Exception:
                    pass
                continue
            self._controller, self.port = controller, port
            return self
        raise RuntimeError(f"could not start the test SMTP server on {self.host}: {last_error!r}")

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    # ------------------------------------------------------------- messages
    def _store(self, message: ReceivedMessage) -> None:
        with self._lock:
            self._messages.append(message)

    @property
    def messages(self) -> list[ReceivedMessage]:
        with self._lock:
            return list(self._messages)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()

    def _timeout_error(self, count: int, timeout: float, messages: list[ReceivedMessage]) -> AssertionError:
        got = "\n".join(f"  - to={m.to} subject={m.subject!r}" for m in messages) or "  (none)"
        return AssertionError(f"expected at least {count} email(s) within {timeout}s, got {len(messages)}:\n{got}")

    async def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Wait until at least ``count`` messages arrived; return them all.

        Raises ``AssertionError`` (listing what did arrive) on timeout.
        """
        deadline = time.monotonic() + timeout
        while True:
            messages = self.messages
            if len(messages) >= count:
                return messages
            if time.monotonic() >= deadline:
                raise self._timeout_error(count, timeout, messages)
            await asyncio.sleep(0.02)

    def wait_for_sync(self, count: int = 1, timeout: float = 5.0) -> list[ReceivedMessage]:
        """:meth:`wait_for` for sync code (blocks the calling thread)."""
        deadline = time.monotonic() + timeout
        while True:
            messages = self.messages
            if len(messages) >= count:
                return messages
            if time.monotonic() >= deadline:
                raise self._timeout_error(count, timeout, messages)
            time.sleep(0.02)
