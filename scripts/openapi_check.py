"""Checks the server's OpenAPI document with real validators; run by server/tests/openapi.rs.

  openapi_check.py spec DOC.json
      Validates DOC as OpenAPI 3.1 with openapi-spec-validator (the 3.1 meta-schema, then
      every reference and parameter rule). Prints {"valid": true} or {"valid": false, "error": ...}.

  openapi_check.py responses DOC.json RECORDS.json
      RECORDS is a list of real responses, {"method", "path" (the template), "status",
      "content_type", "body"}. Each must be documented (path, method, status, media type) and a
      JSON body must validate against the document's schema for it (JSON Schema 2020-12,
      `jsonschema`); a "request" body the server took (2xx) must match the request schema. Prints {"checked": N, "failures": [{"index": i, "error": "..."}]}.

Always exits 0 when it could run, so the caller sees every failure and decides.
"""

import json
import sys

import jsonschema
from openapi_spec_validator import OpenAPIV31SpecValidator
from openapi_spec_validator import validate as validate_spec


def check_spec(doc):
    try:
        validate_spec(doc, cls=OpenAPIV31SpecValidator)
    except Exception as e:  # the validator's own error types; any of them means invalid
        return {"valid": False, "error": f"{type(e).__name__}: {e}"[:2000]}
    return {"valid": True}


def pointer(*parts):
    return "#/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def validate(doc, target, instance):
    """Errors of `instance` against the schema at JSON pointer `target` of the document."""
    # The document itself is the root, so every "#/components/schemas/..." reference resolves;
    # its other top-level keys are unknown keywords to JSON Schema and are ignored.
    root = dict(doc)
    root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    root["$ref"] = target
    validator = jsonschema.Draft202012Validator(root, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    return "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)[:2000] or None


def check_response(doc, record):
    method = record["method"].lower()
    operation = doc.get("paths", {}).get(record["path"], {}).get(method)
    if operation is None:
        return f"{record['method']} {record['path']} is not in the document"
    status = str(record["status"])
    # A request the server took must match the documented request body.
    if record.get("request") is not None and status.startswith("2"):
        if "requestBody" not in operation:
            return "a body was accepted, but the operation documents none"
        error = validate(doc, pointer("paths", record["path"], method, "requestBody", "content",
                                      "application/json", "schema"), record["request"])
        if error:
            return f"request: {error}"
    response = operation.get("responses", {}).get(status)
    if response is None:
        return f"status {status} of {record['method']} {record['path']} is not documented"
    content = response.get("content")
    if not content:
        if record["body"] not in (None, ""):
            return f"status {status} is documented without a body, but one came"
        return None
    media = (record.get("content_type") or "").split(";")[0].strip()
    if media not in content:
        return f"media type {media!r} is not documented for status {status} (documented: {sorted(content)})"
    if media != "application/json":
        return None
    return validate(doc, pointer("paths", record["path"], method, "responses", status, "content", media, "schema"),
                    record["body"])


def main(argv):
    if len(argv) >= 3 and argv[1] == "spec":
        with open(argv[2]) as f:
            result = check_spec(json.load(f))
    elif len(argv) >= 4 and argv[1] == "responses":
        with open(argv[2]) as f:
            doc = json.load(f)
        with open(argv[3]) as f:
            records = json.load(f)
        failures = []
        for i, record in enumerate(records):
            error = check_response(doc, record)
            if error:
                failures.append({"index": i, "error": error})
        result = {"checked": len(records), "failures": failures}
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
