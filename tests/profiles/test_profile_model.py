"""Profile parsing: the built-ins are valid, a printed profile parses back to itself,
and every bad profile is one message naming the profile, the key and what is wrong."""

from __future__ import annotations

import pytest

from probes.config import parse_settings
from probes.errors import ConfigError
from probes.profiles.registry import BUILTIN_NAMES, builtin, parse_text
from probes.profiles.render import as_table, to_toml
from probes.target.frames import CONTROL, FrameError
from probes.target.socketio import SocketIoCodec

MINIMAL = """name = "mine"
[chat]
send = ['{"type": "go", "id": "{request_id}"}']
[milestones]
done = ["finished"]
"""


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_a_builtin_printed_and_read_back_is_the_same_profile(name: str) -> None:
    profile = builtin(name)
    assert parse_text(to_toml(profile), origin="printed") == profile
    import tomli_w

    table = {k: v for k, v in as_table(profile).items() if k != "handshake" or v}
    assert parse_text(tomli_w.dumps(table), origin="rendered") == profile


BAD = [
    ("", "profile in t: name: required, a non-empty string"),
    ("colour = 1\n" + MINIMAL, "profile 'mine': colour: unknown key"),
    (
        MINIMAL.replace('done = ["finished"]', "done = []"),
        "profile 'mine': milestones.done: required",
    ),
    (MINIMAL + '[auth]\nmode = "cookie"\n', "profile 'mine': auth.mode: must be one of header"),
    (
        MINIMAL + '[auth]\ntoken = "vault:x"\n',
        'profile \'mine\': auth.token: must be "jwt" or "env:NAME"',
    ),
    (MINIMAL + '[auth]\nmode = "message"\n', "profile 'mine': auth.message: required when"),
    (
        MINIMAL + "[auth]\nrefused_close = [99]\n",
        "profile 'mine': auth.refused_close: must be a list of integers from 1000",
    ),
    (
        MINIMAL + '[events]\ntype_path = "a..b"\n',
        "profile 'mine': events.type_path: has an empty segment",
    ),
    (
        MINIMAL + '[completion]\norder = "at_least"\n',
        "profile 'mine': completion.min_counts: required when",
    ),
    (
        MINIMAL + "[isolation]\ncanary = true\n",
        "profile 'mine': isolation.canary: chat.send must carry {nonce}",
    ),
    (MINIMAL + '[[handshake]]\nsend = "{}"\n', "profile 'mine': handshake[0].expect: required"),
    (
        MINIMAL + '[[handshake]]\nexpect = ["a"]\ntimeout = "soon"\n',
        "profile 'mine': handshake[0].timeout: expected a duration",
    ),
    (
        MINIMAL + '[heartbeat]\nreply = [{ when_type = "ping" }]\n',
        "profile 'mine': heartbeat.reply[0].send: required",
    ),
    (
        MINIMAL.replace('"{request_id}"}', "{request_id}}"),
        "profile 'mine': chat.send[0]: not JSON once filled",
    ),
    (
        MINIMAL + '[milestones.done_ok]\npath = "status"\n',
        "profile 'mine': milestones.done_ok.in: required with done_ok.path",
    ),
    ('frame = "xml"\n' + MINIMAL, "profile 'mine': frame: must be one of json, socketio"),
]


@pytest.mark.parametrize(("text", "error"), BAD, ids=[e for _, e in BAD])
def test_a_bad_profile_names_the_profile_the_key_and_the_problem(text: str, error: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_text(text, origin="t")
    assert str(caught.value).startswith(error)


def in_config(profile: str) -> str:
    """A profile file's text as a ``[[profiles]]`` entry of a config."""
    return profile.replace("\n[", "\n[profiles.").replace("name =", "[[profiles]]\nname =", 1)


SHADOW = in_config(MINIMAL.replace('"mine"', '"agent-chat-v1"'))


def test_the_config_defines_and_names_profiles() -> None:
    table = in_config(MINIMAL)
    settings = parse_settings(table + '\n[[probes]]\nprofile = "mine"\n')
    assert settings.probes[0].profile.name == "mine"
    assert settings.profiles[0].milestones.done == ("finished",)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('[[probes]]\nprofile = "nope"\n', "probes[0].profile: profile 'nope': not a built-in"),
        ('[[probes]]\nprofile = "missing/file.toml"\n', "probes[0].profile: profile file"),
        (SHADOW, "profiles[0].name: 'agent-chat-v1' is already defined"),
        ('[[probes]]\nmemory = "snmp:x"\n', "probes[0].memory: must be healthz, prometheus:URL"),
    ],
)
def test_a_probe_naming_a_bad_profile_or_memory_source_is_a_config_error(
    text: str, error: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(text)
    assert str(caught.value).startswith(error)


@pytest.mark.parametrize(
    ("packet", "event"),
    [
        ('0{"sid":"a","pingInterval":25000}', CONTROL),
        ("6", CONTROL),
        ('40{"sid":"b"}', ["connect", {"sid": "b"}]),
        ('44{"message":"no"}', ["connect_error", {"message": "no"}]),
        ("41", ["disconnect"]),
        ('42["chat",{"a":1}]', ["chat", {"a": 1}]),
        ('4212["chat",1]', ["chat", 1]),
        ('42/,["chat"]', ["chat"]),
        ('4312["ok"]', ["ack", "ok"]),
    ],
)
def test_the_socketio_codec_turns_packets_into_events(packet: str, event: object) -> None:
    assert SocketIoCodec().decode(packet) == event


def test_the_socketio_codec_answers_pings_and_adds_its_transport_query() -> None:
    codec = SocketIoCodec()
    assert codec.decode("2") is CONTROL
    assert codec.outgoing == ["3"]
    assert codec.url("ws://h/socket.io/?x=1") == "ws://h/socket.io/?x=1&EIO=4&transport=websocket"
    assert codec.url("ws://h/s/?EIO=4&transport=websocket") == "ws://h/s/?EIO=4&transport=websocket"


@pytest.mark.parametrize(
    ("packet", "error"),
    [
        ("", "empty Engine.IO packet"),
        ("9", "not an Engine.IO packet"),
        ("42[oops", "Socket.IO packet is not JSON"),
        ('42/admin,["x"]', "packet for namespace /admin"),
        ("45-[]", "binary Socket.IO packet"),
        ("42{}", "Socket.IO EVENT without an event name"),
    ],
)
def test_the_socketio_codec_names_what_it_cannot_read(packet: str, error: str) -> None:
    with pytest.raises(FrameError, match=error):
        SocketIoCodec().decode(packet)


def test_the_schemas_defaults_written_out_are_a_valid_profile() -> None:
    """PROFILES.md's schema block, values as shown (a generated file writes every key)."""
    text = (
        MINIMAL
        + """[connect]
query = {}
headers = {}
subprotocols = []
expect_subprotocol = ""
[auth]
mode = "header"
token = "jwt"
header = "Authorization"
header_value = "Bearer {token}"
subprotocol = "bearer.{token}"
query_param = "access_token"
message = ''
refused_http = [401, 403]
refused_close = []
refused_events = []
[events]
type_path = "type"
type_from_keys = []
ignore = []
[completion]
order = "ordered"
required = []
min_counts = {}
seq_path = ""
[isolation]
user_path = ""
constant_paths = []
canary = false
[heartbeat]
ws_ping_interval = "off"
reply = []
[close]
normal = [1000]
"""
    )
    text = text.replace(
        'done = ["finished"]', 'done = ["finished"]\ndone_ok = { path = "", in = [] }'
    )
    profile = parse_text(text, origin="t")
    assert (profile.milestones.done_ok_path, profile.auth.modes) == ("", ("header",))


def test_a_profile_file_written_as_one_profiles_entry_is_read_as_that_entry() -> None:
    wrapped = in_config(MINIMAL)
    assert parse_text(wrapped, origin="t") == parse_text(MINIMAL, origin="t")
