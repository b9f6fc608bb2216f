"""The lab center: catalogue, orders, specimens, results, release, critical values."""

from __future__ import annotations

from consult.center import Work
from lab import catalogue, critical, orders, results, specimens
from lab import outbound as lis
from lab.critical import LabAlert
from lab.results import Observation, StoreOutcome
from lab.tables import LabOrder, LabResult, LabTest, Specimen
from web.api import Call, Endpoints
from web.errors import ApiError
from web.lab_wiring import lis_enabled
from web.schemas_lab import (
    AckIn,
    AlertOut,
    AlertQuery,
    AmendmentIn,
    CollectIn,
    DiscardIn,
    LabTestDetailOut,
    LabTestIn,
    LabTestOut,
    OrderIn,
    OrderOut,
    OrderQuery,
    RangeIO,
    RefusedOut,
    ReleaseOut,
    ResultOut,
    ResultsIn,
    SpecimenAddIn,
    SpecimenOut,
    SpecimenRejectIn,
    StoreOut,
    TrendQuery,
)

endpoints = Endpoints("lab")
ORDER = r"/api/v1/lab/orders/{id:\d+}"
SPECIMEN = r"/api/v1/lab/specimens/{id:\d+}"


def order_out(order: LabOrder, rows: list[Specimen]) -> OrderOut:
    request = order.request
    return OrderOut(
        id=order.id,
        request_id=request.id,
        request_identifier=request.identifier,
        request_status=request.status,
        priority=request.priority,
        patient_id=order.patient_id,
        placer_number=order.placer_number,
        filler_number=order.filler_number,
        status=order.status,
        tests=list(order.test_codes),
        critical=request.critical,
        created_at=order.created_at,
        specimens=[SpecimenOut.model_validate(s) for s in rows],
    )


async def present(work: Work, order: LabOrder) -> OrderOut:
    return order_out(order, (await orders.specimens_of(work, [order.id]))[order.id])


def store_out(outcome: StoreOutcome) -> StoreOut:
    return StoreOut(
        stored=[ResultOut.model_validate(r) for r in outcome.stored],
        held=[ResultOut.model_validate(r) for r in outcome.held],
        refused=[
            RefusedOut(
                code=r.observation.code,
                value=r.observation.value,
                reason=r.reason,
                reason_code=r.code,
            )
            for r in outcome.refused
        ],
        critical=outcome.critical,
    )


def observations(body: ResultsIn) -> list[Observation]:
    try:
        return [Observation(**r.model_dump()) for r in body.results]
    except ValueError as exc:
        raise ApiError(422, "invalid_input", str(exc), "results") from None


# --- catalogue ------------------------------------------------------------------------------


@endpoints.get(
    "/api/v1/lab/tests", summary="The test catalogue", response=list[LabTestOut], aggregate=True
)
async def list_tests(call: Call) -> list[LabTest]:
    async with call.work() as work:
        return await catalogue.list_tests(work)


@endpoints.get(
    "/api/v1/lab/tests/{code:[^/]+}", summary="One test with its ranges", response=LabTestDetailOut
)
async def get_test(call: Call) -> LabTestDetailOut:
    code = call.request.match_info["code"]
    async with call.work() as work:
        test = await catalogue.get_test(work, code)
        ranges = (await catalogue.ranges_for(work, [code])).get(code, [])
        return LabTestDetailOut(
            **LabTestOut.model_validate(test).model_dump(),
            ranges=[RangeIO.model_validate(r) for r in ranges],
        )


@endpoints.post(
    "/api/v1/lab/tests",
    summary="Create or update a catalogue entry (administrators)",
    body=LabTestIn,
    response=LabTestOut,
)
async def save_test(call: Call) -> LabTest:
    body: LabTestIn = call.body
    try:
        spec = catalogue.TestSpec(
            **body.model_dump(exclude={"ranges", "components"}),
            components=tuple(body.components),
            ranges=None
            if body.ranges is None
            else tuple(catalogue.RangeSpec(**r.model_dump()) for r in body.ranges),
        )
    except ValueError as exc:
        raise ApiError(422, "invalid_input", str(exc), "ranges") from None
    async with call.work() as work:
        return await catalogue.save_test(work, spec)


# --- orders and specimens -------------------------------------------------------------------


@endpoints.post(
    "/api/v1/lab/orders",
    summary="A clinic orders lab tests for a patient",
    body=OrderIn,
    response=OrderOut,
    status=201,
)
async def create_order(call: Call) -> OrderOut:
    body: OrderIn = call.body
    async with call.work() as work:
        order = await orders.create(work, orders.NewOrder(**body.model_dump()))
        if lis_enabled(call.request.app):
            await lis.enqueue(work, order)
        return await present(work, order)


@endpoints.get(
    "/api/v1/lab/orders",
    summary="Lab orders the caller may see",
    query=OrderQuery,
    response=list[OrderOut],
)
async def list_orders(call: Call) -> list[OrderOut]:
    q: OrderQuery = call.query
    async with call.work() as work:
        rows = await orders.list_visible(
            work, patient_id=q.patient_id, open_only=q.open, limit=q.limit
        )
        found = await orders.specimens_of(work, [o.id for o in rows])
        return [order_out(o, found[o.id]) for o in rows]


@endpoints.get(ORDER, summary="One lab order and where its specimens are", response=OrderOut)
async def get_order(call: Call) -> OrderOut:
    async with call.work() as work:
        return await present(
            work, await orders.readable(work, call.path_int("id"), "lab.order.read")
        )


@endpoints.post(
    ORDER + "/specimens",
    summary="Add a specimen (a recollection)",
    body=SpecimenAddIn,
    response=SpecimenOut,
    status=201,
)
async def add_specimen(call: Call) -> Specimen:
    async with call.work() as work:
        return await specimens.add(work, call.path_int("id"), call.body.specimen_type)


@endpoints.post(
    SPECIMEN + "/collect",
    summary="The clinic collected the specimen",
    body=CollectIn,
    response=SpecimenOut,
)
async def collect(call: Call) -> Specimen:
    body: CollectIn = call.body
    async with call.work() as work:
        return await specimens.collect(
            work,
            call.path_int("id"),
            collected_at=body.collected_at,
            collected_by=body.collected_by,
        )


@endpoints.post(SPECIMEN + "/ship", summary="The clinic shipped the specimen", response=SpecimenOut)
async def ship(call: Call) -> Specimen:
    async with call.work() as work:
        return await specimens.ship(work, call.path_int("id"))


@endpoints.post(
    SPECIMEN + "/receive", summary="The county lab received the specimen", response=SpecimenOut
)
async def receive(call: Call) -> Specimen:
    async with call.work() as work:
        return await specimens.receive(work, call.path_int("id"))


@endpoints.post(
    SPECIMEN + "/reject",
    summary="The county lab rejects the specimen with a reason",
    body=SpecimenRejectIn,
    response=SpecimenOut,
)
async def reject(call: Call) -> Specimen:
    body: SpecimenRejectIn = call.body
    async with call.work() as work:
        return await specimens.reject(work, call.path_int("id"), body.reason, body.note)


# --- results --------------------------------------------------------------------------------


@endpoints.get(
    ORDER + "/results", summary="The results of an order (audited)", response=list[ResultOut]
)
async def list_results(call: Call) -> list[LabResult]:
    async with call.work() as work:
        _, rows = await results.list_for_order(work, call.path_int("id"))
        return rows


@endpoints.post(
    ORDER + "/results",
    summary="A technician enters results",
    body=ResultsIn,
    response=StoreOut,
    status=201,
)
async def enter_results(call: Call) -> StoreOut:
    entries = observations(call.body)
    async with call.work() as work:
        return store_out(await results.enter(work, call.path_int("id"), entries))


@endpoints.post(
    ORDER + "/release",
    summary="A supervisor validates and releases the results; the report goes to the clinic",
    response=ReleaseOut,
)
async def release(call: Call) -> ReleaseOut:
    async with call.work() as work:
        report = await results.release(work, call.path_int("id"))
        return ReleaseOut(
            report_id=report.id,
            report_version=report.version,
            report_status=report.status.value,
            data=report.data,
        )


@endpoints.post(
    ORDER + "/amendments",
    summary="Correct a released result (released again by a supervisor)",
    body=AmendmentIn,
    response=StoreOut,
    status=201,
)
async def amend(call: Call) -> StoreOut:
    body: AmendmentIn = call.body
    async with call.work() as work:
        return store_out(
            await results.amend(work, call.path_int("id"), body.code, body.value, body.reason)
        )


@endpoints.post(
    r"/api/v1/lab/results/{id:\d+}/discard",
    summary="A supervisor discards a value held for review",
    body=DiscardIn,
    response=ResultOut,
)
async def discard(call: Call) -> LabResult:
    async with call.work() as work:
        return await results.reject_held(work, call.path_int("id"), call.body.reason)


@endpoints.get(
    r"/api/v1/lab/patients/{id:\d+}/results",
    summary="A patient's released values of one test over time (audited)",
    query=TrendQuery,
    response=list[ResultOut],
)
async def trend(call: Call) -> list[LabResult]:
    q: TrendQuery = call.query
    async with call.work() as work:
        return await results.trend(work, call.path_int("id"), q.code, q.limit)


# --- critical values ------------------------------------------------------------------------


@endpoints.get(
    "/api/v1/lab/alerts",
    summary="Critical-value alerts",
    query=AlertQuery,
    response=list[AlertOut],
)
async def alerts(call: Call) -> list[LabAlert]:
    q: AlertQuery = call.query
    async with call.work() as work:
        return await critical.list_for(work, open_only=q.open, request_id=q.request_id)


@endpoints.post(
    r"/api/v1/lab/alerts/{id:\d+}/ack",
    summary="Acknowledge a critical value: how, and who took it",
    body=AckIn,
    response=AlertOut,
)
async def acknowledge(call: Call) -> LabAlert:
    body: AckIn = call.body
    async with call.work() as work:
        return await critical.acknowledge(
            work,
            call.path_int("id"),
            method=body.method,
            notified_person=body.notified_person,
            note=body.note,
        )
