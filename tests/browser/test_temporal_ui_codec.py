"""The Temporal UI of a real ``temporal server start-dev`` decodes a workflow's
encrypted input in a real browser: the operator signed in to the console as
operations, and the UI's Codec Server settings include cross-origin credentials."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from playwright.async_api import Browser, Response, expect
from temporalio.client import Client

from bench.system import free_port
from tests.api.test_codec import BIN, PASSWORD, PHONE, served, ui_api
from tests.browser.conftest import ARTIFACTS
from workorders.auth import Role
from workorders.codec import data_converter


@contextlib.asynccontextmanager
async def temporal_with_ui(codec_endpoint: str, ui_port: int) -> AsyncIterator[str]:
    """A dev server with its UI on ``ui_port``, told the codec endpoint as ``workorders
    up`` tells it; its gRPC address."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        str(BIN / "temporal"),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--ui-codec-endpoint",
        codec_endpoint,
        "--log-level",
        "error",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", ui_port)
                writer.close()
                break
            await asyncio.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        await process.wait()


async def test_the_temporal_ui_decodes_for_a_signed_in_operations_user(
    browser: Browser, tmp_path: Path
) -> None:
    ui_port = free_port()
    ui = f"http://127.0.0.1:{ui_port}"
    async with (
        ui_api(tmp_path, cors_origins=[ui]) as api,
        served(api.app) as url,
        temporal_with_ui(f"{url}/console/codec", ui_port) as address,
    ):
        codec = f"{url}/console/codec"
        client = await Client.connect(address, data_converter=data_converter(api.settings))
        workflow_id = f"codec-{uuid.uuid4()}"
        handle = await client.start_workflow(
            "NeverRuns", {"phone": PHONE}, id=workflow_id, task_queue=f"none-{uuid.uuid4()}"
        )
        # What the UI's Codec Server dialog keeps in the browser: "use my browser
        # setting", the endpoint, "Include cross-origin credentials".
        settings = {
            "overrideRemoteCodecConfiguration": True,
            "endpoint": codec,
            "includeCredentials": True,
        }
        script = f"""if (location.origin === {json.dumps(ui)}) {{
            for (const [k, v] of Object.entries({json.dumps(settings)}))
                localStorage.setItem(k, JSON.stringify(v));
        }}"""
        history = f"{ui}/namespaces/default/workflows/{workflow_id}/{handle.result_run_id}"

        def decode(response: Response) -> bool:
            request = response.request
            return request.method == "POST" and request.url.startswith(f"{codec}/decode")

        context = await browser.new_context()
        try:
            await context.add_init_script(script)
            page = await context.new_page()
            async with page.expect_response(decode) as refused:
                await page.goto(history)
            assert (await refused.value).status == 401  # not signed in: nothing decoded
            await expect(page.get_by_text("NeverRuns").first).to_be_visible(timeout=30_000)
            assert PHONE not in await page.content()

            await page.goto(f"{url}/console/login")
            await page.fill("input[name=name]", Role.OPERATIONS.value)
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit]")
            await expect(page).not_to_have_url(f"{url}/console/login")
            async with page.expect_response(decode) as answered:
                await page.goto(history)
            assert (await answered.value).status == 200
            await expect(page.get_by_text(PHONE).first).to_be_visible(timeout=30_000)
            await page.screenshot(path=ARTIFACTS / "temporal-ui-decoded.png", full_page=True)
        finally:
            await context.close()
