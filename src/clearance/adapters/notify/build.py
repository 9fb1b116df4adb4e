"""Building the configured channels: the senders, with their secrets read from the environment.

``notifications.yaml`` (:mod:`clearance.notify.config`) names environment variables, never
secrets; they are read here, when a channel is built.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping

from clearance.adapters.notify.mail import SmtpChannel
from clearance.adapters.notify.webhooks import SlackChannel, WebhookChannel
from clearance.errors import Problem
from clearance.notify.channels import Channel
from clearance.notify.config import (
    AnyChannelSpec,
    NotificationConfig,
    NotificationConfigError,
    SlackSpec,
    WebhookSpec,
    route_names,
)
from clearance.notify.events import Notification
from clearance.service.ports import Clock


def _build(
    i: int,
    spec: AnyChannelSpec,
    env: Mapping[str, str],
    clock: Clock | None,
    config: NotificationConfig,
    problems: list[Problem],
) -> Channel | None:
    def secret(field: str, var: str) -> str | None:
        value = env.get(var, "")
        if not value:
            path = ("channels", i, field)
            problems.append(config.problem(path, f"environment variable {var} is not set"))
            return None
        return value

    if isinstance(spec, WebhookSpec):
        key = secret("secret_env", spec.secret_env)
        if key is None:
            return None
        return WebhookChannel(spec.url, key, spec.timeout, name=spec.name, clock=clock)
    if isinstance(spec, SlackSpec):
        url = secret("url_env", spec.url_env)
        if url is None:
            return None
        try:
            return SlackChannel(url, spec.timeout, name=spec.name)
        except ValueError as exc:
            path = ("channels", i, "url_env")
            problems.append(config.problem(path, f"{spec.url_env}: {exc}"))
            return None
    password = None
    if spec.password_env is not None:
        password = secret("password_env", spec.password_env)
        if password is None:
            return None
    return SmtpChannel(
        spec.host,
        spec.port,
        spec.sender,
        spec.recipients,
        starttls=spec.starttls,
        username=spec.username,
        password=password,
        timeout=spec.timeout,
        name=spec.name,
        clock=clock,
    )


def build_channels(
    config: NotificationConfig,
    env: Mapping[str, str] | None = None,
    *,
    clock: Clock | None = None,
    only: Collection[str] | None = None,
) -> dict[str, Channel]:
    """The configured channels (or ``only`` those named), by name, secrets read from ``env``.

    Raises ``NotificationConfigError`` naming each variable that is unset or empty.
    """
    env = os.environ if env is None else env
    problems: list[Problem] = []
    out: dict[str, Channel] = {}
    for i, spec in enumerate(config.channels):
        if only is not None and spec.name not in only:
            continue
        channel = _build(i, spec, env, clock, config, problems)
        if channel is not None:
            out[spec.name] = channel
    if problems:
        raise NotificationConfigError(problems)
    return out


def routes(
    config: NotificationConfig,
    n: Notification,
    env: Mapping[str, str] | None = None,
    *,
    clock: Clock | None = None,
) -> list[Channel]:
    """The channels that should receive ``n``, ready to send (see ``route_names``).

    Only those channels are built, so an unset secret of another channel does not matter.
    """
    names = route_names(config, n)
    channels = build_channels(config, env, clock=clock, only=names)
    return [channels[name] for name in names]


def usable_channels(
    config: NotificationConfig | None,
    env: Mapping[str, str] | None = None,
    *,
    clock: Clock | None = None,
) -> dict[str, Channel]:
    """Every channel that can be built; one with a missing secret is left out, and its
    deliveries are retried (and recorded as failing) until the secret is set."""
    out: dict[str, Channel] = {}
    if config is None:
        return out
    for spec in config.channels:
        try:
            out.update(build_channels(config, env, clock=clock, only=[spec.name]))
        except NotificationConfigError:
            continue
    return out
