"""One typed ``Settings`` for every process, read from the environment once."""

from __future__ import annotations

from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_AUTH_SECRET = "development-only-auth-secret-never-use-in-production"
"""Signs tokens in development; production refuses it."""
DEVELOPMENT_PAYLOAD_KEY = "ZGV2ZWxvcG1lbnQtb25seS1wYXlsb2FkLWtleS0zMmI="
"""Encrypts Temporal payloads in development (base64 of 32 bytes); production refuses it."""


class Settings(BaseSettings):
    """Settings of the API, the worker and the command line.

    Every field can be set as ``WORKORDERS_<FIELD>`` in the environment or in a
    ``.env`` file.
    """

    model_config = SettingsConfigDict(
        env_prefix="WORKORDERS_", env_file=".env", extra="ignore", frozen=True
    )

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Path("data")

    database_url: str = Field(
        default="",
        description="SQLAlchemy URL (sqlite:///path, postgresql+psycopg://user@host/db);"
        " empty means SQLite in the data folder.",
    )
    database_echo: bool = False
    database_threads: int | None = Field(
        default=None,
        ge=1,
        description="Threads a process runs its database work in; by default 2 on SQLite"
        " (more only contend for the GIL and its one writer: on the 2-core benchmark"
        " machine 2 completed ~10% more orders/s than 10) and 10 on PostgreSQL, whose"
        " round trips release the GIL.",
    )

    default_country: str = Field(
        default="DE",
        pattern=r"^[A-Z]{2}$",
        description="The country (ISO 3166-1 alpha-2) of an order's address that names"
        " none; its format (workorders/data/address_formats.toml) must be shipped. DE is"
        " that of the addresses taken before addresses had a country; CN for Beijing.",
    )

    time_zone: str = Field(
        default="Asia/Shanghai",
        description="The operator's IANA time zone: technicians' working hours and the"
        " installation slots are in it.",
    )
    appointment_slot_minutes: int = Field(
        default=120, ge=15, le=720, description="How long one installation slot is."
    )
    appointment_day: tuple[time, time] = Field(
        default=(time(8), time(20)),
        description="When the day's first slot starts and its last slot ends (local time).",
    )
    appointment_lead_minutes: int = Field(
        default=120,
        ge=0,
        description="How soon a slot may start after it is booked (a technician needs"
        " to know, and get there).",
    )
    appointment_horizon_days: int = Field(
        default=28, ge=1, le=366, description="How far ahead slots can be searched and booked."
    )

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = "work-orders"
    temporal_ui_port: int = 8233
    workflow_cache_size: int = Field(
        default=500,
        ge=0,
        description="Work orders the worker keeps in memory between their steps (about"
        " 0.2 MiB each); one not kept replays its history at its next step. Most open"
        " orders wait for days (a technician, a customer): keep those that move.",
    )

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    console_session_minutes: int = Field(
        default=8 * 60,
        ge=1,
        le=7 * 24 * 60,
        description="A console session ends this long after its last request.",
    )
    max_request_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1,
        description="The largest request body the API reads; a larger one is a 413.",
    )
    resume_interval_s: float = Field(
        default=30,
        gt=0,
        description="How often the API starts workflows of received orders, and signals"
        " the technicians' progress and the reports whose signal did not get through.",
    )

    log_format: Literal["text", "json"] = Field(
        default="text",
        description="text, or json: one JSON object a line with the order id when known.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    metrics_host: str = Field(
        default="127.0.0.1", description="Where the worker serves its Prometheus metrics."
    )
    worker_metrics_port: int = Field(
        default=9464,
        ge=0,
        le=65535,
        description="The worker's own metrics (activities, orders, sub-tasks); 0 serves none.",
    )
    temporal_metrics_port: int = Field(
        default=9465,
        ge=0,
        le=65535,
        description="The Temporal SDK's metrics of the worker (its runtime); 0 serves none.",
    )

    auth_secret: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_AUTH_SECRET),
        description="The key that signs the API's bearer tokens (HS256); at least 32"
        " characters. The default is for development only and refused in production.",
    )
    token_ttl_h: float = Field(
        default=12, gt=0, description="How long a token issued by `workorders token` is valid."
    )
    api_token: SecretStr | None = Field(
        default=None,
        description="The bearer token `workorders orders` sends; unset, it issues itself"
        " an operations token with auth_secret.",
    )
    payload_key: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_PAYLOAD_KEY),
        description="The AES-256 key (base64, 32 bytes) that encrypts Temporal payloads;"
        " the default is for development only and refused in production.",
    )
    payload_old_keys: list[SecretStr] = Field(
        default_factory=list,
        description="Keys of earlier payloads, still decrypted after a key change.",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Browser origins allowed to call the API (without credentials); in"
        " development also those whose pages decode through /console/codec with an"
        " operations console session (the Temporal UI); `workorders up` adds its own UI.",
    )

    nms_url: str = Field(
        default="",
        description="Base URL of an NMS speaking docs/nms-protocol.md, e.g. the NMS simulator"
        " service; empty means the simulator inside the worker.",
    )
    nms_timeout_s: float = Field(
        default=60,
        gt=0,
        description="How long one NMS call may take, following its monitor included; keep it"
        " below the NMS activities' start-to-close timeout (2 min).",
    )
    nms_poll_interval_s: float = Field(
        default=0.5, gt=0, description="The pause between two looks at NMS work in progress."
    )
    nms_sim_host: str = "127.0.0.1"
    nms_sim_port: int = 8700
    nms_seed: int = 2018
    nms_latency_min_s: float = Field(default=0.2, ge=0)
    nms_latency_max_s: float = Field(default=1.0, ge=0)
    nms_outage_rate: float = Field(default=0.05, ge=0, le=1)
    nms_port_conflict_rate: float = Field(default=0.15, ge=0, le=1)
    nms_faulty_port_rate: float = Field(default=0.03, ge=0, le=1)
    nms_vlan_conflict_rate: float = Field(default=0.05, ge=0, le=1)
    nms_legacy_olt_rate: float = Field(default=0.3, ge=0, le=1)
    nms_busy_server_rate: float = Field(default=0.05, ge=0, le=1)
    nms_congested_server_rate: float = Field(default=0.15, ge=0, le=1)
    nms_degraded_line_rate: float = Field(default=0.0, ge=0, le=1)

    public_url: str = Field(
        default="",
        description="The API's address as its clients reach it (the hrefs of TMF641"
        " notifications); empty: api_url.",
    )
    hub_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts a TMF641 listener's callback may name outside development"
        " (exact names; `*.example.com` for its subdomains). Empty: none.",
    )
    hub_delivery: bool = Field(
        default=True, description="Whether the worker process runs the TMF641 deliverer."
    )
    hub_poll_interval_s: float = Field(
        default=0.2, gt=0, description="The deliverer's pause when it found nothing to send."
    )
    hub_round_interval_s: float = Field(
        default=0.1,
        ge=0,
        description="The least time between two of the deliverer's rounds while it is not"
        " saturated: what comes meanwhile is sent together, at a fraction of the work of"
        " sending each event in a round of its own.",
    )
    hub_straggler_wait_s: float = Field(
        default=1.0,
        gt=0,
        description="How long a delivery round waits for its slowest listeners: what"
        " one slow to answer is being sent goes on by itself, and the others' next"
        " events are sent meanwhile.",
    )
    hub_timeout_s: float = Field(
        default=10, gt=0, description="How long a listener may take to answer a notification."
    )
    hub_lease_s: float = Field(
        default=60,
        gt=0,
        description="How long a deliverer holds a delivery; longer than hub_timeout_s.",
    )
    hub_retry_base_s: float = Field(
        default=1, gt=0, description="The first retry's delay; it doubles with each failure."
    )
    hub_retry_max_s: float = Field(
        default=600, gt=0, description="The longest delay between two tries of a delivery."
    )
    hub_batch: int = Field(
        default=100,
        ge=1,
        le=1000,
        description="Runs (an order's due events to one listener) a deliverer sends at once.",
    )
    hub_retention_h: float = Field(
        default=7 * 24,
        gt=0,
        description="How long an event is kept for a listener that is down: one down longer"
        " misses the events older than this. Events every listener received are removed"
        " sooner.",
    )
    hub_prune_interval_s: float = Field(
        default=300,
        gt=0,
        description="How often the worker process removes the TMF641 events and deliveries"
        " no listener needs any more.",
    )

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.nms_latency_max_s < self.nms_latency_min_s:
            raise ValueError("nms_latency_max_s must be at least nms_latency_min_s")
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"time_zone {self.time_zone!r} is not an IANA time zone") from None
        if self.appointment_day[1] <= self.appointment_day[0]:
            raise ValueError("appointment_day must end after it starts")
        if self.hub_lease_s <= self.hub_timeout_s:
            raise ValueError("hub_lease_s must be longer than hub_timeout_s")
        if self.environment == "production":
            if not self.database_url:
                raise ValueError("WORKORDERS_DATABASE_URL must be set in production")
            secret = self.auth_secret.get_secret_value()
            if secret == DEVELOPMENT_AUTH_SECRET or len(secret) < 32:
                raise ValueError(
                    "WORKORDERS_AUTH_SECRET must be set in production, at least 32 characters"
                    " (e.g. `openssl rand -base64 48`)"
                )
            if self.payload_key.get_secret_value() == DEVELOPMENT_PAYLOAD_KEY:
                raise ValueError(
                    "WORKORDERS_PAYLOAD_KEY must be set in production: 32 random bytes in"
                    " base64 (e.g. `openssl rand -base64 32`)"
                )
        return self

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'workorders.db').resolve()}"

    @property
    def api_url(self) -> str:
        return f"http://{self.api_host}:{self.api_port}"

    @property
    def nms_sim_url(self) -> str:
        """Where ``workorders nms-sim`` serves the NMS simulator."""
        return f"http://{self.nms_sim_host}:{self.nms_sim_port}"


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
