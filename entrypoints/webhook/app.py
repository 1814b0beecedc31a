"""The webhook's ASGI app (Starlette): ``/v1/alerts``, ``/v1/health``, ``/v1/kill``, ``/v1/resume``.

Every answer is JSON; every refusal is ``{"error": {"code", "message", "field"?}}``. An
alert is acknowledged (202) only after the inbox committed it; the same alert id again gets
200 and the first record. Bad input never reaches a 500: size (413), rate (429 with
``Retry-After``), authentication (401), JSON and alert fields (400 / 422 naming the field).

Why one module: :func:`create_app` builds the endpoints as closures over one configuration,
one set of rate buckets and one inbox writer (:mod:`entrypoints.webhook.intake`), so that
every refusal goes through the same error shape; the parsing helpers above it serve only
those endpoints.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import math
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import attrs
import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters.data.alerts import REQUIRED_ALERT_FIELDS
from adapters.sources.inbox import from_tradingview, is_tradingview
from adapters.sources.parse import parse_alert_dict
from application.inbox import Delivery, body_hash
from application.ports import INBOX_STATUSES, InboxRecord, InboxUnitOfWork
from domain.alerts import Alert
from domain.errors import DomainError, InvalidInput
from entrypoints.webhook.intake import GroupWriter, RateBuckets, SeenSignatures

log = structlog.get_logger(__name__)

__all__ = ["MAX_BODY_BYTES", "SIGNATURE_HEADER", "TIMESTAMP_HEADER", "WebhookConfig",
           "create_app", "sign"]

MAX_BODY_BYTES = 256 * 1024
SIGNATURE_HEADER = "X-Catalyst-Signature"
TIMESTAMP_HEADER = "X-Catalyst-Timestamp"
MAX_ALERT_ID = 128
MAX_BATCH = 1000


@attrs.frozen(kw_only=True)
class WebhookConfig:
    """How the intake authenticates and limits its clients.

    ``token``: the shared secret of ``Authorization: Bearer``, of the HMAC signature and of a
    TradingView body's ``passphrase`` (None: no authentication, loopback only).
    ``admin_token``: the bearer token of kill and resume (None: those answer 403).
    ``rate`` / ``burst``: each client's token bucket (requests per second, bucket size; a
    rate of 0 turns the limit off). ``max_skew``: the oldest signature timestamp accepted.
    """

    token: str | None = None
    admin_token: str | None = None
    max_body: int = MAX_BODY_BYTES
    rate: float = 50.0
    burst: int = 100
    max_skew: float = 300.0
    max_batch: int = MAX_BATCH
    source: str = "webhook"


def sign(token: str, timestamp: str, body: bytes) -> str:
    """Return the signature header value for ``body`` sent at ``timestamp`` (Unix seconds)."""
    mac = hmac.new(token.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            err["field"] = self.field
        return JSONResponse({"error": err}, status_code=self.status, headers=self.headers)


def _record_json(rec: InboxRecord) -> dict[str, Any]:
    return {"id": rec.alert_id, "status": rec.status, "reason": rec.reason,
            "received_at": rec.received_at.isoformat(), "known_at": rec.known_at.isoformat(),
            "source": rec.source, "body_hash": rec.body_hash, "run": rec.run,
            "updated_at": rec.updated_at.isoformat() if rec.updated_at else None}


def _field_of(exc: Exception, item: dict[str, Any],
              order: tuple[str, ...] = tuple(REQUIRED_ALERT_FIELDS)) -> str | None:
    if isinstance(exc, InvalidInput) or hasattr(exc, "field"):
        return str(getattr(exc, "field", None))
    msg = str(exc)
    for f in order:
        if f not in item or item[f] in (None, ""):
            return f
    for f in ("score", "sentiment", "known_at", "ticker", "catalyst_type", "id", "data"):
        if re.search(rf"\b{f}\b", msg):
            return f
    return None


#: alert fields as a TradingView body names them (for the 422 of a bad TradingView alert)
_TV_FIELDS = {"known_at": "time", "headline": "message", "sentiment": "action"}


def _parse_item(item: Any, index: int | None) -> Alert:
    where = "" if index is None else f"alerts[{index}]."
    if not isinstance(item, dict):
        raise _Refused(422, "invalid_alert", f"{where[:-1] or 'body'}: expected a JSON object, "
                       f"got {type(item).__name__}", where[:-1] or None)
    tv = is_tradingview(item)
    d: dict[str, Any] = dict(item)
    try:
        d = from_tradingview(item) if tv else d
        d.pop("passphrase", None)
        if "data" in d and d["data"] is not None and not isinstance(d["data"], dict):
            raise InvalidInput("data", d["data"], "a JSON object")
        for f in ("id", "ticker", "known_at", "catalyst_type", "headline", "source"):
            v = d.get(f)
            if v is not None and not isinstance(v, str):
                raise InvalidInput(f, v, "a string")
        ka = d.get("known_at")
        if isinstance(ka, str):
            try:
                datetime.fromisoformat(ka.strip()[:-1] + "+00:00" if ka.strip().endswith("Z")
                                       else ka.strip())
            except ValueError:
                raise InvalidInput("known_at", ka[:40], REQUIRED_ALERT_FIELDS["known_at"]
                                   ) from None
        if isinstance(d.get("id"), str) and len(d["id"]) > MAX_ALERT_ID:
            raise InvalidInput("id", d["id"][:20] + "...", f"at most {MAX_ALERT_ID} characters")
        alert = parse_alert_dict(d)
    except (ValueError, TypeError, OverflowError, DomainError) as exc:
        # a TradingView alert's id derives from its ticker and time: name those first
        field = _field_of(exc, d, ("ticker", "known_at", "score", "id") if tv
                          else tuple(REQUIRED_ALERT_FIELDS))
        if tv and field in _TV_FIELDS:
            field = _TV_FIELDS[field]
        raise _Refused(422, "invalid_alert", f"{where}{field or 'alert'}: {exc}",
                       f"{where}{field}" if field else where[:-1] or None) from None
    return alert


def create_app(
    uow_factory: Callable[[], InboxUnitOfWork],
    config: WebhookConfig,
    *,
    health: Callable[[], dict[str, Any]] | None = None,
    kill: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    resume: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    monotonic: Callable[[], float] = time.monotonic,
    wall: Callable[[], float] = time.time,
) -> Starlette:
    """Return the webhook app over a factory of units of work with an inbox.

    ``health`` returns the engine's and the risk state's part of ``GET /v1/health``;
    ``kill`` / ``resume`` carry out the admin requests (a JSON body in, a JSON result out;
    they raise :class:`domain.errors.DomainError` to refuse).
    """
    buckets = RateBuckets(config.rate, config.burst, monotonic)
    seen = SeenSignatures(config.max_skew)
    write_lock = threading.Lock()
    writer = GroupWriter(uow_factory, now)

    def client_key(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    def limit(request: Request) -> None:
        wait = buckets.take(client_key(request))
        if wait > 0:
            raise _Refused(429, "rate_limited",
                           f"too many requests: at most {config.rate:g}/s "
                           f"(burst {config.burst}) per client", None,
                           {"Retry-After": str(max(1, math.ceil(wait)))})

    async def read_body(request: Request) -> bytes:
        cl = request.headers.get("content-length")
        if cl is not None:
            try:
                n = int(cl)
            except ValueError:
                raise _Refused(400, "bad_request", f"Content-Length {cl!r}: expected an "
                               "integer") from None
            if n > config.max_body:
                raise _Refused(413, "too_large", f"body of {n} bytes: at most "
                               f"{config.max_body} bytes")
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > config.max_body:
                    raise _Refused(413, "too_large", f"body over {config.max_body} bytes")
                chunks.append(chunk)
        except ClientDisconnect:
            raise _Refused(400, "bad_request", "the client disconnected mid-body") from None
        return b"".join(chunks)

    def bearer(request: Request) -> str | None:
        h = request.headers.get("authorization")
        if h is None:
            return None
        scheme, _, value = h.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise _Refused(401, "unauthorized", "Authorization: expected 'Bearer <token>'",
                           None, {"WWW-Authenticate": "Bearer"})
        return value.strip()

    def authenticate(request: Request, body: bytes) -> bool:
        """Return True when the headers authenticate; False when none were sent."""
        token = config.token
        if token is None:
            return True
        given = bearer(request)
        if given is not None:
            if not hmac.compare_digest(given.encode(), token.encode()):
                raise _Refused(401, "unauthorized", "wrong bearer token", None,
                               {"WWW-Authenticate": "Bearer"})
            return True
        sig = request.headers.get(SIGNATURE_HEADER)
        if sig is None:
            return False
        ts = request.headers.get(TIMESTAMP_HEADER)
        if ts is None:
            raise _Refused(401, "unauthorized", f"{TIMESTAMP_HEADER}: missing (the signature "
                           "covers '<timestamp>.<body>')")
        try:
            sent = float(ts)
        except ValueError:
            raise _Refused(401, "unauthorized", f"{TIMESTAMP_HEADER} {ts[:40]!r}: expected "
                           "Unix seconds") from None
        t = wall()
        if not math.isfinite(sent) or abs(t - sent) > config.max_skew:
            raise _Refused(401, "signature_expired", f"{TIMESTAMP_HEADER}: more than "
                           f"{config.max_skew:g} s from the server's clock")
        if not hmac.compare_digest(sig.strip().encode(), sign(token, ts, body).encode()):
            raise _Refused(401, "unauthorized", f"{SIGNATURE_HEADER}: wrong signature of "
                           "'<timestamp>.<body>'")
        if not seen.first_time(sig.strip(), t):
            raise _Refused(401, "replayed", f"{SIGNATURE_HEADER}: this signature was already "
                           "used; sign each request with a fresh timestamp")
        return True

    def passphrase_ok(items: list[Any]) -> bool:
        token = config.token
        if token is None:
            return True
        for it in items:
            p = it.get("passphrase") if isinstance(it, dict) else None
            if not isinstance(p, str) or not hmac.compare_digest(p.encode(), token.encode()):
                return False
        return True

    async def post_alerts(request: Request) -> Response:
        limit(request)
        body = await read_body(request)
        authed = authenticate(request, body)
        try:
            doc = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            if not authed:
                raise _Refused(401, "unauthorized", "missing credentials: Authorization: "
                               f"Bearer, or {SIGNATURE_HEADER} with {TIMESTAMP_HEADER}", None,
                               {"WWW-Authenticate": "Bearer"}) from None
            raise _Refused(400, "bad_json", f"body is not JSON: {exc}") from None
        batch = isinstance(doc, list) or (isinstance(doc, dict) and "alerts" in doc)
        items: Any = doc.get("alerts") if isinstance(doc, dict) and batch else doc
        if batch and not isinstance(items, list):
            raise _Refused(422, "invalid_alert", "alerts: expected a JSON array", "alerts")
        listed: list[Any] = items if batch else [items]
        if not authed and not passphrase_ok(listed):
            raise _Refused(401, "unauthorized", "missing credentials: Authorization: Bearer, "
                           f"{SIGNATURE_HEADER} with {TIMESTAMP_HEADER}, or a TradingView "
                           "body's passphrase", None, {"WWW-Authenticate": "Bearer"})
        if not listed:
            raise _Refused(422, "invalid_alert", "alerts: expected at least one alert", "alerts")
        if len(listed) > config.max_batch:
            raise _Refused(422, "invalid_alert", f"alerts: {len(listed)} alerts, at most "
                           f"{config.max_batch} per request", "alerts")
        alerts = [_parse_item(it, i if batch else None) for i, it in enumerate(listed)]
        digest = body_hash(body)
        receipts = await asyncio.wrap_future(
            writer.submit(Delivery(alerts, config.source, digest)))
        created = any(r.created for r in receipts)
        results = [{**_record_json(r.record), "duplicate": not r.created} for r in receipts]
        log.info("webhook.alerts", n=len(receipts), new=sum(r.created for r in receipts))
        payload: dict[str, Any] = {"alerts": results} if batch else results[0]
        return JSONResponse(payload, status_code=202 if created else 200)

    def require_read(request: Request) -> None:
        token = config.token
        if token is None:
            return
        given = bearer(request)
        ok = given is not None and (
            hmac.compare_digest(given.encode(), token.encode())
            or (config.admin_token is not None
                and hmac.compare_digest(given.encode(), config.admin_token.encode())))
        if not ok:
            raise _Refused(401, "unauthorized", "expected Authorization: Bearer <token>", None,
                           {"WWW-Authenticate": "Bearer"})

    async def get_alert(request: Request) -> Response:
        limit(request)
        require_read(request)
        alert_id = request.path_params["alert_id"]
        with uow_factory() as u:
            rec = u.inbox.get(alert_id)
        if rec is None:
            raise _Refused(404, "not_found", f"alert {alert_id[:MAX_ALERT_ID]!r} is not in the "
                           "inbox", "id")
        return JSONResponse(_record_json(rec))

    async def get_health(request: Request) -> Response:
        limit(request)
        with uow_factory() as u:
            counts = u.inbox.counts()
        out: dict[str, Any] = {"status": "ok", "time": now().isoformat(),
                               "inbox": {s: counts.get(s, 0) for s in INBOX_STATUSES}}
        if health is not None:
            out.update(health())
        return JSONResponse(out)

    async def admin(request: Request, action: Callable[[dict[str, Any]], dict[str, Any]] | None,
                    name: str) -> Response:
        limit(request)
        if config.admin_token is None or action is None:
            raise _Refused(403, "admin_disabled", f"{name} over HTTP is off: start the server "
                           "with an admin token (CATALYST_WEBHOOK_ADMIN_TOKEN)")
        given = bearer(request)
        if given is None or not hmac.compare_digest(given.encode(), config.admin_token.encode()):
            raise _Refused(401, "unauthorized", "expected Authorization: Bearer <admin token>",
                           None, {"WWW-Authenticate": "Bearer"})
        body = await read_body(request)
        try:
            doc = json.loads(body) if body.strip() else {}
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise _Refused(400, "bad_json", f"body is not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise _Refused(422, "invalid_request", "body: expected a JSON object", "body")
        for f in ("by", "approved_by", "reason", "run"):
            if f in doc and not isinstance(doc[f], str):
                raise _Refused(422, "invalid_request", f"{f}: expected a string", f)
        if "flatten" in doc and not isinstance(doc["flatten"], bool):
            raise _Refused(422, "invalid_request", "flatten: expected true or false", "flatten")
        if name == "resume" and not str(doc.get("approved_by", "")).strip():
            raise _Refused(422, "invalid_request", "approved_by: resuming needs the name of "
                           "who approves", "approved_by")
        try:
            with write_lock:
                result = action(doc)
        except InvalidInput as exc:
            raise _Refused(422, "invalid_request", str(exc), exc.field) from None
        except DomainError as exc:
            raise _Refused(409, "refused", f"{name} refused: {exc}") from None
        return JSONResponse(result)

    async def post_kill(request: Request) -> Response:
        return await admin(request, kill, "kill")

    async def post_resume(request: Request) -> Response:
        return await admin(request, resume, "resume")

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, _Refused)
        return exc.response()

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return JSONResponse({"error": {"code": "http_" + str(exc.status_code),
                                       "message": str(exc.detail)}},
                            status_code=exc.status_code, headers=exc.headers)

    async def unavailable(request: Request, exc: Exception) -> Response:
        # the store refused (locked, unreachable): the alert was not acknowledged; retry
        log.warning("webhook.store_unavailable", error=f"{type(exc).__name__}: {exc}")
        return JSONResponse({"error": {"code": "unavailable",
                                       "message": f"the inbox is unavailable: "
                                                  f"{type(exc).__name__}; retry"}},
                            status_code=503, headers={"Retry-After": "1"})

    async def internal(request: Request, exc: Exception) -> Response:
        log.error("webhook.internal_error", error=f"{type(exc).__name__}: {exc}")
        return JSONResponse({"error": {"code": "internal", "message": "internal error"}},
                            status_code=500)

    from sqlalchemy.exc import DBAPIError  # noqa: PLC0415 - the store's driver errors

    from adapters.sqlalchemy import PersistenceError  # noqa: PLC0415 - one adapter's error type

    return Starlette(
        routes=[
            Route("/v1/alerts", post_alerts, methods=["POST"]),
            Route("/v1/alerts/{alert_id:path}", get_alert, methods=["GET"]),
            Route("/v1/health", get_health, methods=["GET"]),
            Route("/v1/kill", post_kill, methods=["POST"]),
            Route("/v1/resume", post_resume, methods=["POST"]),
        ],
        exception_handlers={_Refused: refused, HTTPException: http_error,
                            PersistenceError: unavailable, DBAPIError: unavailable,
                            Exception: internal},
    )
