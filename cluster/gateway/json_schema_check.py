"""Tool parameter and response schemas, checked before anything renders or compiles them.

A schema the engine's grammar compiler refuses would otherwise fail inside a replica; checking it
here names the field and keeps it from looking like a replica failure.
"""

from jsonschema.exceptions import SchemaError
from jsonschema.validators import Draft202012Validator, validator_for

from cluster.errors import InvalidRequest
from cluster.gateway.json_input import MAX_NESTING, nesting

MAX_MESSAGE_CHARS = 300  # of the validator's own message, which may quote the offending value


def check_json_schema(schema: dict, where: str) -> None:
    """Raises InvalidRequest, naming `where`, if `schema` nests too deeply or is not a JSON schema."""
    if nesting(schema, stop_at=MAX_NESTING + 1) > MAX_NESTING:
        raise InvalidRequest(f"{where}: the schema nests objects and arrays more than {MAX_NESTING} levels deep; "
                             "flatten it")
    validator = validator_for(schema, default=Draft202012Validator)
    try:
        validator.check_schema(schema)
    except SchemaError as exc:
        at = "/".join(str(part) for part in exc.path)
        message = exc.message if len(exc.message) <= MAX_MESSAGE_CHARS else exc.message[:MAX_MESSAGE_CHARS] + "…"
        raise InvalidRequest(f"{where}: not a valid JSON schema: {message}" + (f" (at /{at})" if at else "")) from None
