"""What a client's custom fields may hold: only what DynamoDB can store, else a 400."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from chalicelib.domain.client_profile import ClientInput, ClientPatch, storable_number


@pytest.mark.parametrize(
    "value", [0, 1, -1, 2.5, -0.001, 1e125, -1e125, 1e-130, 10**40, 12345678901234567890]
)
def test_numbers_dynamodb_stores_are_accepted(value: int | float) -> None:
    assert storable_number(value)
    assert ClientInput(email="anna@example.com", fields={"n": value}).fields == {"n": value}


@pytest.mark.parametrize("value", [8.1e305, 1e126, -1e126, 1e-131, 10**39 + 1, float("inf"), float("nan")])
def test_numbers_beyond_dynamodb_are_refused(value: float) -> None:
    assert not storable_number(value)
    with pytest.raises(ValidationError, match="must be a number between"):
        ClientPatch(fields={"n": value})


def test_booleans_are_not_numbers_here() -> None:
    assert ClientInput(email="anna@example.com", fields={"b": True, "s": "x"}).fields == {"b": True, "s": "x"}


def test_the_documented_schema_states_the_rules() -> None:
    schema = ClientInput.model_json_schema()
    props = schema["properties"]
    assert props["email"]["format"] == "email"
    number = props["fields"]["additionalProperties"]["anyOf"][1]
    assert number == {"type": "number", "minimum": -1e125, "maximum": 1e125}
    assert props["tags"]["maxItems"] == 40


@pytest.mark.parametrize("field", ["email", "tags", "fields"])
def test_a_patch_cannot_null_what_every_client_has(field: str) -> None:
    # tags=null reached storage as None and gave a 500 (found by fuzzing).
    with pytest.raises(ValidationError, match=f"{field} cannot be null"):
        ClientPatch.model_validate({field: None})
    assert {"type": "null"} not in ClientPatch.model_json_schema()["properties"][field].get("anyOf", [])


def test_a_patch_may_clear_optional_fields_and_remove_one_custom_field() -> None:
    patch = ClientPatch.model_validate({"first_name": None, "fields": {"old": None}, "tags": []})
    assert patch.changes() == {"first_name": None, "fields": {"old": None}, "tags": []}
