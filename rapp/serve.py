"""The process: the loop and the API side by side until SIGINT/SIGTERM, then a clean stop."""

from __future__ import annotations

import asyncio
import logging
import signal

import uvicorn

from rapp import intake, sme
from rapp.api import create_app
from rapp.api.ves import ves_router
from rapp.config import Settings
from rapp.runtime import Runtime

log = logging.getLogger("rapp.runtime")


async def serve(settings: Settings) -> None:
    """Run the loop and the API until SIGINT/SIGTERM; shut both down cleanly."""
    settings = await sme.resolve(settings)  # the A1-PMS and ICS where SME says they are
    runtime = Runtime(settings)
    v = settings.ves
    app = create_app(
        runtime.journal,
        runtime.readiness,
        runtime.metrics.registry,
        ves=ves_router(
            intake.ves_sink(runtime),
            username=v.username,
            password=v.password,
            max_bytes=v.max_bytes,
        )
        if v.enabled
        else None,
        alarms=runtime.alarms,
        models=lambda: {
            "forecaster": runtime.decider.forecaster.status(),
            "detector": runtime.decider.watch.status(),
        },
        anomalies=lambda: [i.to_dict() for i in runtime.decider.watch.incidents],
        policies=runtime.decider.policy,
        api_keys=settings.api.keys,
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.api.host,
            port=settings.api.port,
            log_level="warning",
            lifespan="on",
            # Open connections get this long at a stop; the pod's grace period is shared with
            # the drain, the enactor's stop and the deregistrations that follow.
            timeout_graceful_shutdown=5,
        )
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
    log.info("API on http://%s:%d", settings.api.host, settings.api.port)
    tasks = {
        asyncio.create_task(runtime.run(), name="loop"),
        asyncio.create_task(server.serve(), name="api"),
        asyncio.create_task(stop.wait(), name="stop"),
    }
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task.get_name() == "loop" and task.exception():
                raise task.exception()  # type: ignore[misc]
        log.info("stopping: finishing the batch in hand (up to %.0f s)", settings.stop_timeout_s)
        await runtime.drain(settings.stop_timeout_s)
    finally:
        server.should_exit = True
        for task in tasks:
            if task.get_name() != "api":
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await runtime.aclose()
