"""The ``trade_updates`` WebSocket stream: authenticate, listen, then every new event."""

from __future__ import annotations

import asyncio
import json

from starlette.websockets import WebSocket, WebSocketDisconnect

from adapters.alpaca_server.core import ServerCore
from adapters.alpaca_server.wire import frame_json


class TradeStream(ServerCore):
    """Serve the stream log to WebSocket clients (with the gap and drop faults)."""

    async def _stream(self, ws: WebSocket) -> None:
        await ws.accept()
        try:
            auth = frame_json(await ws.receive())
            if not isinstance(auth, dict):
                await ws.send_bytes(json.dumps({"stream": "authorization", "data": {
                    "action": "authenticate", "status": "unauthorized",
                    "message": "first message must be a JSON authenticate action"}}).encode())
                await ws.close(code=1003)
                return
            data = auth.get("data")
            data = data if isinstance(data, dict) else {}
            ok = auth.get("action") in ("authenticate", "auth") and self._authorized(
                data.get("key_id"), data.get("secret_key"))
            await ws.send_bytes(json.dumps({"stream": "authorization", "data": {
                "action": "authenticate", "status": "authorized" if ok else "unauthorized"}}
            ).encode())
            if not ok:
                await ws.close(code=1008)
                return
            with self.lock:
                cursor = len(self._events)  # like Alpaca: only what happens from now on
            listening = False
            while True:
                try:
                    frame = await asyncio.wait_for(ws.receive(), timeout=self._stream_poll_s)
                    if frame.get("type") == "websocket.disconnect":
                        return
                    msg = frame_json(frame)
                    if not isinstance(msg, dict):
                        await ws.send_bytes(json.dumps({"stream": "listening", "data": {
                            "error": "invalid message: expected a JSON object"}}).encode())
                    elif msg.get("action") == "listen":
                        d = msg.get("data")
                        d = d if isinstance(d, dict) else {}
                        streams = [s for s in (d.get("streams") or []) if isinstance(s, str)]
                        listening = "trade_updates" in streams
                        self.stream_listeners += listening
                        await ws.send_bytes(json.dumps({"stream": "listening",
                                                        "data": {"streams": streams}}).encode())
                except TimeoutError:
                    pass
                if not listening:
                    continue
                with self.lock:
                    new, cursor = self._events[cursor:], len(self._events)
                for ev in new:
                    fault = self.faults.draw(("gap", "ws_drop"))
                    if fault == "gap":
                        continue
                    await ws.send_bytes(json.dumps(ev).encode())
                    if fault == "ws_drop":
                        await ws.close()
                        return
        except (WebSocketDisconnect, RuntimeError):
            return


