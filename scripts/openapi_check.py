"""Checks the server's OpenAPI document with real validators; run by server/tests/openapi.rs.

  openapi_check.py spec DOC.json
      Validates DOC as OpenAPI 3.1 with openapi-spec-validator (the 3.1 meta-schema, then
      every reference and parameter rule). Prints {"valid": true} or {"valid": false, "error": ...}.

  openapi_check.py responses DOC.json RECORDS.json
      RECORDS is a list of real responses, {"method", "path" (the template), "status",
      "content_type", "body"}. Each must be documented (path, method, status, media type) and a
      JSON body must validate against the document's schema for it (JSON Schema 2020-12,
      `jsonschema`). Prints {"checked": N, "failures": [{"index": i, "error": "..."}]}.

Always exits 0 when it could run, so the caller sees every failure and decides.
"""

import json
import sys

import jsonschema
from openapi_spec_validator import OpenAPIV31SpecValidator, validate


def check_spec(doc):
    try:
        validate(doc, cls=OpenAPIV31SpecValidator)
    except Exception as e:  # the validator's own error types; any of them means invalid
        return {"valid": False, "error": f"{type(e).__name__}: {e}"[:2000]}
    return {"valid": True}


def pointer(*parts):
    return "#/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def check_response(doc, record):
    operation = doc.get("paths", {}).get(record["path"], {}).get(record["method"].lower())
    if operation is None:
        return f"{record['method']} {record['path']} is not in the document"
    status = str(record["status"])
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
    # The response schema, validated with the whole document as its root so that every
    # "#/components/schemas/..." reference resolves; other top-level keys are unknown keywords
    # to JSON Schema and are ignored.
    root = dict(doc)
    root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    root["$ref"] = pointer("paths", record["path"], record["method"].lower(), "responses", status,
                           "content", media, "schema")
    validator = jsonschema.Draft202012Validator(root, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(record["body"]), key=lambda e: list(e.absolute_path))
    if errors:
        return "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)[:2000]
    return None


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
