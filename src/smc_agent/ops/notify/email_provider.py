"""Email over SMTP (``smtplib``), STARTTLS when the server offers it and it is enabled."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from smc_agent.ops.notify.provider import Delivery, DeliveryError, OutboundMessage


class SmtpEmail:
    def __init__(
        self,
        *,
        channel: str,
        host: str,
        port: int,
        sender: str,
        recipients: list[str],
        username: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        timeout_s: float = 10.0,
    ) -> None:
        if not recipients:
            raise ValueError(f"email channel {channel!r} has no recipients (set SMC_SMTP_TO)")
        self.channel = channel
        self._host, self._port = host, port
        self._sender, self._recipients = sender, recipients
        self._username, self._password = username, password
        self._starttls, self._timeout = starttls, timeout_s

    def send(self, message: OutboundMessage) -> Delivery:
        mail = EmailMessage()
        mail["Subject"] = message.payload["subject"]
        mail["From"] = self._sender
        mail["To"] = ", ".join(self._recipients)
        mail["Date"] = formatdate(usegmt=True)
        mail["Message-ID"] = make_msgid(idstring=message.id, domain="smc-agent")
        mail["X-SMC-Message-Id"] = message.id
        mail.set_content(message.payload["text"])
        try:
            with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
                smtp.ehlo()
                if self._starttls and smtp.has_extn("starttls"):
                    smtp.starttls()
                    smtp.ehlo()
                if self._username:
                    smtp.login(self._username, self._password or "")
                refused = smtp.send_message(mail)
        except smtplib.SMTPResponseException as exc:
            permanent = 500 <= exc.smtp_code < 600
            raise DeliveryError(f"smtp: {exc.smtp_code}", permanent=permanent) from None
        except smtplib.SMTPRecipientsRefused:
            raise DeliveryError("smtp: every recipient refused", permanent=True) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"smtp: {exc.__class__.__name__}") from None
        return Delivery(detail=f"accepted; refused: {sorted(refused)}" if refused else "accepted")

    def close(self) -> None:
        return None
