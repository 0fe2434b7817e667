"""The admin API under ``/_emulator/``: state, stats, faults, tokens and Dashboard actions.

It takes no token and bypasses latency, faults, rate limits and stats, so the
emulator must only listen on loopback. Errors use Square's error shape.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

import structlog
from aiohttp import web

from groupsync.emulator.errors import SquareApiError, bad_request, json_response
from groupsync.emulator.generator import GenerationRequest, generate
from groupsync.emulator.middleware import OPERATIONS_KEY
from groupsync.emulator.request_body import read_json_object
from groupsync.emulator.settings import ALL_SCOPES, DEFAULT_SELLER, TokenGrant
from groupsync.emulator.state import STATE_KEY, EmulatorState
from groupsync.emulator.state_file import dump_seller, load_state
from groupsync.emulator.traffic import parse_fault_rule

log = structlog.get_logger(__name__)

PREFIX = "/_emulator"

AdminHandler = Callable[[web.Request], Awaitable[Any]]


def admin_handler(function: AdminHandler) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Render the handler's result as JSON; a ValueError becomes a 400 naming the problem."""

    @wraps(function)
    async def handle(request: web.Request) -> web.Response:
        try:
            result = await function(request)
        except SquareApiError as error:
            log.warning("emulator_admin_request_rejected", path=request.path, error=error.detail)
            return error.to_response()
        except ValueError as error:
            log.warning("emulator_admin_request_rejected", path=request.path, error=str(error))
            return bad_request("BAD_REQUEST", str(error)).to_response()
        return json_response(result)

    return handle


def _group_name(body: dict[str, Any]) -> str:
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"invalid group name {name!r}: `name` must be a non-empty string")
    return name


def _state(request: web.Request) -> EmulatorState:
    return request.app[STATE_KEY]


@admin_handler
async def reset(request: web.Request) -> dict[str, Any]:
    _state(request).reset()
    return {}


@admin_handler
async def load(request: web.Request) -> dict[str, Any]:
    return load_state(_state(request), await read_json_object(request))


@admin_handler
async def dump(request: web.Request) -> dict[str, Any]:
    seller = request.query.get("seller", DEFAULT_SELLER)
    return dump_seller(_state(request).seller(seller))


@admin_handler
async def generate_state(request: web.Request) -> dict[str, Any]:
    body = await read_json_object(request)
    seller = body.pop("seller", DEFAULT_SELLER)
    return generate(_state(request).seller(seller), GenerationRequest.from_json(body))


@admin_handler
async def stats(request: web.Request) -> dict[str, Any]:
    return _state(request).stats.to_dict()


@admin_handler
async def reset_stats(request: web.Request) -> dict[str, Any]:
    _state(request).stats.reset()
    return {}


def _faults(state: EmulatorState) -> dict[str, Any]:
    return {
        **state.settings.traffic_dict(),
        "rules": [rule.to_dict() for rule in state.traffic.rules],
    }


@admin_handler
async def get_faults(request: web.Request) -> dict[str, Any]:
    return _faults(_state(request))


@admin_handler
async def update_faults(request: web.Request) -> dict[str, Any]:
    state = _state(request)
    state.settings.update_traffic(await read_json_object(request))
    state.traffic.reset_buckets()
    return _faults(state)


@admin_handler
async def add_fault_rules(request: web.Request) -> dict[str, Any]:
    """Append one rule, or ``{"rules": [...]}``, to the end of the scripted fault queue."""
    state = _state(request)
    body = await read_json_object(request)
    raw_rules = body.get("rules", [body])
    operations = frozenset(request.app[OPERATIONS_KEY].values())
    rules = [parse_fault_rule(raw, operations=operations) for raw in raw_rules]
    state.traffic.rules.extend(rules)
    return {"rules": [rule.to_dict() for rule in state.traffic.rules]}


@admin_handler
async def clear_fault_rules(request: web.Request) -> dict[str, Any]:
    _state(request).traffic.rules.clear()
    return {}


@admin_handler
async def add_token(request: web.Request) -> dict[str, Any]:
    body = await read_json_object(request)
    token = body.get("token")
    if not isinstance(token, str) or not token:
        raise ValueError("`token` must be a non-empty string")
    scopes = frozenset(body.get("scopes") or ALL_SCOPES)
    if not scopes <= ALL_SCOPES:
        raise ValueError(f"unknown scopes {sorted(scopes - ALL_SCOPES)}")
    grant = TokenGrant(token=token, seller=body.get("seller") or DEFAULT_SELLER, scopes=scopes)
    _state(request).add_token(grant)
    return {"token": grant.token, "seller": grant.seller, "scopes": sorted(grant.scopes)}


@admin_handler
async def merge_customers(request: web.Request) -> dict[str, Any]:
    body = await read_json_object(request)
    customer_ids = body.get("customer_ids")
    if not isinstance(customer_ids, list) or len(customer_ids) < 2:
        raise ValueError("`customer_ids` must list at least two customer ids")
    store = _state(request).seller(request.match_info["seller"])
    return {"customer": store.merge_customers(customer_ids).to_dict()}


@admin_handler
async def create_group_by_hand(request: web.Request) -> dict[str, Any]:
    name = _group_name(await read_json_object(request))
    store = _state(request).seller(request.match_info["seller"])
    return {"group": store.create_group(name).to_dict()}


@admin_handler
async def rename_group(request: web.Request) -> dict[str, Any]:
    name = _group_name(await read_json_object(request))
    store = _state(request).seller(request.match_info["seller"])
    return {"group": store.rename_group(request.match_info["group_id"], name).to_dict()}


@admin_handler
async def delete_group(request: web.Request) -> dict[str, Any]:
    store = _state(request).seller(request.match_info["seller"])
    store.delete_group(request.match_info["group_id"])
    return {}


@admin_handler
async def add_member_by_hand(request: web.Request) -> dict[str, Any]:
    store = _state(request).seller(request.match_info["seller"])
    store.add_to_group(request.match_info["customer_id"], request.match_info["group_id"])
    return {}


@admin_handler
async def delete_customer_by_hand(request: web.Request) -> dict[str, Any]:
    store = _state(request).seller(request.match_info["seller"])
    store.delete_customer(request.match_info["customer_id"], version=None)
    return {}


def add_admin_routes(router: web.UrlDispatcher) -> None:
    seller = f"{PREFIX}/sellers/{{seller}}"
    router.add_post(f"{PREFIX}/reset", reset)
    router.add_post(f"{PREFIX}/state", load)
    router.add_get(f"{PREFIX}/state", dump)
    router.add_post(f"{PREFIX}/generate", generate_state)
    router.add_get(f"{PREFIX}/stats", stats)
    router.add_delete(f"{PREFIX}/stats", reset_stats)
    router.add_get(f"{PREFIX}/faults", get_faults)
    router.add_put(f"{PREFIX}/faults", update_faults)
    router.add_post(f"{PREFIX}/faults/rules", add_fault_rules)
    router.add_delete(f"{PREFIX}/faults/rules", clear_fault_rules)
    router.add_post(f"{PREFIX}/tokens", add_token)
    router.add_post(f"{seller}/merge", merge_customers)
    router.add_post(f"{seller}/groups", create_group_by_hand)
    router.add_put(f"{seller}/groups/{{group_id}}", rename_group)
    router.add_delete(f"{seller}/groups/{{group_id}}", delete_group)
    router.add_put(f"{seller}/customers/{{customer_id}}/groups/{{group_id}}", add_member_by_hand)
    router.add_delete(f"{seller}/customers/{{customer_id}}", delete_customer_by_hand)
