"""Channel configuration: validation names the field (and line), secrets come from the
environment, and routing sends each notification where it is wanted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clearance.adapters.clock import FixedClock
from clearance.adapters.notify import (
    SlackChannel,
    SmtpChannel,
    WebhookChannel,
    build_channels,
    routes,
)
from clearance.notify import (
    NotificationConfigError,
    load_config,
    parse_config,
    route_names,
    verify_signature,
)

from .conftest import START, HttpReceiver, gate_failed

GOOD = """\
channels:
  - name: risk-hooks
    type: webhook
    url: https://hooks.bank.example/clearance
    secret_env: CLEARANCE_WEBHOOK_SECRET
    events: [gate_failed, non_compliant, rolled_back]
    models: ["credit-*"]
  - name: ml-team
    type: slack
    url_env: SLACK_WEBHOOK_URL
    min_severity: warning
  - name: risk-office
    type: smtp
    host: smtp.bank.example
    sender: Clearance <clearance@bank.example>
    recipients: [model-risk@bank.example]
    username: clearance
    password_env: CLEARANCE_SMTP_PASSWORD
    events: [approval_requested]
escalation:
  contacts: [risk-office]
"""

ENV = {
    "CLEARANCE_WEBHOOK_SECRET": "whsec",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/XXXX",
    "CLEARANCE_SMTP_PASSWORD": "pw",
}


def _write(tmp_path: Path, text: str, name: str = "notifications.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(NotificationConfigError) as err:
        load_config(_write(tmp_path, text))
    return [str(p) for p in err.value.problems]


def test_good_config_loads(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, GOOD))
    assert [c.name for c in config.channels] == ["risk-hooks", "ml-team", "risk-office"]
    smtp = config.channel("risk-office")
    assert smtp.type == "smtp" and smtp.port == 587 and smtp.starttls
    assert config.escalation.contacts == ["risk-office"]
    channels = build_channels(config, ENV)
    assert isinstance(channels["risk-hooks"], WebhookChannel)
    assert isinstance(channels["ml-team"], SlackChannel)
    assert isinstance(channels["risk-office"], SmtpChannel)
    assert channels["risk-office"].password == "pw"


def test_json_config_and_empty_config(tmp_path: Path) -> None:
    data = {
        "channels": [
            {"name": "h", "type": "webhook", "url": "http://x.example/", "secret_env": "S"}
        ]
    }
    assert load_config(_write(tmp_path, json.dumps(data), "n.json")).channels[0].name == "h"
    assert parse_config(data).channels[0].name == "h"
    assert load_config(_write(tmp_path, "", "empty.yaml")).channels == []


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ("events: [gate_failed,", "events: [gate_exploded,"),
            ":6:14: error: channels[0].events[0]: ",
        ),
        (
            ("    url: https://hooks.bank.example/clearance\n", ""),
            ":2:5: error: channels[0].url: required field is missing",
        ),
        (
            ("url: https://hooks", "url: ftp://hooks"),
            "channels[0].url: a notification URL must be http(s)",
        ),
        (
            ("secret_env: CLEARANCE_WEBHOOK_SECRET", "secret: hunter2"),
            "channels[0].secret: unknown field",
        ),
        (
            ("type: slack", "type: pager"),
            "channels[1].type: unknown type 'pager'; known: webhook, slack, smtp",
        ),
        (("min_severity: warning", "min_severity: loud"), "channels[1].min_severity: "),
        (
            ("url_env: SLACK_WEBHOOK_URL", "url: https://hooks.slack.com/services/T/B/X"),
            "channels[1].url: a Slack webhook URL is a credential",
        ),
        (
            ("recipients: [model-risk@bank.example]", "recipients: [nobody]"),
            "channels[2].recipients: not an e-mail address: 'nobody'",
        ),
        (("recipients: [model-risk@bank.example]", "recipients: []"), "channels[2].recipients: "),
        (
            ("    password_env: CLEARANCE_SMTP_PASSWORD\n", ""),
            "channels[2].password_env: give both username and password_env",
        ),
        (
            ("contacts: [risk-office]", "contacts: [risk-offce]"),
            ":21:14: error: escalation.contacts[0]: no channel is named 'risk-offce'",
        ),
        (
            ("name: ml-team", "name: risk-hooks"),
            "channels[1].name: duplicate channel name 'risk-hooks'",
        ),
        (("name: ml-team", "name: 'ml team'"), "channels[1].name: "),
        (("escalation:", "escalations:"), "escalations: unknown field"),
    ],
)
def test_bad_config_names_the_field(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    old, new = edit
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    problems = _problems(tmp_path, text)
    assert any(expected in p for p in problems), problems
    assert all(p.startswith(str(tmp_path / "notifications.yaml")) for p in problems)


def test_missing_type_and_yaml_syntax(tmp_path: Path) -> None:
    assert any(
        "channels[0]: type: required field is missing" in p
        for p in _problems(tmp_path, "channels:\n  - name: x\n")
    )
    assert any("YAML syntax" in p for p in _problems(tmp_path, "channels: [\n"))
    with pytest.raises(NotificationConfigError, match="no such file"):
        load_config(tmp_path / "absent.yaml")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace("type: slack", "type: pager").replace(
        "recipients: [model-risk@bank.example]", "recipients: []"
    )
    problems = _problems(tmp_path, text)
    assert any("channels[1].type" in p for p in problems)
    assert any("channels[2].recipients" in p for p in problems)


def test_secrets_come_from_the_environment(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, GOOD))
    with pytest.raises(NotificationConfigError) as err:
        build_channels(config, {"SLACK_WEBHOOK_URL": ENV["SLACK_WEBHOOK_URL"]})
    text = str(err.value)
    assert (
        "channels[0].secret_env: environment variable CLEARANCE_WEBHOOK_SECRET is not set" in text
    )
    assert ":5:17:" in text  # the value of secret_env in the file
    assert "channels[2].password_env: environment variable CLEARANCE_SMTP_PASSWORD" in text
    assert "hunter" not in text
    bad_url = {**ENV, "SLACK_WEBHOOK_URL": "not a url"}
    with pytest.raises(NotificationConfigError, match=r"channels\[1\].url_env: SLACK_WEBHOOK_URL"):
        build_channels(config, bad_url)


def test_routing_by_event_model_and_severity(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, GOOD))
    assert route_names(config, gate_failed()) == ["risk-hooks", "ml-team"]
    assert route_names(config, gate_failed(model="fraud-detector")) == ["ml-team"]
    assert route_names(config, gate_failed(model="fraud-detector", severity="info")) == []
    assert route_names(config, gate_failed(event="approval_requested", severity="info")) == [
        "risk-office"
    ]
    assert route_names(config, gate_failed(event="promoted", severity="warning")) == ["ml-team"]


def test_escalation_reaches_the_contacts_whatever_their_filters(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, GOOD))
    escalated = gate_failed(event="approval_escalated", severity="warning")
    assert route_names(config, escalated) == ["ml-team", "risk-office"]
    assert route_names(config, escalated.model_copy(update={"severity": "info"})) == ["risk-office"]


def test_routes_builds_only_the_routed_channels(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, GOOD))
    only_slack = {"SLACK_WEBHOOK_URL": ENV["SLACK_WEBHOOK_URL"]}
    [channel] = routes(config, gate_failed(model="fraud-detector"), only_slack)
    assert channel.name == "ml-team"


def test_configured_webhook_delivers_to_a_real_receiver(
    tmp_path: Path, http_receiver: HttpReceiver, clock: FixedClock
) -> None:
    text = f"""
channels:
  - name: hooks
    type: webhook
    url: {http_receiver.url}
    secret_env: HOOK_SECRET
    timeout: 5
"""
    config = load_config(_write(tmp_path, text))
    for channel in routes(config, gate_failed(), {"HOOK_SECRET": "from-env"}, clock=clock):
        channel.send(gate_failed())
    [got] = http_receiver.requests
    ts, sig = got.headers["x-clearance-timestamp"], got.headers["x-clearance-signature"]
    assert verify_signature("from-env", ts, got.body, sig, now=START)
