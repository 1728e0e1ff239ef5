"""Every format of the report names each probe's protocol profile beside its target."""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import replace

from dashboard.report.pdf import pdf_bytes
from dashboard.report.render import build_report, render
from probes.results import ResultStore
from tests.report.conftest import HOUR, T0, TARGET, good_hour, save, settings

OTHER = "ws://127.0.0.1:9/graphql"


def _pdf_text(data: bytes) -> str:
    out = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.DOTALL):
        try:
            out.append(zlib.decompress(match.group(1)).decode("latin-1"))
        except zlib.error:
            continue
    return "\n".join(out)


def test_each_format_lists_the_probes_with_their_targets_and_profiles(store: ResultStore) -> None:
    rounds = good_hour("r")
    for i in (1, 3):  # two rounds of another probe, in another dialect
        sessions = tuple(
            replace(s, probe="gql", target=OTHER, profile="graphql-transport-ws")
            for s in rounds[i].sessions
        )
        rounds[i] = replace(rounds[i], probe="gql", target=OTHER, profile="graphql-transport-ws",
                            sessions=sessions)  # fmt: skip
    save(store, rounds)
    report = build_report(store, settings(), since=T0, until=T0 + HOUR, now=T0 + 2 * HOUR)
    md = render(report, "md").decode()
    section = md.split("## Probes")[1].split("\n## ")[0]
    assert "| probe | target | profile | rounds |" in section
    assert f"| default | {TARGET} | agent-chat-v1 | 4 |" in section.replace("\\", "")
    assert f"| gql | {OTHER} | graphql-transport-ws | 2 |" in section.replace("\\", "")
    page = render(report, "html").decode()
    assert page.index("<h2>Objectives") < page.index("<h2>Probes") < page.index("<h2>Charts")
    assert '<td>gql</td><td class="mono">ws://127.0.0.1:9/graphql</td>' in page
    assert "<td>graphql-transport-ws</td><td>2</td>" in page
    document = json.loads(render(report, "json"))
    assert document["probes"] == [
        {"probe": "default", "target": TARGET, "profile": "agent-chat-v1", "rounds": 4},
        {"probe": "gql", "target": OTHER, "profile": "graphql-transport-ws", "rounds": 2},
    ]
    text = _pdf_text(pdf_bytes(report, font=None))
    assert "(Probes) Tj" in text and "(graphql-transport-ws) Tj" in text
    assert "(agent-chat-v1) Tj" in text


def test_a_window_without_rounds_says_so_in_the_probes_section(store: ResultStore) -> None:
    report = build_report(store, settings(), since=T0, until=T0 + HOUR, now=T0 + 2 * HOUR)
    md = render(report, "md").decode()
    assert "## Probes\n\nNo round was recorded in this window." in md
    assert json.loads(render(report, "json"))["probes"] == []
