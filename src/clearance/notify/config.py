"""Which notification channels exist, and which notifications each one receives.

The workspace keeps this in ``.clearance/notifications.yaml`` (JSON works too)::

    channels:
      - name: risk-hooks
        type: webhook
        url: https://hooks.bank.example/clearance
        secret_env: CLEARANCE_WEBHOOK_SECRET   # the HMAC key, from the environment
        events: [gate_failed, non_compliant, rolled_back]   # default: every event
        models: ["credit-*"]                   # shell-style patterns; default: every model
        min_severity: warning                  # default: info (everything)
      - name: ml-team
        type: slack
        url_env: SLACK_WEBHOOK_URL             # Slack's URL is itself the credential
      - name: risk-office
        type: smtp
        host: smtp.bank.example
        port: 587
        starttls: true
        sender: clearance@bank.example
        recipients: [model-risk@bank.example]
        username: clearance
        password_env: CLEARANCE_SMTP_PASSWORD
    escalation:
      contacts: [risk-office]                  # channel names

Secrets never live in this file: it names environment variables, and
:func:`clearance.adapters.notify.build_channels` reads them when it builds the senders. A bad
file is reported like a bad policy: every problem with its file, line, column and field path
(``channels[1].url: ...``), and nothing is used.
"""

from __future__ import annotations

from email.utils import parseaddr
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from clearance.core.loading import pydantic_problems
from clearance.core.yamlsource import Positions, YamlProblems, format_path, parse_yaml
from clearance.errors import InputError, Location, Problem
from clearance.notify.channels import check_url
from clearance.notify.events import SEVERITIES, EventType, Notification, Severity

ChannelName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=64)]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class NotificationConfigError(InputError):
    """The notification configuration is invalid, or names a secret that is not set."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChannelSpec(_Spec):
    """What every channel has: a name, and the filter deciding what it receives."""

    name: ChannelName
    events: list[EventType] | None = None
    models: list[Annotated[str, Field(min_length=1)]] | None = None
    min_severity: Severity = "info"
    timeout: Annotated[float, Field(gt=0, le=300)] = 10.0

    def wants(self, n: Notification) -> bool:
        """Does this channel's filter accept ``n``?"""
        if self.events is not None and n.event not in self.events:
            return False
        if self.models is not None and not any(fnmatchcase(n.model, p) for p in self.models):
            return False
        return SEVERITIES.index(n.severity) >= SEVERITIES.index(self.min_severity)


class WebhookSpec(ChannelSpec):
    type: Literal["webhook"]
    url: str
    secret_env: EnvName

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        return check_url(value)


class SlackSpec(ChannelSpec):
    type: Literal["slack"]
    url_env: EnvName


class SmtpSpec(ChannelSpec):
    type: Literal["smtp"]
    host: Annotated[str, Field(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    starttls: bool = True
    sender: str
    recipients: Annotated[list[str], Field(min_length=1)]
    username: str | None = None
    password_env: EnvName | None = None

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        return _address(value)

    @field_validator("recipients")
    @classmethod
    def _recipients(cls, value: list[str]) -> list[str]:
        return [_address(v) for v in value]


def _address(value: str) -> str:
    _, address = parseaddr(value)
    if "@" not in address or any(c in value for c in "\r\n"):
        raise ValueError(f"not an e-mail address: {value!r}")
    return value


AnyChannelSpec = WebhookSpec | SlackSpec | SmtpSpec
_SPEC_TYPES: dict[str, type[AnyChannelSpec]] = {
    "webhook": WebhookSpec,
    "slack": SlackSpec,
    "smtp": SmtpSpec,
}


class Escalation(_Spec):
    """Who hears about an approval pending past its SLA: channel names."""

    contacts: list[ChannelName] = Field(default_factory=list)


class NotificationConfig(_Spec):
    channels: list[Annotated[AnyChannelSpec, Field(discriminator="type")]] = Field(
        default_factory=list
    )
    escalation: Escalation = Field(default_factory=Escalation)
    _positions: Positions = PrivateAttr(default_factory=lambda: Positions("<notifications>"))

    def channel(self, name: str) -> AnyChannelSpec:
        for spec in self.channels:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def problem(self, path: tuple[str | int, ...], message: str) -> Problem:
        """A problem at ``path`` (``("channels", 1, "url")``), located in the file read."""
        return _problem(self._positions, path, message)


class _Document(_Spec):
    """The file's shape before each channel is checked against the fields of its type."""

    channels: list[dict[str, Any]] = Field(default_factory=list)
    escalation: Escalation = Field(default_factory=Escalation)


def load_config(path: Path | str) -> NotificationConfig:
    """Read ``notifications.yaml``; raise ``NotificationConfigError`` with located problems."""
    file = Path(path)
    try:
        text = file.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise NotificationConfigError([Problem(Location(str(file)), "", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise NotificationConfigError(
            [Problem(Location(str(file)), "", f"cannot read: {exc}")]
        ) from None
    try:
        data, positions = parse_yaml(text, str(file))
    except YamlProblems as exc:
        raise NotificationConfigError(exc.problems) from None
    return parse_config(data, positions=positions)


def parse_config(
    data: Any, *, source: str = "<notifications>", positions: Positions | None = None
) -> NotificationConfig:
    """Validate an already-parsed mapping (from YAML, JSON, or code)."""
    positions = positions or Positions(source)
    if data is None:
        data = {}
    try:
        document = _Document.model_validate(data)
    except ValidationError as exc:
        raise NotificationConfigError(pydantic_problems(exc, positions)) from None
    problems: list[Problem] = []
    specs: list[AnyChannelSpec] = []
    for i, raw in enumerate(document.channels):
        spec = _channel_spec(i, raw, positions, problems)
        if spec is not None:
            specs.append(spec)
    if problems:
        raise NotificationConfigError(problems)
    problems += _cross_problems(specs, document.escalation, positions)
    if problems:
        raise NotificationConfigError(problems)
    config = NotificationConfig(channels=specs, escalation=document.escalation)
    config._positions = positions
    return config


def _problem(positions: Positions, path: tuple[str | int, ...], message: str) -> Problem:
    return Problem(positions.locate(path), format_path(path), message)


def _channel_spec(
    i: int, raw: dict[str, Any], positions: Positions, problems: list[Problem]
) -> AnyChannelSpec | None:
    kind = raw.get("type")
    if kind is None:
        problems.append(_problem(positions, ("channels", i), "type: required field is missing"))
        return None
    if kind not in _SPEC_TYPES:
        known = ", ".join(_SPEC_TYPES)
        problems.append(
            _problem(positions, ("channels", i, "type"), f"unknown type {kind!r}; known: {known}")
        )
        return None
    if kind == "slack" and "url" in raw:
        problems.append(
            _problem(
                positions,
                ("channels", i, "url"),
                "a Slack webhook URL is a credential: keep it in an environment variable "
                "and name the variable with url_env",
            )
        )
        return None
    try:
        return _SPEC_TYPES[kind].model_validate(raw)
    except ValidationError as exc:
        problems += pydantic_problems(exc, positions, ("channels", i))
        return None


def _cross_problems(
    specs: list[AnyChannelSpec], escalation: Escalation, positions: Positions
) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for i, spec in enumerate(specs):
        if spec.name in seen:
            problems.append(
                _problem(
                    positions, ("channels", i, "name"), f"duplicate channel name {spec.name!r}"
                )
            )
        seen.add(spec.name)
        if isinstance(spec, SmtpSpec) and (spec.username is None) != (spec.password_env is None):
            problems.append(
                _problem(
                    positions,
                    ("channels", i, "password_env" if spec.username else "username"),
                    "give both username and password_env, or neither",
                )
            )
    for j, name in enumerate(escalation.contacts):
        if name not in seen:
            problems.append(
                _problem(positions, ("escalation", "contacts", j), f"no channel is named {name!r}")
            )
    return problems


def route_names(config: NotificationConfig, n: Notification) -> list[str]:
    """The names of the channels that should receive ``n``, in configuration order.

    A channel receives ``n`` when its filter (events, models, min_severity) accepts it; an
    ``approval_escalated`` notification also goes to every escalation contact, whatever
    their filters say: escalation is the point of those contacts.
    """
    escalated = set(config.escalation.contacts) if n.event == "approval_escalated" else set()
    return [s.name for s in config.channels if s.name in escalated or s.wants(n)]
