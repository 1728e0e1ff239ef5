"""The objectives as OpenSLO v1 ``SLO`` documents and as a Sloth ``prometheus/v1`` spec.

``to_openslo`` writes one ``SLO`` per ``[[slo]]``: a ratio metric of counted
occurrences (``budgetingMethod: Occurrences``) over a rolling window, the
target as ``targetPercent``, and our SLI, threshold, DB operation and probe under
``metricSource.spec`` (``type: slawatch``). ``from_openslo`` reads such
documents back into ``[[slo]]`` TOML; the round trip is lossless. What the
settings cannot express (calendar windows, ``Timeslices``, months or other
variable units, several objectives or windows, another metric source) is refused
with ``UnrepresentableSlo``, naming the document and field. ``to_sloth`` writes a
Sloth spec over the ``slawatch_slo_*_events_total`` counters of ``/metrics``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import yaml

from probes.config import SLIS, SloSettings, parse_settings
from probes.errors import UnrepresentableSlo

SOURCE = "slawatch"
_UNITS = (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60))
_SPEC_KEYS = ("sli", "threshold_ms", "threshold_mb", "operation", "probe")


def duration_text(seconds: float, what: str) -> str:
    """Whole minutes, hours, days or weeks (OpenSLO's fixed units); else refused."""
    for unit, size in _UNITS[1:]:  # days, not weeks: "28d", "7d", as SLOs are usually written
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    raise UnrepresentableSlo(f"{what}: {seconds:g}s is not a whole number of minutes")


def _source(slo: SloSettings, events: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"sli": slo.sli, "events": events}
    for key in _SPEC_KEYS[1:]:
        if (value := getattr(slo, key)) is not None:
            spec[key] = value
    return {"metricSource": {"type": SOURCE, "spec": spec}}


def to_openslo(slos: Sequence[SloSettings], service: str = "slawatch") -> str:
    """Every objective as an OpenSLO v1 ``SLO`` document, as one YAML stream."""
    docs = []
    for slo in slos:
        window = duration_text(slo.window_s, f"slo {slo.name!r}: window")
        docs.append(
            {
                "apiVersion": "openslo/v1",
                "kind": "SLO",
                "metadata": {"name": slo.name},
                "spec": {
                    "service": service,
                    "indicator": {
                        "metadata": {"name": f"{slo.name}-sli"},
                        "spec": {
                            "ratioMetric": {
                                "counter": True,
                                "good": _source(slo, "good"),
                                "total": _source(slo, "valid"),
                            }
                        },
                    },
                    "timeWindow": [{"duration": window, "isRolling": True}],
                    "budgetingMethod": "Occurrences",
                    "objectives": [{"displayName": slo.name, "targetPercent": slo.objective}],
                },
            }
        )
    return yaml.safe_dump_all(docs, sort_keys=False)


def _get(doc: Any, path: str, where: str) -> Any:
    node = doc
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise UnrepresentableSlo(f"{where}: {path} is missing")
        node = node[part]
    return node


def _one(items: Any, path: str, where: str) -> dict[str, Any]:
    if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
        raise UnrepresentableSlo(f"{where}: {path} must hold exactly one entry")
    return items[0]


def _objective_of(doc: Any, where: str) -> dict[str, Any]:
    """One SLO document -> the ``[[slo]]`` keys, or ``UnrepresentableSlo`` naming the field."""
    if _get(doc, "apiVersion", where) != "openslo/v1" or _get(doc, "kind", where) != "SLO":
        raise UnrepresentableSlo(f"{where}: only apiVersion openslo/v1, kind SLO is read")
    spec = _get(doc, "spec", where)
    if _get(spec, "budgetingMethod", where) != "Occurrences":
        raise UnrepresentableSlo(
            f"{where}: spec.budgetingMethod {spec['budgetingMethod']!r}: only Occurrences"
        )
    window = _one(_get(spec, "timeWindow", where), "spec.timeWindow", where)
    if window.get("isRolling") is not True or "calendar" in window:
        raise UnrepresentableSlo(f"{where}: spec.timeWindow: only rolling windows")
    duration = str(window.get("duration", ""))
    unit = duration[-1:]
    if unit not in {u for u, _ in _UNITS} or not duration[:-1].isdigit():
        raise UnrepresentableSlo(
            f"{where}: spec.timeWindow.duration {duration!r}: only whole m, h, d or w"
        )
    objective = _one(_get(spec, "objectives", where), "spec.objectives", where)
    if "targetPercent" in objective:
        target = float(objective["targetPercent"])
    elif "target" in objective:
        target = float(objective["target"]) * 100
    else:
        raise UnrepresentableSlo(f"{where}: spec.objectives[0] has no targetPercent")
    ratio = _get(spec, "indicator.spec.ratioMetric", where)
    good = _get(ratio, "good.metricSource", where)
    if good.get("type") != SOURCE:
        raise UnrepresentableSlo(f"{where}: metricSource.type {good.get('type')!r}: only slawatch")
    source = dict(good.get("spec") or {})
    if source.get("sli") not in SLIS:
        raise UnrepresentableSlo(f"{where}: metricSource.spec.sli {source.get('sli')!r} unknown")
    out: dict[str, Any] = {
        "name": _get(doc, "metadata.name", where),
        "sli": source["sli"],
        "objective": target,
        "window": duration,
    }
    for key in _SPEC_KEYS[1:]:
        if key in source:
            out[key] = source[key]
    return out


def from_openslo(text: str) -> str:
    """OpenSLO v1 ``SLO`` documents -> ``[[slo]]`` TOML text (validated by the settings)."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise UnrepresentableSlo(f"not valid YAML: {exc}") from None
    tables = []
    for i, doc in enumerate(docs):
        values = _objective_of(doc, f"document {i + 1}")
        lines = ["[[slo]]"] + [f"{k} = {_toml(v)}" for k, v in values.items()]
        tables.append("\n".join(lines))
    toml = "\n\n".join(tables) + "\n"
    parse_settings(toml)  # the settings' own checks (ConfigError naming the key)
    return toml


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(float(value)) if isinstance(value, float) else str(value)
    return json.dumps(str(value))  # a TOML basic string: JSON's escapes are TOML's


def to_sloth(slos: Sequence[SloSettings], service: str = "slawatch") -> str:
    """A Sloth ``prometheus/v1`` spec over slawatch's SLO event counters."""
    out = []
    for slo in slos:
        sel = f'slo="{slo.name}"'
        total = f"sum(rate(slawatch_slo_valid_events_total{{{sel}}}[{{{{.window}}}}]))"
        good = f"sum(rate(slawatch_slo_good_events_total{{{sel}}}[{{{{.window}}}}]))"
        out.append(
            {
                "name": slo.name,
                "objective": slo.objective,
                "description": f"{slo.sli} {slo.threshold_text}".strip(),
                "sli": {"events": {"error_query": f"({total} - {good})", "total_query": total}},
                "alerting": {
                    "name": f"Slawatch{''.join(p.title() for p in slo.name.split('-'))}",
                    "page_alert": {"labels": {"severity": "page"}},
                    "ticket_alert": {"labels": {"severity": "ticket"}},
                },
            }
        )
    spec = {"version": "prometheus/v1", "service": service, "slos": out}
    return yaml.safe_dump(spec, sort_keys=False)
