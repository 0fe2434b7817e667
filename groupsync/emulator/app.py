"""The aiohttp application: Square's 17 customer and group endpoints plus the admin API."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from groupsync.emulator import admin_routes, customer_routes, group_routes
from groupsync.emulator.middleware import OPERATIONS_KEY, SHUTDOWN_KEY, square_pipeline
from groupsync.emulator.settings import EmulatorSettings
from groupsync.emulator.state import STATE_KEY, EmulatorState

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Paths with fixed segments come before /v2/customers/{customer_id}, which would match them too.
SQUARE_ROUTES: tuple[tuple[str, str, str, Handler], ...] = (
    ("GET", "/v2/customers", "ListCustomers", customer_routes.list_customers),
    ("POST", "/v2/customers", "CreateCustomer", customer_routes.create_customer),
    ("POST", "/v2/customers/search", "SearchCustomers", customer_routes.search_customers),
    (
        "POST",
        "/v2/customers/bulk-create",
        "BulkCreateCustomers",
        customer_routes.bulk_create_customers,
    ),
    (
        "POST",
        "/v2/customers/bulk-retrieve",
        "BulkRetrieveCustomers",
        customer_routes.bulk_retrieve_customers,
    ),
    (
        "POST",
        "/v2/customers/bulk-update",
        "BulkUpdateCustomers",
        customer_routes.bulk_update_customers,
    ),
    (
        "POST",
        "/v2/customers/bulk-delete",
        "BulkDeleteCustomers",
        customer_routes.bulk_delete_customers,
    ),
    ("GET", "/v2/customers/groups", "ListCustomerGroups", group_routes.list_customer_groups),
    ("POST", "/v2/customers/groups", "CreateCustomerGroup", group_routes.create_customer_group),
    (
        "GET",
        "/v2/customers/groups/{group_id}",
        "RetrieveCustomerGroup",
        group_routes.retrieve_customer_group,
    ),
    (
        "PUT",
        "/v2/customers/groups/{group_id}",
        "UpdateCustomerGroup",
        group_routes.update_customer_group,
    ),
    (
        "DELETE",
        "/v2/customers/groups/{group_id}",
        "DeleteCustomerGroup",
        group_routes.delete_customer_group,
    ),
    ("GET", "/v2/customers/{customer_id}", "RetrieveCustomer", customer_routes.retrieve_customer),
    ("PUT", "/v2/customers/{customer_id}", "UpdateCustomer", customer_routes.update_customer),
    ("DELETE", "/v2/customers/{customer_id}", "DeleteCustomer", customer_routes.delete_customer),
    (
        "PUT",
        "/v2/customers/{customer_id}/groups/{group_id}",
        "AddGroupToCustomer",
        customer_routes.add_group_to_customer,
    ),
    (
        "DELETE",
        "/v2/customers/{customer_id}/groups/{group_id}",
        "RemoveGroupFromCustomer",
        customer_routes.remove_group_from_customer,
    ),
)


def create_app(settings: EmulatorSettings | None = None) -> web.Application:
    """Build the emulator application; its state lives in the app under ``STATE_KEY``."""
    app = web.Application(middlewares=[square_pipeline])
    app[STATE_KEY] = EmulatorState(settings or EmulatorSettings())
    app[OPERATIONS_KEY] = {}

    for method, path, operation, handler in SQUARE_ROUTES:
        app.router.add_route(method, path, handler)
        app[OPERATIONS_KEY][handler] = operation
    admin_routes.add_admin_routes(app.router)

    app.on_startup.append(_create_shutdown_event)
    app.on_shutdown.append(_signal_shutdown)
    return app


async def _create_shutdown_event(app: web.Application) -> None:
    app[SHUTDOWN_KEY] = asyncio.Event()


async def _signal_shutdown(app: web.Application) -> None:
    # Requests held open by the hang fault end now, so shutdown does not wait for them.
    app[SHUTDOWN_KEY].set()
