"""Alpaca's wire format as the loopback server speaks it.

Deterministic ids, decimals as strings, the ``{"code", "message"}`` error shape with Alpaca's
status codes, the readers of request fields (422 naming the field, the value and what was
expected) and the injected connection drop.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from adapters.alpaca_server import marketdata as md

NAMESPACE = uuid.UUID("8a3c1f9e-0c7b-4f0e-9b61-6f3d2f1a7c55")
ACCOUNT_ID = str(uuid.uuid5(NAMESPACE, "account"))
ACCOUNT_NUMBER = "SIMLOOPBACK1"
MAX_BODY_BYTES = 1_000_000
NINE = Decimal("0.000000001")


def uid(kind: str, value: str) -> str:
    """Return the stable UUID the server gives ``value`` of ``kind`` (order, asset, fill...)."""
    return str(uuid.uuid5(NAMESPACE, f"{kind}:{value}"))


def num_str(v: Decimal | None) -> str | None:
    """Return a decimal as Alpaca sends numbers: a plain string, None for None."""
    return None if v is None else format(v.normalize(), "f")


iso = md.iso


class ApiError(Exception):
    """An answer in Alpaca's error shape: HTTP ``status`` and body ``{code, message}``."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: int, message: str,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """Return an error in Alpaca's shape."""
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


def unprocessable(message: str) -> ApiError:
    """Return the 422 Alpaca answers to a request it understood but refuses."""
    return ApiError(422, 40010001, message)


def not_found(message: str) -> ApiError:
    """Return Alpaca's 404."""
    return ApiError(404, 40410000, message)


class Dropped(Exception):
    """Raised inside the ASGI app to make uvicorn cut a half-sent response."""


async def drop(scope: Scope, receive: Receive, send: Send) -> None:
    """Send half a response, then cut the connection."""
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"512")]})
    await send({"type": "http.response.body", "body": b'{"id": "', "more_body": True})
    raise Dropped("fault injection: connection dropped")


class DropResponse(Response):
    """A response that drops the connection half-way (an injected fault)."""

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await drop(scope, receive, send)


def frame_json(frame: Mapping[str, Any]) -> Any:
    """Return a websocket frame's JSON (text or bytes), or None when it is not JSON."""
    text = frame.get("text")
    raw = text if isinstance(text, str) else (frame.get("bytes") or b"")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def parse_dec(name: str, value: Any) -> Decimal:
    """Read a positive decimal field (numbers arrive as JSON numbers or strings)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise unprocessable(f"invalid {name} {value!r}: expected a positive number")
    try:
        d = Decimal(str(value).strip())
    except InvalidOperation:
        raise unprocessable(f"invalid {name} {value!r}: expected a positive number") from None
    if not d.is_finite() or d <= 0:
        raise unprocessable(f"invalid {name} {value!r}: expected a positive number")
    return d


def parse_price(value: Any) -> Any:
    """Read an optional price field as a string for the exchange's request to validate."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise unprocessable(f"invalid price {value!r}: expected a number")
    return str(value)


def parse_float(name: str, value: Any) -> float:
    """Read a finite, non-negative number field."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise unprocessable(f"invalid {name} {value!r}: expected a number")
    try:
        f = float(value)
    except ValueError:
        raise unprocessable(f"invalid {name} {value!r}: expected a number") from None
    if not math.isfinite(f) or f < 0:
        raise unprocessable(f"invalid {name} {value!r}: expected a finite number >= 0")
    return f


def parse_bool(name: str, value: Any) -> bool:
    """Read a boolean field or query parameter (``true``/``false``; absent is false)."""
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise unprocessable(f"invalid {name} {value!r}: expected true or false")
