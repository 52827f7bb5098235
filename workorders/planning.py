"""Plan a sub-task's data from the order's history.

The first attempt's data follows from the order; every later attempt's data is the
previous data revised by what the history says went wrong: a port or VLAN the NMS
refused is not chosen again, a profile name an OLT did not know is replaced by the
next name of that profile, a test server that gave a poor or no measurement is
replaced by another, and the expected speed is that of the profile actually
activated. Pure functions: the activities read the history and pass it in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from models.enums import AttemptOutcome
from models.payloads import ActivationData, Measures, QualityCheckData
from workorders.reference import Profile, Region


@dataclass(frozen=True)
class Occupancy:
    """What the inventory knows is not free: slots and VLANs other orders hold, and
    slots, ports and VLANs the NMS refused before (for any order)."""

    slots: frozenset[tuple[str, int, int]] = frozenset()
    ports: frozenset[tuple[str, int]] = frozenset()
    vlans: frozenset[tuple[str, int, int]] = frozenset()


@dataclass(frozen=True)
class PastAttempt:
    """One earlier attempt as the history holds it."""

    attempt: int
    data: dict[str, Any]
    outcome: AttemptOutcome
    error_code: str | None = None


def _spread(order_id: str, n: int) -> int:
    """A stable start index, so that orders spread over the resources."""
    return int.from_bytes(hashlib.sha256(order_id.encode()).digest()[:8], "big") % n


T = TypeVar("T")


def _rotated(items: Sequence[T], start: int) -> list[T]:
    return [*items[start:], *items[:start]]


def plan_activation(
    order_id: str,
    region: Region,
    profile: Profile,
    history: Sequence[PastAttempt],
    working_names: Mapping[str, str] | None = None,
    occupancy: Occupancy | None = None,
) -> ActivationData | None:
    """The activation data for the next attempt, or ``None`` when none is left to try.

    A terminal slot (OLT, PON port, ONT id) the NMS said was in use is not chosen
    again, nor any slot of a port it said was faulty; a VLAN it said was taken is not
    chosen again on that port; a profile name it did not know is not sent to that OLT
    again. When one OLT has refused every name, the next OLT's slots are tried.

    Args:
        working_names: per OLT, the NMS name of this profile that last worked there
            (for any order); tried first.
        occupancy: what the inventory says is taken or refused; never chosen.
    """
    taken = occupancy or Occupancy()
    failed = [a for a in history if a.outcome is AttemptOutcome.FAILED]
    used_slots = taken.slots | {
        (a.data["olt_id"], a.data["pon_port"], a.data["ont_id"])
        for a in failed
        if a.error_code == "ONT_ID_IN_USE"
    }
    faulty_ports = taken.ports | {
        (a.data["olt_id"], a.data["pon_port"]) for a in failed if a.error_code == "PORT_FAULTY"
    }
    taken_vlans = taken.vlans | {
        (a.data["olt_id"], a.data["pon_port"], a.data["vlan"])
        for a in failed
        if a.error_code == "VLAN_TAKEN"
    }
    unknown_names = {
        (a.data["olt_id"], a.data["nms_profile_name"])
        for a in failed
        if a.error_code == "UNKNOWN_PROFILE"
    }

    slots = [
        (olt.id, port, ont)
        for olt in region.olts
        for port in range(1, olt.pon_ports + 1)
        for ont in range(1, olt.onts_per_port + 1)
    ]
    low, high = region.vlan_range
    vlans = list(range(low, high + 1))
    if not slots or not vlans:
        return None
    vlans = _rotated(vlans, _spread(order_id, len(vlans)))
    for olt_id, pon_port, ont_id in _rotated(slots, _spread(order_id, len(slots))):
        if (olt_id, pon_port, ont_id) in used_slots or (olt_id, pon_port) in faulty_ports:
            continue
        vlan = next((v for v in vlans if (olt_id, pon_port, v) not in taken_vlans), None)
        names = profile.nms_names
        known = (working_names or {}).get(olt_id)
        if known in names:
            names = [known, *(n for n in names if n != known)]
        name = next((n for n in names if (olt_id, n) not in unknown_names), None)
        if vlan is not None and name is not None:
            return ActivationData(
                olt_id=olt_id,
                pon_port=pon_port,
                ont_id=ont_id,
                vlan=vlan,
                profile=profile.name,
                nms_profile_name=name,
            )
    return None


def activated_data(history: Sequence[PastAttempt]) -> ActivationData | None:
    """The data of the activation that succeeded, if one did."""
    for past in sorted(history, key=lambda a: a.attempt, reverse=True):
        if past.outcome is AttemptOutcome.SUCCEEDED:
            return ActivationData.model_validate(past.data)
    return None


def plan_quality_check(
    order_id: str,
    region: Region,
    activated: ActivationData,
    activated_profile: Profile,
    history: Sequence[PastAttempt],
) -> QualityCheckData:
    """The quality-check data for the next attempt.

    Test servers that failed before are tried last, the least recently failed first,
    so a congested server gets another chance only when every other one failed too.
    """
    last_failed: dict[str, int] = {}
    for past in history:
        if past.outcome is AttemptOutcome.FAILED:
            server = past.data["test_server"]
            last_failed[server] = max(last_failed.get(server, 0), past.attempt)
    servers = _rotated(region.test_servers, _spread(order_id, len(region.test_servers)))
    server = min(servers, key=lambda s: (s in last_failed, last_failed.get(s, 0)))
    return QualityCheckData(
        olt_id=activated.olt_id,
        pon_port=activated.pon_port,
        ont_id=activated.ont_id,
        profile=activated_profile.name,
        test_server=server,
        expected_download_mbps=activated_profile.download_mbps,
        expected_upload_mbps=activated_profile.upload_mbps,
    )


def evaluate(data: QualityCheckData, measures: Measures) -> tuple[str | None, str | None]:
    """Judge measures against the data's thresholds: ``(error_code, message)``, or Nones."""
    low_down = measures.download_mbps < data.expected_download_mbps * data.min_speed_ratio
    low_up = measures.upload_mbps < data.expected_upload_mbps * data.min_speed_ratio
    if low_down or low_up:
        return (
            "SPEED_BELOW_THRESHOLD",
            f"measured {measures.download_mbps}/{measures.upload_mbps} Mbps, expected"
            f" {data.expected_download_mbps}/{data.expected_upload_mbps} Mbps"
            f" at {data.min_speed_ratio:.0%}",
        )
    problems = [
        f"{label} {value} over {limit}"
        for label, value, limit in (
            ("latency_ms", measures.latency_ms, data.max_latency_ms),
            ("jitter_ms", measures.jitter_ms, data.max_jitter_ms),
            ("loss_pct", measures.loss_pct, data.max_loss_pct),
        )
        if value > limit
    ]
    if problems:
        return "QUALITY_BELOW_THRESHOLD", "; ".join(problems)
    return None, None
