"""The subset of TMF641 Service Ordering v4 (TMF641 v4.1.0) this system speaks.

Requests are strict (``extra="forbid"``): a field we cannot honour is refused rather
than dropped. Field names are the spec's camelCase, by alias.
"""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from models.text import refuse_nul


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return refuse_nul(data)

    type_: str | None = Field(default=None, alias="@type")
    base_type: str | None = Field(default=None, alias="@baseType")
    schema_location: str | None = Field(default=None, alias="@schemaLocation")


class Characteristic(_Request):
    name: str = Field(min_length=1, max_length=100)
    value: Any
    value_type: str | None = Field(default=None, alias="valueType")


class ServiceSpecificationRef(_Request):
    id: str = Field(min_length=1, max_length=100)
    name: str | None = Field(default=None, max_length=200)
    href: str | None = None
    version: str | None = None
    referred_type: str | None = Field(default=None, alias="@referredType")


class SubAddress(_Request):
    """A TMF673 ``GeographicSubAddress``: the building, and a unit or a room in it."""

    building_name: str | None = Field(default=None, alias="buildingName")
    sub_unit_type: str | None = Field(default=None, alias="subUnitType")
    sub_unit_number: str | None = Field(default=None, alias="subUnitNumber")


class Place(_Request):
    """``RelatedPlaceRefOrValue`` as a ``GeographicAddress`` value (TMF673 names)."""

    role: str
    id: str | None = None
    href: str | None = None
    name: str | None = None
    country: str | None = None
    state_or_province: str | None = Field(default=None, alias="stateOrProvince")
    city: str | None = None
    locality: str | None = None
    street_name: str | None = Field(default=None, alias="streetName")
    street_nr: str | None = Field(default=None, alias="streetNr")
    sub_unit_number: str | None = Field(default=None, alias="subUnitNumber")
    geographic_sub_address: list[SubAddress] = Field(
        default_factory=list, alias="geographicSubAddress", max_length=3
    )
    postcode: str | None = None
    referred_type: str | None = Field(default=None, alias="@referredType")


class ServiceValue(_Request):
    """``ServiceRefOrValue``, as a value: the service to add."""

    name: str | None = None
    service_type: str | None = Field(default=None, alias="serviceType")
    service_specification: ServiceSpecificationRef | None = Field(
        default=None, alias="serviceSpecification"
    )
    service_characteristic: list[Characteristic] = Field(
        default_factory=list, alias="serviceCharacteristic"
    )
    place: list[Place] = Field(default_factory=list)


class AppointmentRefIn(_Request):
    """The installation visit to book with the order: ``id`` is the ``id`` of a slot
    the free-slot search offered (``GET /appointments/slots``, shaped after TMF646
    searchTimeSlot), the slot's start."""

    id: str = Field(min_length=1, max_length=64)
    href: str | None = Field(default=None, max_length=500)
    description: str | None = Field(default=None, max_length=1000)
    type: str | None = Field(default=None, alias="@type")
    base_type: str | None = Field(default=None, alias="@baseType")
    schema_location: str | None = Field(default=None, alias="@schemaLocation")


class ServiceOrderItemCreate(_Request):
    id: str = Field(min_length=1, max_length=100)
    action: str
    quantity: int | None = None
    service: ServiceValue
    appointment: AppointmentRefIn | None = None


class RelatedPartyIn(_Request):
    id: str | None = Field(default=None, max_length=100)
    href: str | None = None
    name: str | None = None
    role: str | None = None
    referred_type: str | None = Field(default=None, alias="@referredType")


class ServiceOrderCreate(_Request):
    """``ServiceOrder_Create``: what a TMF641 client posts."""

    external_id: str | None = Field(default=None, alias="externalId")
    description: str | None = Field(default=None, max_length=1000)
    category: str | None = None
    priority: str | None = None
    requested_start_date: AwareDatetime | None = Field(default=None, alias="requestedStartDate")
    requested_completion_date: AwareDatetime | None = Field(
        default=None, alias="requestedCompletionDate"
    )
    related_party: list[RelatedPartyIn] = Field(default_factory=list, alias="relatedParty")
    service_order_item: list[ServiceOrderItemCreate] = Field(alias="serviceOrderItem")


class ServiceOrderRef(_Request):
    id: str = Field(min_length=1, max_length=36)
    href: str | None = None
    referred_type: str | None = Field(default=None, alias="@referredType")


class CancelServiceOrderCreate(_Request):
    """``CancelServiceOrder_Create``."""

    service_order: ServiceOrderRef = Field(alias="serviceOrder")
    cancellation_reason: str | None = Field(default=None, alias="cancellationReason")
    requested_cancellation_date: AwareDatetime | None = Field(
        default=None, alias="requestedCancellationDate"
    )


class EventSubscriptionInput(_Request):
    """``EventSubscriptionInput``, with ``secret`` as our extension: the key each
    notification to the callback is signed with (docs/tmf641.md)."""

    callback: str = Field(min_length=1)
    query: str | None = Field(default=None, max_length=1000)
    secret: str | None = Field(default=None, min_length=16, max_length=200)
