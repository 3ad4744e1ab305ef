"""Which channels a notice goes to, from EPIFEEDS_ALERT_* settings; channel ids never show secrets."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from epifeeds.alerts.channels import (
    AppriseChannel,
    BrokenChannel,
    EmailChannel,
    WebhookChannel,
    channels_for_target,
)
from epifeeds.alerts.routing import AlertConfigError, load_alert_config, parse_routes

pytestmark = pytest.mark.unit

ENV = {
    "EPIFEEDS_ALERT_WEBHOOK_URL": "http://127.0.0.1:9000/alerts",
    "EPIFEEDS_ALERT_EMAIL_TO": "duty@cdc.example",
    "EPIFEEDS_ALERT_ROUTES": (
        "district_reports:critical=slack://TokenA/TokenB/TokenC/#epi-duty;\n"
        "hotel_reports=jsons://hooks.example/hotels email:hotels@cdc.example\n"
        "airflow:error=http://127.0.0.1:9001/platform"
    ),
    "EPIFEEDS_ALERT_ESCALATION_ROUTE": "email:director@cdc.example",
    "EPIFEEDS_ALERT_SUPPRESSION_MINUTES": "90",
    "EPIFEEDS_ALERT_ESCALATE_AFTER_HOURS": "8",
}


def test_every_alert_goes_to_the_default_route_and_a_route_adds_its_feed_and_severity():
    config = load_alert_config(env=ENV)
    defaults = ["http://127.0.0.1:9000/alerts", "email:duty@cdc.example"]
    assert config.targets_for("district_reports", "error") == defaults
    assert config.targets_for("district_reports", "critical") == [
        *defaults,
        "slack://TokenA/TokenB/TokenC/#epi-duty",
    ]
    assert config.targets_for("hotel_reports", "error") == [
        *defaults, "jsons://hooks.example/hotels", "email:hotels@cdc.example",
    ]  # fmt: skip
    assert config.targets_for("hotel_reports", "warn") == defaults
    assert config.targets_for("airflow", "error") == [*defaults, "http://127.0.0.1:9001/platform"]
    assert config.targets_for("district_reports", "error", is_escalated=True) == [
        *defaults, "email:director@cdc.example",
    ]  # fmt: skip
    assert (config.suppression, config.escalate_after) == (timedelta(minutes=90), timedelta(hours=8))


def test_the_json_form_of_routes_means_the_same_as_the_line_form():
    line = parse_routes("district_reports:critical=slack://A/B/C email:a@x.org; *:error=http://h/x")
    as_json = parse_routes(
        json.dumps(
            [
                {
                    "feed": "district_reports",
                    "min_severity": "critical",
                    "targets": ["slack://A/B/C", "email:a@x.org"],
                },
                {"feed": "*", "min_severity": "error", "targets": "http://h/x"},
            ]
        )
    )
    assert line == as_json


@pytest.mark.parametrize(
    ("routes", "says"),
    [
        ("district_reports:urgent=http://h/x", "unknown severity 'urgent'"),
        ("just-a-url-without-feed", "is not '<feed|*>[:<min severity>]=<target>"),
        ("[{not json", "not valid JSON"),
    ],
)
def test_a_route_that_cannot_be_read_says_how_to_write_it(routes, says):
    with pytest.raises(AlertConfigError, match="EPIFEEDS_ALERT_ROUTES") as error:
        load_alert_config(env={"EPIFEEDS_ALERT_ROUTES": routes})
    assert says in str(error.value)


def test_nothing_configured_means_no_channel():
    assert load_alert_config(env={}).channels_for("district_reports", "critical", is_escalated=True) == []


def test_targets_become_the_right_kind_of_channel_and_their_ids_carry_no_secrets():
    config = load_alert_config(
        env={"EPIFEEDS_SMTP_HOST": "mail.cdc.example", "EPIFEEDS_SMTP_PASSWORD": "s3cret!"}
    )
    [webhook] = channels_for_target(
        "https://user:pw@hooks.example/services/T000/B000/XXXXsecret", config.smtp
    )
    [slack] = channels_for_target("slack://TokenA/TokenB/TokenCsecret/#epi", config.smtp)
    [email] = channels_for_target("email:a@cdc.example, b@cdc.example", config.smtp)
    [broken] = channels_for_target("duty@cdc.example", config.smtp)
    assert isinstance(webhook, WebhookChannel) and isinstance(slack, AppriseChannel)
    assert isinstance(email, EmailChannel) and email.recipients == ("a@cdc.example", "b@cdc.example")
    assert isinstance(broken, BrokenChannel) and "email:<addresses>" in broken.reason
    for channel in (webhook, slack, email):
        assert not {"pw", "XXXXsecret", "TokenCsecret", "s3cret!"} & set(
            channel.channel_id.replace("/", " ").split()
        )
        assert "secret" not in channel.channel_id
    assert webhook.channel_id.startswith("webhook https://hooks.example/services/…")
    assert email.channel_id == "email a@cdc.example,b@cdc.example via mail.cdc.example:25"


def test_airflow_connections_are_channels_too(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_EPI_ALERTS_SLACK",
        json.dumps(
            {
                "conn_type": "apprise",
                "extra": {"config": [{"path": "slack://A/B/C/#epi"}, {"path": "json://h/x"}]},
            }
        ),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_EPI_ALERTS_MAIL",
        json.dumps(
            {
                "conn_type": "smtp", "host": "mail.cdc.example", "port": 587, "login": "epi", "password": "pw-123",
                "extra": {"to": "duty@cdc.example", "from_email": "alerts@cdc.example", "disable_ssl": True},
            }
        ),
    )  # fmt: skip
    config = load_alert_config(
        env={"EPIFEEDS_ALERT_ROUTES": "*:error=conn:epi_alerts_slack conn:epi_alerts_mail"}
    )
    channels = config.channels_for("district_reports", "error")
    assert [type(c).__name__ for c in channels] == ["AppriseChannel", "AppriseChannel", "EmailChannel"]
    mail = channels[2]
    assert (mail.smtp.host, mail.smtp.port, mail.smtp.security, mail.smtp.sender) == (
        "mail.cdc.example", 587, "starttls", "alerts@cdc.example",
    )  # fmt: skip
    [missing] = load_alert_config(env={"EPIFEEDS_ALERT_WEBHOOK_URL": "conn:no_such_conn"}).channels_for(
        "x", "error"
    )
    assert isinstance(missing, BrokenChannel) and "no_such_conn" in missing.reason
