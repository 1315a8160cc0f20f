"""Validate journaled Twilio REST exchanges against Twilio's official OpenAPI specs.

A journal entry ("exchange") is one request the app sent to the local Twilio
simulator plus the simulator's answer. :meth:`TwilioSpec.validate_exchange`
checks both halves with openapi-core 0.23 and raises :class:`SpecViolation`
(an ``AssertionError``) listing every problem found.

How form parameters are handled (all by openapi-core, verified in the tests):
    The urlencoded body is parsed into a multi-dict; every schema property is
    decoded with the OpenAPI default for forms (``style: form``,
    ``explode: true``), so ``StatusCallbackEvent=a&StatusCallbackEvent=b``
    becomes ``["a", "b"]`` and a single occurrence becomes ``["a"]``. Scalars
    are cast by schema type (``"true"`` -> ``True``, ``"30"`` -> ``30``) and a
    value that cannot be cast (``Timeout=abc``) is an error. The query string is
    handled the same way for ``in: query`` parameters.

Adaptations (each one makes the check match what Twilio documents/does; none
of them turns a failing check into an automatic pass):
    1. Strict booleans: openapi-core casts ``yes/no/on/off/1/0/y/n/t/f`` to
       booleans; Twilio documents (and twilio-python sends) only ``true`` and
       ``false``, so anything else is rejected (a custom boolean caster).
    2. Unknown or repeated parameters: openapi-core silently drops form fields
       and query parameters the operation does not declare, and keeps only the
       first value of a repeated scalar. Twilio ignores unknown parameters, so
       a typo would go unnoticed; both cases are reported (disable with
       ``reject_unknown_params=False``).
    3. Every documented response property must be present: the spec marks no
       response property ``required``, but Twilio serialises every documented
       property (``null`` when unset), as the spec's own examples show, except
       in objects annotated ``@JsonInclude(JsonInclude.Include.NON_NULL)``
       (phone-number capabilities, ICE servers). When the spec is loaded,
       response schemas get ``required`` = all their properties unless so
       annotated (disable with ``require_all_properties=False``). Request
       bodies are inline schemas and are not touched.
    4. Nullable enums: Twilio returns ``null`` for unset enum properties
       (e.g. ``reason_conference_ended`` while a conference is in progress),
       but OAS 3.0 ignores ``nullable`` next to a ``$ref`` and
       openapi-schema-validator rejects ``null`` when ``enum`` lacks it. When the
       spec is loaded, enum component schemas are marked nullable and ``None``
       is appended to every nullable enum. Form and query values can never be
       JSON null, so requests are unaffected.
    5. Twilio-specific formats get permissive-but-correct checkers (see
       :data:`FORMAT_CHECKERS`); other unknown formats are ignored, as JSON
       Schema prescribes. ``endpoint`` (Calls/Participants ``From``/``To``) is
       deliberately unchecked: it also admits bare SIP user names.
       ``phone-number`` rejects alphanumeric sender ids (Messages ``From``).
    6. Security (HTTP basic auth) is not checked: the journal holds no headers.
    7. Non-2xx statuses that the spec does not document (it documents success
       codes only) must carry a Twilio error body; other undocumented statuses
       are violations.
"""

from __future__ import annotations

import email.utils
import functools
import json
import re
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import parse_qsl, urlsplit

from jsonschema_path import SchemaPath
from openapi_core.casting.schemas import oas30_casters_dict
from openapi_core.casting.schemas.casters import AnyCaster, BooleanCaster, TypesCaster
from openapi_core.casting.schemas.factories import SchemaCastersFactory
from openapi_core.datatypes import RequestParameters
from openapi_core.schema.schemas import get_properties
from openapi_core.templating.paths.exceptions import PathError
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.validation.request.exceptions import (
    MissingRequestBody,
    ParameterValidationError,
)
from openapi_core.validation.request.validators import (
    V30RequestBodyValidator,
    V30RequestParametersValidator,
)
from openapi_core.validation.response.validators import V30ResponseValidator
from openapi_core.validation.schemas import oas30_write_schema_validators_factory
from werkzeug.datastructures import Headers, ImmutableMultiDict

SPEC_DIR = Path(__file__).resolve().parents[1] / "specs" / "twilio-oai"
FORM = "application/x-www-form-urlencoded"


class SpecViolation(AssertionError):
    """An exchange does not conform to the Twilio OpenAPI spec."""


def _is_rfc2822(value: Any) -> bool:
    if not isinstance(value, str):
        return True
    try:
        email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return False
    return True


_PHONE = re.compile(
    r"\+[1-9]\d{1,14}"  # E.164
    r"|[A-Za-z][A-Za-z0-9+.-]*:\S+"  # client:alice, sip:a@b.com, whatsapp:+1..., app:AP...
    r"|\+?[\d(][\d ().-]*\d"  # national formatting, e.g. "(800) 100-0052"
)


def _is_phone(value: Any) -> bool:
    return not isinstance(value, str) or _PHONE.fullmatch(value) is not None


def _is_uri(value: Any) -> bool:
    # "" clears a URL in Twilio (e.g. WaitUrl); responses use absolute paths.
    if not isinstance(value, str) or value == "" or value.startswith("/"):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme) and not any(c.isspace() for c in value)


def _matches(pattern: str) -> Callable[[Any], bool]:
    return lambda v: not isinstance(v, str) or re.fullmatch(pattern, v) is not None


FORMAT_CHECKERS: dict[str, Callable[[Any], bool]] = {
    "date-time-rfc-2822": _is_rfc2822,
    "phone-number": _is_phone,
    "uri": _is_uri,
    "uri-map": lambda v: not isinstance(v, dict) or all(map(_is_uri, v.values())),
    "currency": _matches(r"[A-Za-z]{3}"),  # ISO 4217; Twilio also sends "usd"
    "iso-country-code": _matches(r"[A-Z]{2}"),
}


class _StrictBooleanCaster(BooleanCaster):
    """Accept only the ``true``/``false`` literals Twilio documents."""

    def validate(self, value: Any) -> None:
        if not isinstance(value, bool) and str(value).lower() not in ("true", "false"):
            raise ValueError(f"not a Twilio boolean (true/false): {value!r}")


_CASTERS = SchemaCastersFactory(
    oas30_write_schema_validators_factory,
    TypesCaster({**oas30_casters_dict, "boolean": _StrictBooleanCaster}, AnyCaster),
)


def _nullable_enums(spec: dict[str, Any]) -> None:
    """Adaptation 4 (see module docstring), in place."""
    for schema in spec.get("components", {}).get("schemas", {}).values():
        if isinstance(schema.get("enum"), list):
            schema["nullable"] = True
    stack: list[Any] = [spec]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            enum = node.get("enum")
            if node.get("nullable") is True and isinstance(enum, list) and None not in enum:
                enum.append(None)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _require_all(schema: dict[str, Any]) -> None:
    """Adaptation 3 (see module docstring), in place, for one response schema."""
    properties = schema.get("properties")
    if isinstance(properties, dict):
        # Twilio marks objects that omit unset members with Jackson's NON_NULL.
        if "NON_NULL" not in str(schema.get("x-class-extra-annotation", "")):
            schema["required"] = list(dict.fromkeys([*schema.get("required", []), *properties]))
        for sub in properties.values():
            _require_all(sub)
    subs = [schema.get("items"), *schema.get("allOf", []), *schema.get("anyOf", [])]
    for sub in [*subs, *schema.get("oneOf", [])]:
        if isinstance(sub, dict):
            _require_all(sub)


@functools.cache
def _load(spec_path: Path, require_all_properties: bool) -> SchemaPath:
    """Parse and adapt a spec file (cached: every instance shares it)."""
    spec = json.loads(spec_path.read_text())
    _nullable_enums(spec)
    if require_all_properties:  # component schemas are response models only
        response_schemas = [
            media["schema"]
            for item in spec["paths"].values()
            for operation in item.values()
            if isinstance(operation, dict)
            for response in operation.get("responses", {}).values()
            for media in response.get("content", {}).values()
            if "schema" in media
        ]
        for schema in [*spec["components"]["schemas"].values(), *response_schemas]:
            _require_all(schema)
    return SchemaPath.from_dict(spec)


class _Request:
    """openapi-core ``Request`` protocol over a journal exchange."""

    def __init__(self, host_url: str, exchange: Mapping[str, Any]) -> None:
        self.host_url = host_url
        self.path: str = exchange["path"]
        self.method: str = exchange["method"].lower()
        self.content_type: str = (exchange.get("content_type") or "").lower()
        self.body: bytes | None = (exchange.get("body") or "").encode() or None
        self.query = parse_qsl(exchange.get("query") or "", keep_blank_values=True)
        self.parameters = RequestParameters(query=ImmutableMultiDict(self.query))


class _Response:
    """openapi-core ``Response`` protocol over a journal exchange."""

    def __init__(self, exchange: Mapping[str, Any]) -> None:
        self.status_code = int(exchange["status"])
        self.content_type: str = (exchange.get("response_content_type") or "").lower()
        self.data: bytes = (exchange.get("response_body") or "").encode()
        self.headers = Headers()


def _describe(where: str, err: Exception) -> list[str]:
    """Turn an openapi-core error into short, readable lines."""
    if isinstance(err, ParameterValidationError):
        where = f"{where} {err.location} parameter {err.name!r}"
    schema_errors = getattr(err.__cause__, "schema_errors", None)
    if not schema_errors:
        return [f"{where}: {err}"]
    return [
        f"{where}: {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in schema_errors
    ]


def _twilio_error_problems(status: int, content_type: str, body: str) -> list[str]:
    """Check a non-2xx body is ``{"code", "message", "more_info", "status"}``."""
    try:
        error = json.loads(body)
    except ValueError:
        return [f"error response body is not JSON ({content_type or 'no content type'})"]
    if not isinstance(error, dict):
        return ["error response body is not a JSON object"]
    wanted = {"code": int, "message": str, "more_info": str, "status": int}
    problems = [
        f"error response body: {key!r} missing or not {typ.__name__}"
        for key, typ in wanted.items()
        if not isinstance(error.get(key), typ) or isinstance(error.get(key), bool)
    ]
    if isinstance(error.get("status"), int) and error["status"] != status:
        problems.append(f"error response body: status {error['status']} != HTTP {status}")
    return problems


def _unknown(
    where: str, pairs: list[tuple[str, str]], declared: Mapping[str, SchemaPath]
) -> list[str]:
    """Adaptation 2: undeclared names and repeated non-array values."""
    names = [name for name, _ in pairs]
    problems = []
    for name in dict.fromkeys(names):
        if name not in declared:
            problems.append(f"request {where}: undeclared parameter {name!r}")
        elif names.count(name) > 1 and (declared[name] / "type").read_str("") != "array":
            problems.append(f"request {where}: parameter {name!r} repeated but not an array")
    return problems


class TwilioSpec:
    """One Twilio OpenAPI spec, ready to validate journaled exchanges.

    The parsed spec is cached per file, so building several instances is cheap.

    Args:
        spec_path: Path of a Twilio OpenAPI 3.0 JSON file.
        server: Base URL of the API as declared in the spec's ``servers``.
        require_all_properties: Require every documented response property.
        reject_unknown_params: Report undeclared or repeated scalar parameters.
    """

    def __init__(
        self,
        spec_path: Path,
        server: str = "https://api.twilio.com",
        *,
        require_all_properties: bool = True,
        reject_unknown_params: bool = True,
    ) -> None:
        self.spec = _load(Path(spec_path).resolve(), require_all_properties)
        self.server = server
        self.reject_unknown_params = reject_unknown_params
        kwargs: dict[str, Any] = {
            "base_url": server,
            "extra_format_validators": FORMAT_CHECKERS,
        }
        self._params = V30RequestParametersValidator(
            self.spec, schema_casters_factory=_CASTERS, **kwargs
        )
        self._body = V30RequestBodyValidator(self.spec, schema_casters_factory=_CASTERS, **kwargs)
        self._response = V30ResponseValidator(self.spec, **kwargs)

    def validate_exchange(self, exchange: Mapping[str, Any]) -> None:
        """Validate one request/response exchange.

        Args:
            exchange: Dict with ``method``, ``path``, ``query``, ``content_type``,
                ``body`` (raw urlencoded text), ``status``,
                ``response_content_type`` and ``response_body``.

        Raises:
            SpecViolation: The request or the response violates the spec; the
                message names the method, the path and every problem.
        """
        problems = self.check_request(exchange) + self.check_response(exchange)
        if problems:
            query = f"?{exchange['query']}" if exchange.get("query") else ""
            lines = "\n  ".join(dict.fromkeys(problems))  # path errors come twice
            raise SpecViolation(
                f"{exchange['method'].upper()} {exchange['path']}{query} "
                f"-> {exchange.get('status')}:\n  {lines}"
            )

    def check_request(self, exchange: Mapping[str, Any]) -> list[str]:
        """List the problems of the request half of ``exchange``.

        Args:
            exchange: See :meth:`validate_exchange`.

        Returns:
            Readable problem descriptions; empty if the request is valid.
        """
        request = _Request(self.server, exchange)
        try:
            found = self._params.path_finder.find(request.method, self.server + request.path)
        except PathError as exc:
            return [f"no such operation: {exc}"]
        problems: list[str] = []
        for err in self._params.iter_errors(request):
            problems += _describe("request", err)
        form = found.operation / "requestBody" / "content" / FORM / "schema"
        for err in self._body.iter_errors(request):
            if type(err) is not MissingRequestBody:
                problems += _describe("request body", err)
            elif "required" in form:  # an empty body is an empty form
                missing = ", ".join(map(repr, (form / "required").read_value()))
                problems.append(f"request body: empty, but {missing} required")
        if not self.reject_unknown_params:
            return problems
        query = {
            (p / "name").read_str(): p / "schema"
            for where in (found.path, found.operation)
            if "parameters" in where
            for p in where / "parameters"
            if (p / "in").read_str() == "query"
        }
        problems += _unknown("query", request.query, query)
        if request.content_type.split(";")[0].strip() == FORM and request.body:
            fields = parse_qsl(request.body.decode(), keep_blank_values=True)
            problems += _unknown("body", fields, get_properties(form))
        return problems

    def check_response(self, exchange: Mapping[str, Any]) -> list[str]:
        """List the problems of the response half of ``exchange``.

        Only ``method`` and ``path`` of the request half are used (to find the
        operation).

        Args:
            exchange: See :meth:`validate_exchange`.

        Returns:
            Readable problem descriptions; empty if the response is valid.
        """
        request, response = _Request(self.server, exchange), _Response(exchange)
        problems: list[str] = []
        for err in self._response.iter_errors(request, response):
            if isinstance(err, PathError):
                problems.append(f"no such operation: {err}")
            elif isinstance(err, ResponseNotFound) and response.status_code >= 400:
                problems += _twilio_error_problems(
                    response.status_code,
                    response.content_type,
                    exchange.get("response_body") or "",
                )
            elif isinstance(err, ResponseNotFound):
                problems.append(f"response: undocumented status {response.status_code}")
            else:
                problems += _describe("response", err)
        return problems


@functools.cache
def api_v2010() -> TwilioSpec:
    """Build the validator for ``twilio_api_v2010.json`` once.

    Returns:
        The shared :class:`TwilioSpec` for https://api.twilio.com.
    """
    return TwilioSpec(SPEC_DIR / "twilio_api_v2010.json", "https://api.twilio.com")


@functools.cache
def proxy_v1() -> TwilioSpec:
    """Build the validator for ``twilio_proxy_v1.json`` once.

    Returns:
        The shared :class:`TwilioSpec` for https://proxy.twilio.com.
    """
    return TwilioSpec(SPEC_DIR / "twilio_proxy_v1.json", "https://proxy.twilio.com")
