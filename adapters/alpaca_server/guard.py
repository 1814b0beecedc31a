"""What every request passes before an endpoint runs.

Credentials, the per-key rate limit (a token bucket), the body-size limit, seeded REST faults
before and after the endpoint, and the mapping of errors to Alpaca's status codes. ``/_sim``
control endpoints have their own, lighter guard.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import attrs
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from adapters.alpaca_server import marketdata as md
from adapters.alpaca_server.core import ServerCore
from adapters.alpaca_server.faults import REST_AFTER, REST_BEFORE
from adapters.alpaca_server.wire import ApiError, DropResponse, error_response
from domain.errors import DomainError


@attrs.define
class Bucket:
    """A token bucket of ``per_minute`` requests (Alpaca: 200 a minute per account)."""

    per_minute: int
    tokens: float = attrs.field(init=False)
    stamp: float = attrs.field(init=False, factory=time.monotonic)

    def __attrs_post_init__(self) -> None:
        self.tokens = float(self.per_minute)

    def take(self) -> tuple[bool, int, int]:
        """Spend one request; return ``(allowed, remaining, seconds until full)``."""
        now = time.monotonic()
        rate = self.per_minute / 60.0
        self.tokens = min(float(self.per_minute), self.tokens + (now - self.stamp) * rate)
        self.stamp = now
        ok = self.tokens >= 1.0
        if ok:
            self.tokens -= 1.0
        reset = int((self.per_minute - self.tokens) / rate) + 1
        return ok, int(self.tokens), reset


class RequestGuard(ServerCore):
    """Wrap endpoints with authentication, limits, fault injection and error mapping."""


    async def _http_error(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 404:
            return error_response(404, 40410000, f"endpoint not found: {request.method} "
                        f"{request.url.path}")
        if status == 405:
            return error_response(405, 40510000, f"method {request.method} not allowed on "
                        f"{request.url.path}")
        return error_response(status, status * 100000, str(getattr(exc, "detail", "error")))

    async def _internal_error(self, request: Request, exc: Exception) -> Response:
        return error_response(500, 50010000, f"internal server error: {type(exc).__name__}")

    def _authorized(self, key: str | None, secret: str | None) -> bool:
        if not key or not secret:
            return False
        if self._key is None:
            return True
        return key == self._key and secret == self._secret

    async def _read_body(self, request: Request) -> bytes:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            raise ApiError(413, 41310000, f"request body too large ({length} bytes, at most "
                           f"{self.max_body})")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body:
                raise ApiError(413, 41310000, f"request body too large (over {self.max_body} "
                               "bytes)")
            chunks.append(chunk)
        return b"".join(chunks)

    def _rate_check(self, key: str) -> tuple[dict[str, str], bool]:
        if self.rate_limit is None:
            return {}, True
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket(self.rate_limit)
        ok, left, reset = bucket.take()
        headers = {"X-RateLimit-Limit": str(self.rate_limit),
                   "X-RateLimit-Remaining": str(left),
                   "X-RateLimit-Reset": str(int(time.time()) + reset)}
        return headers, ok

    def _handler(
        self, fn: Callable[[Request], Response], *, write: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            self.requests += 1
            key = request.headers.get("APCA-API-KEY-ID")
            if not self._authorized(key, request.headers.get("APCA-API-SECRET-KEY")):
                return error_response(401, 40110000, "request is not authorized")
            headers, allowed = self._rate_check(key or "")
            if not allowed:
                return error_response(429, 42910000, "rate limit exceeded", headers)
            faultable = (self.faults.all_paths or request.url.path not in ("/v2/account",
                                                                           "/v2/clock")) and \
                (self.faults.only is None or self.faults.only == request.method)
            order_read = request.method == "GET" and \
                request.url.path.startswith(("/v2/orders:", "/v2/orders/"))
            kinds = REST_BEFORE if order_read else tuple(k for k in REST_BEFORE
                                                          if k != "stale_404")
            fault = self.faults.draw(kinds) if faultable else None
            if fault == "stale_404":
                return error_response(404, 40410000, "order not found")
            if fault == "429":
                return error_response(429, 42910000, "rate limit exceeded")
            if fault in ("500", "503"):
                return error_response(int(fault), 50010000, "internal server error")
            if fault == "drop":
                return DropResponse()
            if fault == "delay_before":
                await asyncio.sleep(self.faults.delay)
            try:
                if request.method in ("POST", "PATCH", "PUT"):
                    request.state.body = await self._read_body(request)
                with self.lock:
                    self._tick_clock()
                    response = fn(request)
            except ApiError as exc:
                return error_response(exc.status, exc.code, exc.message, headers)
            except md.BadParam as exc:
                return error_response(400, 40010000, str(exc), headers)
            except (DomainError, ValueError, TypeError, KeyError, ArithmeticError) as exc:
                return error_response(422, 40010001, str(exc), headers)
            response.headers.update(headers)
            after = self.faults.draw(REST_AFTER) if faultable and write else None
            if after in ("500_after", "504_after"):
                return error_response(int(after[:3]), 50010000, "gateway timeout" if after[:3] == "504"
                            else "internal server error")
            if after == "delay_after":
                await asyncio.sleep(self.faults.delay)
            if after == "drop_after":
                return DropResponse()
            return response

        return endpoint

    def _control(self, fn: Callable[[Request], Awaitable[Response]]
                 ) -> Callable[[Request], Awaitable[Response]]:
        """Guard a ``/_sim`` endpoint: the API key when one is set, and the control token."""
        async def endpoint(request: Request) -> Response:
            if self._key is not None and not self._authorized(
                    request.headers.get("APCA-API-KEY-ID"),
                    request.headers.get("APCA-API-SECRET-KEY")):
                return error_response(401, 40110000, "request is not authorized")
            if self.control_token is not None and \
                    request.headers.get("X-Sim-Control-Token") != self.control_token:
                return error_response(403, 40310000, "X-Sim-Control-Token missing or wrong")
            try:
                if request.method == "POST":
                    request.state.body = await self._read_body(request)
                return await fn(request)
            except ApiError as exc:
                return error_response(exc.status, exc.code, exc.message)
            except (ValueError, TypeError, KeyError, ArithmeticError, DomainError) as exc:
                return error_response(422, 40010001, str(exc))

        return endpoint

