"""``[[notify]]`` and the new ``[alerts]`` keys: defaults, and errors that name the key."""

from __future__ import annotations

import pytest

from probes.config import ConfigError, NotifySettings, parse_settings


def test_a_notify_target_gets_the_documented_defaults() -> None:
    (target,) = parse_settings(
        '[[notify]]\nname = "am"\nkind = "alertmanager"\nurl = "http://127.0.0.1:9093"\n'
    ).notify
    assert target == NotifySettings(
        "am", "alertmanager", "http://127.0.0.1:9093", True, 4 * 3600.0, 0, 0.0
    )
    alerts = parse_settings("").alerts
    assert (alerts.failure_threshold, alerts.success_threshold) == (2, 2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[notify]]\nkind = "webhook"\nurl = "http://x"', "notify[0].name: required"),
        (
            '[[notify]]\nname = "a"\nkind = "pager"\nurl = "http://x"',
            "notify[0].kind: must be one of",
        ),
        (
            '[[notify]]\nname = "a"\nkind = "webhook"\nurl = "ftp://x"',
            "notify[0].url: must be an http://",
        ),
        (
            '[[notify]]\nname = "a"\nkind = "webhook"\nurl = "https://h/x?token=abc"',
            "notify[0].url: a URL with credentials or a query must be env:NAME",
        ),
        (
            '[[notify]]\nname = "a"\nkind = "slack"\nurl = "https://hooks.slack.com/services/T/B/x"',
            "notify[0].url: a Slack webhook URL is a secret: use env:NAME",
        ),
        (
            '[[notify]]\nname = "a"\nkind = "webhook"\nurl = "env:1BAD"',
            "notify[0].url: must be env:NAME",
        ),
        (
            '[[notify]]\nname = "a"\nkind = "webhook"\nurl = "env:X"\nrepeat_interval = "soon"',
            "notify[0].repeat_interval",
        ),
        ("[alerts]\nfailure_threshold = 0", "alerts.failure_threshold: must be an integer from 1"),
    ],
)
def test_a_bad_notify_setting_names_its_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(text)
    assert str(caught.value).startswith(message)
    assert "abc" not in str(caught.value).replace('abc"', "")  # no secret echoed back
