"""The response checker: it accepts Square's own examples and reports each kind of drift."""

from __future__ import annotations

import json

import pytest

from tests.schema.validator import SPEC_PATH, SquareSchema

CUSTOMER = {"id": "JDKYHBWT1D4F8MFH63DBMEN8Y4", "given_name": "Ada", "version": 0}


def _examples() -> list[tuple[str, dict]]:
    spec = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    schemas = spec["components"]["schemas"]
    examples = []
    for methods in spec["paths"].values():
        for operation in methods.values():
            reference = operation["responses"]["200"]["content"]["application/json"]["schema"]
            name = reference["$ref"].rsplit("/", 1)[-1]
            examples.append((operation["operationId"], schemas[name]["example"]))
    return examples


@pytest.fixture(scope="module")
def schema() -> SquareSchema:
    return SquareSchema.load()


@pytest.mark.parametrize(("operation_id", "example"), _examples())
def test_spec_examples_pass(schema: SquareSchema, operation_id: str, example: dict) -> None:
    assert schema.problems(operation_id, 200, example) == []


def test_every_operation_is_known(schema: SquareSchema) -> None:
    assert len(_examples()) == 17


def test_groups_path_is_list_groups(schema: SquareSchema) -> None:
    assert schema.operation_for("GET", "/v2/customers/groups").operation_id == "ListCustomerGroups"


def test_customer_path_is_retrieve(schema: SquareSchema) -> None:
    assert schema.operation_for("GET", "/v2/customers/ABC").operation_id == "RetrieveCustomer"


def test_membership_path_is_add(schema: SquareSchema) -> None:
    operation = schema.operation_for("PUT", "/v2/customers/ABC/groups/DEF")

    assert operation.operation_id == "AddGroupToCustomer"


def test_unknown_path_raises(schema: SquareSchema) -> None:
    with pytest.raises(KeyError):
        schema.operation_for("GET", "/v2/payments")


def test_empty_object_passes(schema: SquareSchema) -> None:
    assert schema.problems("ListCustomers", 200, {}) == []


def test_wrong_type_is_reported(schema: SquareSchema) -> None:
    problems = schema.problems("RetrieveCustomer", 200, {"customer": {**CUSTOMER, "version": "0"}})

    assert len(problems) == 1
    assert "customer/version" in problems[0]


def test_unknown_enum_value_is_reported(schema: SquareSchema) -> None:
    customer = {**CUSTOMER, "creation_source": "EMULATOR"}

    problems = schema.problems("RetrieveCustomer", 200, {"customer": customer})

    assert len(problems) == 1
    assert "EMULATOR" in problems[0]


def test_undeclared_key_is_reported(schema: SquareSchema) -> None:
    problems = schema.problems("RetrieveCustomer", 200, {"customer": {**CUSTOMER, "cards": []}})

    assert "body.customer.cards is not declared by the schema" in problems


def test_undeclared_top_level_key_is_reported(schema: SquareSchema) -> None:
    problems = schema.problems("ListCustomers", 200, {"customers": [CUSTOMER], "next": "x"})

    assert problems == ["body.next is not declared by the schema"]


def test_null_value_is_reported(schema: SquareSchema) -> None:
    problems = schema.problems("RetrieveCustomer", 200, {"customer": {**CUSTOMER, "note": None}})

    assert problems == ["body.customer.note is null, but Square omits unset fields"]


def test_empty_group_ids_is_reported(schema: SquareSchema) -> None:
    customer = {**CUSTOMER, "group_ids": []}

    problems = schema.problems("RetrieveCustomer", 200, {"customer": customer})

    assert problems == [
        "body.customer.group_ids is an empty list, but Square omits empty collections"
    ]


def test_empty_list_page_is_reported(schema: SquareSchema) -> None:
    problems = schema.problems("ListCustomers", 200, {"customers": []})

    assert problems == ["body.customers is an empty list, but Square omits empty collections"]


def test_map_values_are_checked(schema: SquareSchema) -> None:
    body = {"responses": {"ABC": {"customer": {**CUSTOMER, "extra": 1}}}}

    problems = schema.problems("BulkRetrieveCustomers", 200, body)

    assert problems == ["body.responses['ABC'].customer.extra is not declared by the schema"]


def test_errors_in_200_are_reported(schema: SquareSchema) -> None:
    body = {"errors": [{"category": "API_ERROR", "code": "INTERNAL_SERVER_ERROR"}]}

    problems = schema.problems("ListCustomers", 200, body)

    assert problems == ["body.errors is present in a 200 response"]


def test_error_body_passes(schema: SquareSchema) -> None:
    body = {
        "errors": [
            {
                "category": "INVALID_REQUEST_ERROR",
                "code": "NOT_FOUND",
                "detail": "Customer with ID `ABC` not found.",
                "field": "customer_id",
            }
        ]
    }

    assert schema.problems("RetrieveCustomer", 404, body) == []


def test_error_without_code_is_reported(schema: SquareSchema) -> None:
    body = {"errors": [{"category": "INVALID_REQUEST_ERROR", "detail": "x"}]}

    problems = schema.problems("RetrieveCustomer", 404, body)

    assert len(problems) == 1
    assert "'code' is a required property" in problems[0]


def test_unknown_error_code_is_reported(schema: SquareSchema) -> None:
    body = {"errors": [{"category": "INVALID_REQUEST_ERROR", "code": "VERSION_MISMATCH"}]}

    problems = schema.problems("UpdateCustomer", 400, body)

    assert len(problems) == 1
    assert "VERSION_MISMATCH" in problems[0]


def test_error_extra_key_is_reported(schema: SquareSchema) -> None:
    body = {"errors": [{"category": "API_ERROR", "code": "INTERNAL_SERVER_ERROR", "message": "x"}]}

    problems = schema.problems("ListCustomers", 500, body)

    assert problems == ["body.errors[0].message is not declared by the schema"]


def test_error_body_without_errors_is_reported(schema: SquareSchema) -> None:
    problems = schema.problems("ListCustomers", 500, {"message": "boom"})

    assert "<root>: 'errors' is a required property" in problems


def test_check_raises_with_problems(schema: SquareSchema) -> None:
    with pytest.raises(AssertionError, match=r"body\.customers is an empty list"):
        schema.check("ListCustomers", 200, {"customers": []})
