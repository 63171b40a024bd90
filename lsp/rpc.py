"""The JSON-RPC layer under the handlers: every request gets exactly one answer, bad input a JSON-RPC error.

pygls 2 turns several kinds of bad input into an "Error in server" popup
and no answer at all, which leaves the client waiting on that id forever:
params that do not fit the method's type, a request without a method,
anything after `shutdown`. `CodegemmaProtocol.receive` takes each JSON
value the frame reader (`lsp.framing`) produces and checks it before
pygls sees it:

- not a JSON-RPC 2.0 message (not an object, wrong version, a method that
  is not a string, an id with neither method nor result): -32600 Invalid
  request, for its id when it has a readable one, else for id null;
- params that do not fit the method: -32602 Invalid params, naming the
  field (a notification with bad params is logged and dropped: it has no
  one to answer);
- a request after `shutdown`: -32600, as the LSP specification asks;
- a handler that raises `LspError` (the client asked for something we
  cannot do): -32602 with that message, not -32603 with a traceback; for a
  notification, a log line instead of a popup.

The text of open documents lives in `lsp.documents` only: pygls' own
workspace copy is not kept (it doubled the memory of every open file and
raised KeyError, shown as a popup, for an edit of a document never opened).
"""

from __future__ import annotations

import logging
from typing import Any

from cattrs import transform_error
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcInvalidRequest, JsonRpcParseError
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from lsp.errors import LspError

log = logging.getLogger(__name__)


def message_id(data: Any) -> int | str | None:
    """The id to answer `data` with: its own when it is a usable one, else null (as JSON-RPC says)."""
    if isinstance(data, dict):
        msg_id = data.get("id")
        if isinstance(msg_id, (int, str)) and not isinstance(msg_id, bool):
            return msg_id
    return None


def invalid_request(data: Any) -> str | None:
    """Why `data` is not a JSON-RPC 2.0 request, notification or response; None when it is one."""
    if not isinstance(data, dict):
        return f"a message must be a JSON object, not {type(data).__name__}"
    if data.get("jsonrpc") != "2.0":
        return f'"jsonrpc" must be "2.0", not {data.get("jsonrpc")!r}'
    if "id" in data and data["id"] is not None and message_id(data) is None:
        return f'"id" must be a number or a string, not {data["id"]!r}'
    if "method" in data:
        if not isinstance(data["method"], str):
            return f'"method" must be a string, not {data["method"]!r}'
        if data.get("params") is not None and not isinstance(data["params"], (dict, list)):
            return f'"params" must be an object or an array, not {data["params"]!r}'
        return None
    if "id" in data and ("result" in data or "error" in data):
        return None  # a response to one of our requests
    return 'a request needs a "method"' if "id" in data else "neither a request, a notification nor a response"


CANCEL_METHOD = "$/cancelRequest"


def _cancel_id_ok(params: Any) -> bool:
    msg_id = params.get("id") if isinstance(params, dict) else None
    return isinstance(msg_id, (int, str)) and not isinstance(msg_id, bool)


def _params_problem(exc: BaseException) -> str:
    cause = exc.__cause__ or exc
    try:
        found = transform_error(cause)  # type: ignore[arg-type]
    except Exception:  # not a cattrs validation error
        found = [str(cause) or type(cause).__name__]
    return "; ".join(line.replace("$.params.", "").replace("$.params", "params") for line in found)


def _to_handler(method: str) -> Any:
    """A builtin for `method` that hands the notification to our handler and keeps no copy of the text."""

    @lsp_method(method)
    def forward(self: LanguageServerProtocol, params: Any) -> Any:
        if (handler := self.fm.features.get(method)) is not None:
            yield handler, (params,), None

    return forward


class CodegemmaProtocol(LanguageServerProtocol):
    # pygls' builtins of the same names would keep the workspace copy; these replace them.
    lsp_text_document__did_open = _to_handler(types.TEXT_DOCUMENT_DID_OPEN)
    lsp_text_document__did_change = _to_handler(types.TEXT_DOCUMENT_DID_CHANGE)
    lsp_text_document__did_close = _to_handler(types.TEXT_DOCUMENT_DID_CLOSE)

    def receive(self, data: Any) -> None:
        """Handle one JSON value read from the wire."""
        msg_id = message_id(data)
        problem = invalid_request(data)
        if problem is not None:
            log.warning("invalid request (id %r): %s", msg_id, problem)
            self._send_error(msg_id, JsonRpcInvalidRequest(f"invalid request: {problem}"))
            return
        is_request = "method" in data and "id" in data
        if self._shutdown and is_request:
            self._send_error(
                msg_id, JsonRpcInvalidRequest(f"{data['method']}: the server is shut down; only exit is accepted")
            )
            return
        if data.get("method") == CANCEL_METHOD and not _cancel_id_ok(data.get("params")):
            # pygls looks the id up in a dict: a list or object id raised TypeError and ended the server.
            log.warning("$/cancelRequest ignored: params must be {id: integer or string}, got %r", data.get("params"))
            return
        if "method" in data and "params" not in data:
            # JSON-RPC allows a request without `params` (Neovim's `client:request(method)` sends none);
            # pygls 2 fails to read such a request for a method it does not know and never answers it.
            data = {**data, "params": None}
        try:
            message = self.structure_message(data)
        except JsonRpcException as exc:
            problem = f"invalid params for {data.get('method', 'a response')}: {_params_problem(exc)}"
            log.warning("%s (id %r)", problem, msg_id)
            if is_request:
                self._send_error(msg_id, JsonRpcInvalidParams(problem))
            return
        self.handle_message(message)

    def unreadable(self, reason: str) -> None:
        """A frame that is not JSON: answered with a parse error for id null."""
        self._send_error(None, JsonRpcParseError(f"parse error: {reason}"))

    def _send_error(self, msg_id: int | str | None, error: JsonRpcException) -> None:
        # Written as a plain object: lsprotocol's converter would drop `"id": null`, which JSON-RPC requires.
        self._send_data({"jsonrpc": "2.0", "id": msg_id, "error": {"code": error.code, "message": error.message}})

    def _send_handler_result(self, future: Any, *, msg_id: Any) -> None:
        if not future.cancelled() and isinstance(future.exception(), LspError):
            self._request_futures.pop(msg_id, None)
            self._send_error(msg_id, JsonRpcInvalidParams(str(future.exception())))
            return
        super()._send_handler_result(future, msg_id=msg_id)

    def _check_handler_result(self, future: Any) -> None:
        # A notification has no one to answer: one we cannot act on is logged, not shown as "Error in server".
        if not future.cancelled() and isinstance(future.exception(), LspError):
            log.warning("notification ignored: %s", future.exception())
            return
        super()._check_handler_result(future)
