"""The rApp's service at the A1-PMS: registered, kept alive, and, when supervision deleted it
anyway (with its policies), registered again with its policies put back."""

from __future__ import annotations

import logging
import time

import httpx
import pytest

from rapp.config import A1Settings
from rapp.enact.a1 import A1Client, A1Error, A1Policy, is_transient
from rapp.enact.registration import Registration
from simulators.a1pms import create_app
from tests.conftest import serve

GUIDANCE = A1Policy(
    policy_id="rapp-free5gc-upf-site-03",
    ric_id="ric1",
    policy_type_id="RAPP_CAPACITY_1.0.0",
    service_id="rapp",
    body={
        "scope": {"nfId": "free5gc-upf-site-03", "cellIdList": ["c1"]},
        "statement": {"action": "scale_out", "capacity": "10G", "decisionId": "d1"},
    },
)


async def test_an_expired_service_is_registered_again_with_its_policies() -> None:
    app = create_app(keepalive_check_interval=3600)  # the test expires services itself
    registry = app.state.registry
    asked = []

    async def in_force() -> list[A1Policy]:
        asked.append(True)
        return [GUIDANCE]

    with serve(app) as url:
        async with A1Client(url) as a1:
            await a1.put_policy(GUIDANCE)
        registration = Registration(A1Settings(url=url, keepalive_s=1), in_force)
        await registration.register()
        assert registration.restored == 0  # the guidance was in place: nothing put back
        asked.clear()
        assert await registration.beat() is False  # alive: nothing else happens
        assert asked == []

        # Silent past its interval: the A1-PMS deletes the service and its policy.
        assert registry.expire_services(now=time.monotonic() + 5) == ["rapp"]
        async with A1Client(url) as a1:
            assert await a1.get_policy(GUIDANCE.policy_id) is None

            assert await registration.beat() is True
            assert asked == [True]
            assert registration.restored == 1
            assert await a1.get_policy(GUIDANCE.policy_id) == GUIDANCE.body
        services = registry.services()["serviceList"]
        assert [(s["serviceId"], s["keepAliveIntervalSeconds"]) for s in services] == [("rapp", 1)]


def test_an_a1pms_starting_or_away_is_waited_for_one_that_refuses_is_not() -> None:
    assert is_transient(httpx.ConnectError("refused"))
    assert is_transient(A1Error(503))
    assert is_transient(A1Error(423))
    assert not is_transient(A1Error(400))
    assert not is_transient(A1Error(401))
    assert not is_transient(A1Error(404))  # a wrong URL is not waited for


async def test_registration_discovers_a_wrong_ric_or_a_missing_policy_type(caplog) -> None:
    async def nothing() -> list[A1Policy]:
        return []

    with serve(create_app()) as url:
        fine = Registration(A1Settings(url=url), nothing)
        await fine.register()
        assert fine.problems == []
        typo = Registration(A1Settings(url=url, ric_id="ric-1"), nothing)
        await typo.register()
        assert typo.problems == ["the A1-PMS knows no Near-RT RIC 'ric-1' (it knows ['ric1'])"]
        assert "A1 discovery: the A1-PMS knows no Near-RT RIC 'ric-1'" in caplog.text
        untyped = Registration(A1Settings(url=url, policy_type_id="RAPP_OTHER_1.0.0"), nothing)
        await untyped.register()
        assert untyped.problems == [
            "Near-RT RIC 'ric1' (AVAILABLE) does not support policy type 'RAPP_OTHER_1.0.0'"
        ]


async def test_a_clean_stop_deletes_the_service_and_the_next_start_puts_guidance_back() -> None:
    """Guidance does not outlive the rApp; and a restart (which deregistered on its way out)
    does not leave the Near-RT RIC without it longer than the restart takes."""

    async def in_force() -> list[A1Policy]:
        return [GUIDANCE]

    with serve(create_app()) as url:
        first = Registration(A1Settings(url=url), in_force)
        await first.register()
        assert first.restored == 1  # a first start: the journal's guidance goes out
        await first.deregister()
        async with A1Client(url) as a1:
            assert await a1.get_policy(GUIDANCE.policy_id) is None  # gone with the service
            await first.deregister()  # already gone: logged, not raised
            second = Registration(A1Settings(url=url), in_force)
            await second.register()
            assert second.restored == 1
            assert await a1.get_policy(GUIDANCE.policy_id) == GUIDANCE.body


async def test_a_failed_deregistration_is_logged_not_raised(caplog) -> None:
    async def nothing() -> list[A1Policy]:
        return []

    registration = Registration(A1Settings(url="http://127.0.0.1:9", timeout_s=1), nothing)
    await registration.deregister()
    assert "could not delete A1-PMS service rapp" in caplog.text


async def test_a_policy_the_ric_now_refuses_does_not_keep_the_others_out(caplog) -> None:
    """Put-back is best effort per policy: a refusal must not stop registration (supervision
    would then delete every policy once keepalives never start)."""
    orphan = A1Policy(
        policy_id="rapp-heal-du-7",
        ric_id="ric1",
        policy_type_id="RAPP_WITHDRAWN_1.0.0",  # a type the RIC no longer supports
        service_id="rapp",
        body={"cells": ["c1"]},
    )

    async def in_force() -> list[A1Policy]:
        return [orphan, GUIDANCE]

    caplog.set_level(logging.INFO)

    with serve(create_app()) as url:
        registration = Registration(A1Settings(url=url), in_force)
        await registration.register()
        assert registration.restored == 1
        async with A1Client(url) as a1:
            assert await a1.get_policy(GUIDANCE.policy_id) == GUIDANCE.body
            await a1.keepalive("rapp")  # registered, and kept alive from here
    assert "A1 policy rapp-heal-du-7 not put back" in caplog.text
    assert "1 of 2 missing A1 policies put back" in caplog.text


async def test_an_unreadable_token_file_is_waited_for_like_an_a1pms_out_of_reach(tmp_path) -> None:
    async def nothing() -> list[A1Policy]:
        return []

    settings = A1Settings(url="http://127.0.0.1:9", token_file=tmp_path / "not-mounted-yet")
    with pytest.raises(httpx.TransportError) as caught:
        await Registration(settings, nothing).register()
    assert is_transient(caught.value)
    assert "cannot read token file" in str(caught.value)
