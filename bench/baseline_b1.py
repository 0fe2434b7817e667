"""Baseline B1: the plain sequential script a user would write with Square's official SDK.

For each desired row: search the customer by email, create it if missing, add it to the
group. Then list each group's members and remove those not desired. One request at a
time; the SDK's own retries on 429 and 5xx are what such a user gets.
"""

from __future__ import annotations

from collections import defaultdict

from square import Square


def run_b1(*, base_url: str, token: str, desired: list[tuple[str, str]]) -> None:
    """Sync ``desired`` (group name, email) pairs with the SDK, one request at a time."""
    client = Square(base_url=base_url, token=token)
    groups = {group.name: group.id for group in client.customers.groups.list()}

    wanted: dict[str, set[str]] = defaultdict(set)
    for group_name, email in desired:
        found = client.customers.search(query={"filter": {"email_address": {"exact": email}}})
        if found.customers:
            customer_id = found.customers[0].id
        else:
            customer_id = client.customers.create(email_address=email).customer.id
        client.customers.groups.add(customer_id=customer_id, group_id=groups[group_name])
        wanted[group_name].add(customer_id)

    for group_name, group_id in groups.items():
        members = []
        cursor = None
        while True:
            page = client.customers.search(
                limit=100,
                cursor=cursor,
                query={"filter": {"group_ids": {"any": [group_id]}}},
            )
            members.extend(customer.id for customer in page.customers or [])
            cursor = page.cursor
            if not cursor:
                break
        for customer_id in members:
            if customer_id not in wanted[group_name]:
                client.customers.groups.remove(customer_id=customer_id, group_id=group_id)
