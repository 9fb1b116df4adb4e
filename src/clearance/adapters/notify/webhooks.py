"""HTTP channels: a signed JSON webhook and Slack's incoming webhooks.

Only the standard library speaks HTTP (``urllib.request``): a notifier is no reason for a new
runtime dependency. The signature headers and the retry rules are the contract in
:mod:`clearance.notify.channels`.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping
from http.client import HTTPException
from typing import Any

from clearance.adapters.clock import SystemClock
from clearance.core.hashing import canonical_json
from clearance.notify.channels import DeliveryError, check_url, redact, sign
from clearance.notify.events import Notification, canonical_body, render_slack
from clearance.service.ports import Clock

USER_AGENT = "clearance-notify/1"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib would turn a redirected POST into a GET and drop the body: refuse instead.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> None:
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("User-Agent", USER_AGENT)
    for key, value in headers.items():
        request.add_header(key, value)
    where = redact(url)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read(65536)
    except urllib.error.HTTPError as exc:
        code = exc.code
        exc.close()
        if 300 <= code < 400:
            raise DeliveryError(
                f"{where} answered a redirect ({code}); configure the final URL", False
            ) from None
        retryable = code >= 500 or code in (408, 429)
        raise DeliveryError(f"{where} answered HTTP {code}", retryable) from None
    except urllib.error.URLError as exc:
        raise DeliveryError(f"cannot reach {where}: {exc.reason}", True) from None
    except TimeoutError:
        raise DeliveryError(f"{where} did not answer within {timeout:g} s", True) from None
    except (HTTPException, OSError) as exc:
        raise DeliveryError(f"connection to {where} failed: {exc!r}", True) from None


class WebhookChannel:
    """POSTs the notification as canonical JSON, signed with HMAC-SHA256 (``sign``)."""

    def __init__(
        self,
        url: str,
        secret: str | bytes,
        timeout: float = 10.0,
        *,
        name: str = "webhook",
        clock: Clock | None = None,
    ) -> None:
        if not secret:
            raise ValueError("a webhook needs a non-empty signing secret")
        self.url = check_url(url)
        self.secret = secret
        self.timeout = timeout
        self.name = name
        self.clock: Clock = clock or SystemClock()

    def send(self, n: Notification) -> None:
        body = canonical_body(n)
        timestamp = str(int(self.clock.now().timestamp()))
        headers = {
            "Content-Type": "application/json",
            "X-Clearance-Event": n.event,
            "X-Clearance-Delivery": n.id,
            "X-Clearance-Timestamp": timestamp,
            "X-Clearance-Signature": sign(self.secret, timestamp, body),
        }
        _post(self.url, body, headers, self.timeout)


class SlackChannel:
    """POSTs ``render_slack`` to a Slack (or Mattermost, ...) incoming-webhook URL."""

    def __init__(self, url: str, timeout: float = 10.0, *, name: str = "slack") -> None:
        self.url = check_url(url)
        self.timeout = timeout
        self.name = name

    def send(self, n: Notification) -> None:
        body = canonical_json(render_slack(n)).encode("utf-8")
        _post(self.url, body, {"Content-Type": "application/json"}, self.timeout)
