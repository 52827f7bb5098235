"""Activities against the real work-order database (SQLite and PostgreSQL) and the NMS
simulator, run in Temporal's ActivityEnvironment."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.orders import QUALITY_CHECK_WAITS
from models.enums import AttemptOutcome, JobState, OrderStatus, SubTaskKind, SubTaskStatus
from models.payloads import (
    ActivationData,
    ActivationInput,
    AssignTechnicianInput,
    CancellationInput,
    CancelOrder,
    ConstructionInput,
    ConstructionReport,
    DeactivateResourcesInput,
    DeactivateResourcesResult,
    QualityCheckInput,
    ReleaseConstructionInput,
    WithdrawConstructionInput,
    WorkOrderInput,
)
from models.status import decide_cancelled_status
from models.tables import Technician, WorkOrder
from tests.factories import (
    activation_activities,
    activations,
    construction_activities,
    deactivations,
    held_by,
    new_order,
    order_activities,
    quality_activities,
    quiet_simulator,
)
from workorders.nms import ActivationRequest, NmsSimulator
from workorders.planning import plan_activation
from workorders.reference import Regions, load_catalog, load_regions
from workorders.store import Stores

REGIONS, CATALOG = load_regions(), load_catalog()


simulator = quiet_simulator


orders = order_activities
activation = activation_activities


async def started_order(stores: Stores) -> WorkOrder:
    order, _ = await stores.orders.create_order(new_order())
    await ActivityEnvironment().run(
        orders(stores).start_order,
        WorkOrderInput(order_id=order.id),
    )
    return order


async def test_start_order_returns_the_plan(stores: Stores) -> None:
    order, _ = await stores.orders.create_order(new_order())
    plan = await ActivityEnvironment().run(
        orders(stores).start_order,
        WorkOrderInput(order_id=order.id),
    )
    assert (plan.region, plan.profile) == ("north", "FTTH_300_100")
    assert (await stores.orders.get_order(order.id)).status is OrderStatus.IN_PROGRESS
    tasks = {t.kind: t for t in await stores.orders.get_sub_tasks(order.id)}
    assert tasks[SubTaskKind.CONSTRUCTION].status is SubTaskStatus.PENDING
    assert tasks[SubTaskKind.ACTIVATION].status is SubTaskStatus.PENDING
    quality = tasks[SubTaskKind.QUALITY_CHECK]
    assert (quality.status, quality.detail) == (SubTaskStatus.IN_PROGRESS, QUALITY_CHECK_WAITS)


async def test_unknown_order_is_not_retryable(stores: Stores) -> None:
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(
            orders(stores).start_order,
            WorkOrderInput(order_id="missing"),
        )
    assert raised.value.type == "OrderNotFound"
    assert raised.value.non_retryable


async def test_activation_revises_a_refused_slot_from_history(stores: Stores) -> None:
    nms = simulator()
    order = await started_order(stores)
    # Another customer already holds the terminal slot the first plan picks.
    first = plan_activation(order.id, REGIONS.get("north"), CATALOG.profiles[order.profile], [])
    assert first is not None
    await nms.activate(
        ActivationRequest(
            idempotency_key="other",
            order_id="someone-else",
            olt_id=first.olt_id,
            pon_port=first.pon_port,
            ont_id=first.ont_id,
            vlan=first.vlan + 1 if first.vlan < 199 else first.vlan - 1,
            profile_name=first.nms_profile_name,
        )
    )
    activities = activation(stores, nms)

    refused = await ActivityEnvironment().run(
        activities.activate_resources, ActivationInput(order_id=order.id, attempt=1)
    )
    assert not refused.succeeded
    assert refused.revisable
    assert refused.error_code == "ONT_ID_IN_USE"
    assert refused.data == first

    activated = await ActivityEnvironment().run(
        activities.activate_resources, ActivationInput(order_id=order.id, attempt=2)
    )
    assert activated.succeeded
    assert activated.data is not None
    slot = (activated.data.olt_id, activated.data.pon_port, activated.data.ont_id)
    assert slot != (first.olt_id, first.pon_port, first.ont_id)
    assert activations(nms, order.id) == 1

    attempts = await stores.attempts.attempts(order.id, SubTaskKind.ACTIVATION)
    assert [(a.attempt, a.outcome, a.error_code) for a in attempts] == [
        (1, AttemptOutcome.FAILED, "ONT_ID_IN_USE"),
        (2, AttemptOutcome.SUCCEEDED, None),
    ]


async def test_a_slot_refused_for_one_order_is_offered_to_no_other(stores: Stores) -> None:
    nms = simulator()
    first = await started_order(stores)
    north = ["olt-north-01", "olt-north-02"]
    taken = await stores.inventory.occupancy(north, first.id)
    planned = plan_activation(
        first.id, REGIONS.get("north"), CATALOG.profiles[first.profile], [], occupancy=taken
    )
    assert planned is not None
    # Someone the inventory does not know uses that slot.
    await nms.activate(
        ActivationRequest(
            idempotency_key=f"outsider-{uuid.uuid4()}",
            order_id=f"outsider-{uuid.uuid4()}",
            olt_id=planned.olt_id,
            pon_port=planned.pon_port,
            ont_id=planned.ont_id,
            vlan=planned.vlan + 1 if planned.vlan < 199 else planned.vlan - 1,
            profile_name=planned.nms_profile_name,
        )
    )
    refused = await ActivityEnvironment().run(
        activation(stores, nms).activate_resources, ActivationInput(order_id=first.id, attempt=1)
    )
    assert refused.data is not None
    assert (refused.data.olt_id, refused.data.ont_id) == (planned.olt_id, planned.ont_id)
    assert refused.error_code == "ONT_ID_IN_USE"
    learned = await stores.inventory.occupancy(north, "anyone")
    assert (planned.olt_id, planned.pon_port, planned.ont_id) in learned.slots


async def test_activation_holds_its_resources_and_keeps_them_once_active(
    stores: Stores,
) -> None:
    order = await started_order(stores)
    result = await ActivityEnvironment().run(
        activation(stores, simulator()).activate_resources,
        ActivationInput(order_id=order.id, attempt=1),
    )
    assert result.succeeded and result.data is not None
    (held,) = await held_by(stores.db, order.id)
    assert (held.olt_id, held.pon_port, held.ont_id, held.vlan, held.state) == (
        result.data.olt_id,
        result.data.pon_port,
        result.data.ont_id,
        result.data.vlan,
        "active",
    )


async def test_activation_retried_by_temporal_reuses_data_and_activates_once(
    stores: Stores,
) -> None:
    nms = simulator(outage_rate=1.0)
    order = await started_order(stores)
    activities = activation(stores, nms)
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(
            activities.activate_resources, ActivationInput(order_id=order.id, attempt=1)
        )
    assert raised.value.type == "NmsUnavailable"
    assert not raised.value.non_retryable
    (pending,) = await stores.attempts.attempts(order.id, SubTaskKind.ACTIVATION)
    assert pending.outcome is AttemptOutcome.PENDING

    healthy = activation(stores, simulator())
    for _ in range(2):  # the retry, and a duplicate of it
        result = await ActivityEnvironment().run(
            healthy.activate_resources, ActivationInput(order_id=order.id, attempt=1)
        )
        assert result.succeeded
        assert result.data is not None
        assert result.data.model_dump() == pending.data
    (done,) = await stores.attempts.attempts(order.id, SubTaskKind.ACTIVATION)
    assert done.outcome is AttemptOutcome.SUCCEEDED


async def test_legacy_olt_gets_the_legacy_profile_name_next(stores: Stores) -> None:
    nms = simulator(legacy_olt_rate=1.0)
    order = await started_order(stores)
    activities = activation(stores, nms)
    refused = await ActivityEnvironment().run(
        activities.activate_resources, ActivationInput(order_id=order.id, attempt=1)
    )
    assert refused.error_code == "UNKNOWN_PROFILE"
    activated = await ActivityEnvironment().run(
        activities.activate_resources, ActivationInput(order_id=order.id, attempt=2)
    )
    assert activated.succeeded
    assert activated.data is not None
    assert activated.data.nms_profile_name == CATALOG.profiles[order.profile].nms_names[-1]


async def test_a_legacy_olt_gets_the_name_that_worked_there_for_another_order(
    stores: Stores,
) -> None:
    nms = simulator(legacy_olt_rate=1.0)
    activities = activation(stores, nms)
    first = await started_order(stores)
    done = await ActivityEnvironment().run(
        activities.activate_resources, ActivationInput(order_id=first.id, attempt=1)
    )
    if not done.succeeded:  # the new name, unknown to the old firmware
        assert done.error_code == "UNKNOWN_PROFILE"
        done = await ActivityEnvironment().run(
            activities.activate_resources, ActivationInput(order_id=first.id, attempt=2)
        )
    assert done.succeeded and done.data is not None
    legacy = done.data.nms_profile_name
    # Every later order of that profile on that OLT starts with the name that worked.
    for _ in range(10):
        order = await started_order(stores)
        result = await ActivityEnvironment().run(
            activities.activate_resources, ActivationInput(order_id=order.id, attempt=1)
        )
        assert result.data is not None
        if result.data.olt_id == done.data.olt_id:
            assert result.succeeded
            assert result.data.nms_profile_name == legacy
            return
    pytest.fail("no later order landed on the same OLT")


async def test_quality_check_before_activation_is_not_retryable(stores: Stores) -> None:
    order = await started_order(stores)
    activities = quality_activities(stores, simulator())
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(
            activities.run_quality_check, QualityCheckInput(order_id=order.id, attempt=1)
        )
    assert raised.value.type == "NotActivated"


async def test_quality_check_measures_the_activated_line(stores: Stores) -> None:
    nms = simulator()
    order = await started_order(stores)
    await ActivityEnvironment().run(
        activation(stores, nms).activate_resources,
        ActivationInput(order_id=order.id, attempt=1),
    )
    activities = quality_activities(stores, nms)
    result = await ActivityEnvironment().run(
        activities.run_quality_check, QualityCheckInput(order_id=order.id, attempt=1)
    )
    assert result.succeeded, result.message
    assert result.measures is not None and result.data is not None
    assert result.data.expected_download_mbps == 300
    assert 0.9 * 300 <= result.measures.download_mbps <= 300
    task = {t.kind: t for t in await stores.orders.get_sub_tasks(order.id)}[
        SubTaskKind.QUALITY_CHECK
    ]
    assert task.status is SubTaskStatus.SUCCEEDED
    assert task.result is not None and "measures" in task.result


async def test_congested_test_server_is_replaced_on_the_next_attempt(
    stores: Stores, tmp_path: Path
) -> None:
    # Two simulators over one state file: the same NMS, congested and then not.
    state = tmp_path / "nms.db"
    nms, congested = simulator(state), simulator(state, congested_server_rate=1.0)
    order = await started_order(stores)
    await ActivityEnvironment().run(
        activation(stores, nms).activate_resources,
        ActivationInput(order_id=order.id, attempt=1),
    )
    poor = await ActivityEnvironment().run(
        quality_activities(stores, congested).run_quality_check,
        QualityCheckInput(order_id=order.id, attempt=1),
    )
    assert poor.error_code == "SPEED_BELOW_THRESHOLD"
    assert poor.revisable
    good = await ActivityEnvironment().run(
        quality_activities(stores, nms).run_quality_check,
        QualityCheckInput(order_id=order.id, attempt=2),
    )
    assert good.succeeded
    assert poor.data is not None and good.data is not None
    assert good.data.test_server != poor.data.test_server


async def test_construction_is_dispatched_in_the_region_and_reports_recorded(
    stores: Stores,
) -> None:
    order = await started_order(stores)
    activities = construction_activities(stores)
    assignment = await ActivityEnvironment().run(
        activities.dispatch_construction, ConstructionInput(order_id=order.id)
    )
    assert assignment.technician_id in {
        t.id for t in await stores.technicians.list_technicians("north")
    }
    report = ConstructionReport(technician_id=assignment.technician_id, state=JobState.ACCEPTED)
    await stores.reports.record_report(order.id, report)  # as the API records it
    task = {t.kind: t for t in await stores.orders.get_sub_tasks(order.id)}[
        SubTaskKind.CONSTRUCTION
    ]
    assert task.job_state is JobState.ACCEPTED
    assert task.due_at is not None  # the region's time limit, from start_order


async def test_a_region_without_such_technicians_cannot_wait(stores: Stores) -> None:
    order = await started_order(stores)
    everyone = [t.id for t in await stores.technicians.list_technicians("north")]
    activities = construction_activities(stores)
    assignment = await ActivityEnvironment().run(
        activities.dispatch_construction, ConstructionInput(order_id=order.id, excluded=everyone)
    )
    assert assignment.technician_id is None
    assert not assignment.can_wait
    assert assignment.reason == "region north has no other active fibre technician"


async def test_freeing_a_technician_wakes_the_longest_waiting_order(
    stores: Stores,
) -> None:
    woken: list[str] = []

    async def wake(workflow_id: str) -> None:
        woken.append(workflow_id)

    region = f"r-{uuid.uuid4().hex[:8]}"
    regions = Regions([*REGIONS, REGIONS.get("north").model_copy(update={"code": region})])
    await stores.technicians.add_technician(
        Technician(id=f"{region}-a", name="A", regions=[region], skills=["fibre"], max_open_jobs=1)
    )
    placed = []
    for _ in range(2):
        order, _ = await stores.orders.create_order(new_order(region=region))
        await ActivityEnvironment().run(
            orders(stores, regions).start_order,
            WorkOrderInput(order_id=order.id),
        )
        placed.append(order)
    activities = construction_activities(stores, wake)
    first = await ActivityEnvironment().run(
        activities.dispatch_construction, ConstructionInput(order_id=placed[0].id)
    )
    queued = await ActivityEnvironment().run(
        activities.dispatch_construction, ConstructionInput(order_id=placed[1].id)
    )
    assert first.technician_id == f"{region}-a"
    assert queued.can_wait
    assert queued.reason == f"waiting for a free fibre technician in region {region}"

    escalated = await ActivityEnvironment().run(
        activities.dispatch_construction, ConstructionInput(order_id=placed[1].id, escalated=True)
    )
    assert not escalated.can_wait

    await ActivityEnvironment().run(
        activities.release_construction,
        ReleaseConstructionInput(order_id=placed[0].id, reason="declined"),
    )
    assert woken == [placed[1].workflow_id]


async def test_assignment_by_hand_refuses_with_a_reason(stores: Stores) -> None:
    order = await started_order(stores)
    activities = construction_activities(stores)
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(
            activities.assign_technician_by_hand,
            AssignTechnicianInput(order_id=order.id, technician_id="tech-east-1"),
        )
    assert raised.value.type == "TECHNICIAN_UNAVAILABLE"
    assert raised.value.non_retryable
    assert "does not work in region north" in raised.value.message


# Cancellation --------------------------------------------------------------------


async def activated_order(stores: Stores, nms: NmsSimulator) -> tuple[WorkOrder, int]:
    """A started order whose first activation attempt succeeded."""
    order = await started_order(stores)
    result = await ActivityEnvironment().run(
        activation(stores, nms).activate_resources, ActivationInput(order_id=order.id, attempt=1)
    )
    assert result.succeeded
    return order, 1


async def deactivate(
    stores: Stores, nms: NmsSimulator, order: WorkOrder, attempts: list[int]
) -> DeactivateResourcesResult:
    return await ActivityEnvironment().run(
        activation(stores, nms).deactivate_resources,
        DeactivateResourcesInput(order_id=order.id, attempts=attempts),
    )


async def test_deactivation_ends_the_service_once_and_gives_the_inventory_back(
    stores: Stores,
) -> None:
    nms = simulator()
    order, attempt = await activated_order(stores, nms)
    (held,) = await held_by(stores.db, order.id)
    assert held.state == "active"

    first = await deactivate(stores, nms, order, [attempt])
    again = await deactivate(stores, nms, order, [attempt])  # Temporal ran it again

    assert first.slots == again.slots
    (slot,) = first.slots
    assert slot.succeeded and slot.attempts == [attempt]
    assert (slot.olt_id, slot.pon_port, slot.ont_id) == (held.olt_id, held.pon_port, held.ont_id)
    assert first.released == 1
    assert deactivations(nms, order.id) == 1
    assert await held_by(stores.db, order.id) == []
    events = [
        e for e in await stores.orders.timeline(order.id) if e.kind.startswith("deactivation.")
    ]
    assert [(e.kind, e.actor) for e in events] == [("deactivation.completed", "nms")]
    assert events[0].detail is not None
    assert events[0].detail["idempotency_key"] == (
        f"{order.id}/deactivation/{held.olt_id}/{held.pon_port}/{held.ont_id}"
    )


async def test_an_unanswered_attempt_is_deactivated_and_a_refused_one_is_not(
    stores: Stores, tmp_path: Path
) -> None:
    # Two simulators over one state file: the same NMS, unreachable and then not.
    state = tmp_path / "nms.db"
    nms, down = simulator(state), simulator(state, outage_rate=1.0)
    order = await started_order(stores)
    with pytest.raises(ApplicationError):
        await ActivityEnvironment().run(
            activation(stores, down).activate_resources,
            ActivationInput(order_id=order.id, attempt=1),
        )
    (pending,) = await stores.attempts.attempts(order.id, SubTaskKind.ACTIVATION)
    assert pending.outcome is AttemptOutcome.PENDING
    elsewhere = ActivationData.model_validate(pending.data).model_copy(update={"ont_id": 99})
    await stores.attempts.begin_attempt(order.id, SubTaskKind.ACTIVATION, 2, lambda _: elsewhere)
    await stores.attempts.finish_attempt(
        order.id,
        SubTaskKind.ACTIVATION,
        2,
        succeeded=False,
        result={"state": "failed"},
        error_code="ONT_ID_IN_USE",
    )

    result = await deactivate(stores, nms, order, [1, 2, 3])  # 3: never begun

    (slot,) = result.slots
    assert slot.attempts == [1]  # not the refused attempt 2
    assert slot.succeeded  # nothing was active: nothing to do
    assert slot.message is not None and "nothing to deactivate" in slot.message
    assert deactivations(nms, order.id) == 0
    assert await held_by(stores.db, order.id) == []


async def test_a_slot_someone_else_holds_is_refused_and_blocked(
    stores: Stores, tmp_path: Path
) -> None:
    state = tmp_path / "nms.db"
    nms, down = simulator(state), simulator(state, outage_rate=1.0)
    order = await started_order(stores)
    with pytest.raises(ApplicationError):  # the attempt goes unanswered
        await ActivityEnvironment().run(
            activation(stores, down).activate_resources,
            ActivationInput(order_id=order.id, attempt=1),
        )
    (pending,) = await stores.attempts.attempts(order.id, SubTaskKind.ACTIVATION)
    planned = ActivationData.model_validate(pending.data)
    await nms.activate(  # meanwhile someone the inventory does not know took the slot
        ActivationRequest(
            idempotency_key=f"outsider-{uuid.uuid4()}",
            order_id=f"outsider-{uuid.uuid4()}",
            olt_id=planned.olt_id,
            pon_port=planned.pon_port,
            ont_id=planned.ont_id,
            vlan=planned.vlan + 1 if planned.vlan < 199 else planned.vlan - 1,
            profile_name=planned.nms_profile_name,
        )
    )

    result = await deactivate(stores, nms, order, [1])

    (slot,) = result.refused
    assert slot.error_code == "NOT_OWNER"
    assert [e.kind for e in await stores.orders.timeline(order.id)][-1] == "deactivation.failed"
    assert await held_by(stores.db, order.id) == []
    taken = await stores.inventory.occupancy([planned.olt_id], "anyone")
    assert (planned.olt_id, planned.pon_port, planned.ont_id) in taken.slots
    assert decide_cancelled_status(CancelOrder(actor="ops:a", reason="moved"), result).reason == (
        f"cancelled by ops:a: moved; deactivation refused: {slot.slot} NOT_OWNER: {slot.message}"
    )


async def test_an_unreachable_nms_is_retried_for_the_deactivation(
    stores: Stores, tmp_path: Path
) -> None:
    state = tmp_path / "nms.db"
    nms, down = simulator(state), simulator(state, outage_rate=1.0)
    order, attempt = await activated_order(stores, nms)
    with pytest.raises(ApplicationError) as raised:
        await deactivate(stores, down, order, [attempt])
    assert raised.value.type == "NmsUnavailable"
    assert not raised.value.non_retryable
    assert len(await held_by(stores.db, order.id)) == 1  # not before it is done

    result = await deactivate(stores, nms, order, [attempt])
    assert [s.succeeded for s in result.slots] == [True]
    assert deactivations(nms, order.id) == 1


async def test_cancelled_order_withdraws_its_job_and_wakes_the_next_in_queue(
    stores: Stores,
) -> None:
    woken: list[str] = []

    async def wake(workflow_id: str) -> None:
        woken.append(workflow_id)

    region = f"r-{uuid.uuid4().hex[:8]}"
    regions = Regions([*REGIONS, REGIONS.get("north").model_copy(update={"code": region})])
    technician = f"{region}-a"
    await stores.technicians.add_technician(
        Technician(id=technician, name="A", regions=[region], skills=["fibre"], max_open_jobs=1)
    )
    placed = []
    for _ in range(2):
        order, _ = await stores.orders.create_order(new_order(region=region))
        await ActivityEnvironment().run(
            orders(stores, regions).start_order, WorkOrderInput(order_id=order.id)
        )
        placed.append(order)
    activities = construction_activities(stores, wake)
    for order in placed:
        await ActivityEnvironment().run(
            activities.dispatch_construction, ConstructionInput(order_id=order.id)
        )

    await ActivityEnvironment().run(
        orders(stores, regions).record_cancellation,
        CancellationInput(order_id=placed[0].id, actor="operations:alice", reason="moved"),
    )
    await ActivityEnvironment().run(
        activities.withdraw_construction,
        WithdrawConstructionInput(
            order_id=placed[0].id, actor="operations:alice", reason="cancelled: moved"
        ),
    )

    assert woken == [placed[1].workflow_id]
    freed = await stores.technicians.get_technician(technician)
    assert freed is not None and freed.open_jobs == 0
    kinds = [e.kind for e in await stores.orders.timeline(placed[0].id)]
    assert kinds[-2:] == ["order.cancellation_requested", "construction.withdrawn"]
