--- The suggestion: one `textDocument/inlineCompletion` request at a time, its
--- ghost text, and what happens when the user types, accepts or moves away.
---
--- A slow CPU model makes stale requests expensive, so a new request (or any
--- edit that does not follow the suggestion) cancels the previous one with
--- `$/cancelRequest`, and typing the characters the ghost text shows keeps it
--- instead of asking again.
---
--- A manual trigger may bring alternatives (the server's `alternatives` setting);
--- `cycle` steps through them, and asks for them with a manual trigger when the
--- suggestion came from a typing pause. What becomes of each shown item goes to
--- the server as `codegemma/event` (accepted, partial, dismissed, typed_over).

local ghost = require("codegemma.ghost")
local partial = require("codegemma.partial")
local status = require("codegemma.status")

local M = {}

local REQUEST_CANCELLED = -32800
local SERVER_CANCELLED = -32802
local TRIGGER_INVOKED, TRIGGER_AUTOMATIC = 1, 2
M.EVENT_METHOD = "codegemma/event"
M.ACCEPTED_COMMAND = "codegemma.accepted"

--- @class codegemma.Pending
--- @field client vim.lsp.Client
--- @field id integer
--- @field bufnr integer

--- @class codegemma.Shown
--- @field bufnr integer
--- @field client_id integer
--- @field item table the InlineCompletionItem shown
--- @field items table[] every usable item of the answer (alternatives), `item` among them
--- @field index integer position of `item` in `items`
--- @field invoked boolean the answer was to a manual trigger (so it holds every alternative)
--- @field kept string what partial accepts have inserted of `item` so far
--- @field row integer 0-based row of the cursor when shown
--- @field col integer byte column of the cursor (moves while the user types the suggestion)
--- @field text string what is still to be inserted after the cursor
--- @field start_col integer byte column where the item's range starts
--- @field after integer bytes after the cursor that the item replaces

--- @type codegemma.Pending?
local pending = nil
--- @type codegemma.Shown?
local shown = nil

M.name = "codegemma"

local function client_for(bufnr)
  return vim.lsp.get_clients({ bufnr = bufnr, name = M.name })[1]
end

local function in_insert_mode()
  return vim.api.nvim_get_mode().mode:sub(1, 1) == "i"
end

--- Cancels the request in flight, if any.
function M.cancel()
  if pending then
    if not pending.client:is_stopped() then
      pending.client:cancel_request(pending.id)
    end
    pending = nil
    status.finished(false)
  end
end

--- The id the server gave `item` (the argument of its accept command), or nil.
local function item_id(item)
  local command = item and item.command
  if command and command.command == M.ACCEPTED_COMMAND and command.arguments then
    local id = command.arguments[1]
    return type(id) == "string" and id or nil
  end
  return nil
end

--- Tells the server what became of the shown item: kind is accepted, partial, dismissed or typed_over.
local function report(s, kind, accepted, typed)
  local id = item_id(s.item)
  local client = vim.lsp.get_client_by_id(s.client_id)
  if id and client and not client:is_stopped() then
    client:notify(M.EVENT_METHOD, { item = id, kind = kind, accepted = accepted or "", typed = typed or "" })
  end
end

--- Hides the suggestion (reporting `kind` unless nil) and cancels the request in flight.
local function hide(kind, typed)
  M.cancel()
  if shown then
    local s = shown
    ghost.clear(s.bufnr)
    shown = nil
    -- After a partial accept the item has had its event; leaving the rest is not a dismissal of it.
    if kind and s.kept == "" then
      report(s, kind, "", typed)
    end
  end
end

--- Hides the suggestion and cancels the request in flight.
function M.dismiss()
  hide("dismissed")
end

--- Whether a suggestion is shown in `bufnr` (default: the current buffer).
function M.visible(bufnr)
  return shown ~= nil and shown.bufnr == (bufnr or vim.api.nvim_get_current_buf())
end

--- Whether a request is in flight.
function M.pending()
  return pending ~= nil
end

--- The suggestion shown, for statuslines and tests: {text, row, col, bufnr, index, count} or nil.
function M.current()
  return shown and {
    text = shown.text, row = shown.row, col = shown.col, bufnr = shown.bufnr, index = shown.index,
    count = #shown.items,
  } or nil
end

local function byte_col(bufnr, row, character, encoding)
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ""
  return vim.str_byteindex(line, encoding, character, false)
end

--- Where `item` would show at (row, col): {text = rest, start_col, after}, or nil when it no longer fits
--- the buffer (same text, same cursor, the range on the cursor line).
local function fit(bufnr, client, item, row, col)
  local text = ghost.item_text(item)
  local start_col, end_col = col, col
  if item.range then
    if item.range.start.line ~= row or item.range["end"].line ~= row then
      return nil
    end
    start_col = byte_col(bufnr, row, item.range.start.character, client.offset_encoding)
    end_col = byte_col(bufnr, row, item.range["end"].character, client.offset_encoding)
  end
  if not text or start_col > col or end_col < col then
    return nil
  end
  -- A range that starts before the cursor covers text already typed: show only the rest.
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ""
  local rest = ghost.remaining(text, line:sub(start_col + 1, col))
  if not rest or rest == "" then
    return nil
  end
  return { text = rest, start_col = start_col, after = end_col - col }
end

--- Shows the `index`-th of `items` that fits (counting on to the next ones when it does not).
local function show(bufnr, client, items, index, row, col, invoked)
  for step = 0, #items - 1 do
    local i = (index - 1 + step) % #items + 1
    local place = fit(bufnr, client, items[i], row, col)
    if place then
      shown = {
        bufnr = bufnr, client_id = client.id, item = items[i], items = items, index = i, invoked = invoked,
        row = row, col = col, text = place.text, start_col = place.start_col, after = place.after, kept = "",
      }
      ghost.draw(bufnr, row, col, place.text)
      return
    end
  end
end

--- Asks the server for a suggestion at the cursor of the current window.
--- @param kind integer? 1 = invoked by the user, 2 = automatic (default)
--- @param index integer? which alternative to show first (default 1, the server's best)
--- @return boolean sent
function M.request(kind, index)
  M.dismiss()
  local bufnr = vim.api.nvim_get_current_buf()
  local client = client_for(bufnr)
  if not client or not client.initialized or vim.fn.pumvisible() == 1 then
    return false
  end
  if not client:supports_method("textDocument/inlineCompletion") then
    vim.notify_once("codegemma: the server does not offer textDocument/inlineCompletion", vim.log.levels.WARN)
    return false
  end
  local win = vim.api.nvim_get_current_win()
  local cursor = vim.api.nvim_win_get_cursor(win)
  local params = vim.lsp.util.make_position_params(win, client.offset_encoding)
  params.context = { triggerKind = kind or TRIGGER_AUTOMATIC }
  local tick = vim.api.nvim_buf_get_changedtick(bufnr)
  local id
  local ok, request_id = client:request("textDocument/inlineCompletion", params, function(err, result)
    if not pending or pending.id ~= id then
      return -- superseded or cancelled
    end
    pending = nil
    status.finished(not err)
    if err then
      if err.code ~= REQUEST_CANCELLED and err.code ~= SERVER_CANCELLED then
        vim.notify("codegemma: " .. (err.message or vim.inspect(err)), vim.log.levels.WARN)
      end
      return
    end
    local still_there = vim.api.nvim_get_current_buf() == bufnr
      and vim.api.nvim_buf_get_changedtick(bufnr) == tick
      and vim.deep_equal(vim.api.nvim_win_get_cursor(0), cursor)
      and in_insert_mode()
    local items = ghost.items(result)
    if still_there and #items > 0 then
      show(bufnr, client, items, math.min(index or 1, #items), cursor[1] - 1, cursor[2], kind == TRIGGER_INVOKED)
    end
  end, bufnr)
  if not ok or not request_id then
    return false
  end
  id = request_id
  pending = { client = client, id = request_id, bufnr = bufnr }
  status.started()
  return true
end

--- Shows the next (`step` 1) or previous (-1) alternative. A suggestion from a typing pause has no
--- alternatives yet: they are asked for with a manual trigger, and the next of them is shown.
--- @param step integer
--- @return boolean cycled false when no suggestion is shown here
function M.cycle(step)
  if not M.visible() or not M.on_edit() then
    return false
  end
  local s = assert(shown)
  if not s.invoked then
    hide(nil) -- replaced by the alternatives (the first of which is usually the same text), not dismissed
    return M.request(TRIGGER_INVOKED, step > 0 and 2 or 0)
  end
  if #s.items < 2 then
    return true
  end
  local client = vim.lsp.get_client_by_id(s.client_id)
  if not client then
    return false
  end
  -- The one left behind was shown and not taken.
  hide("dismissed")
  show(s.bufnr, client, s.items, (s.index - 1 + step) % #s.items + 1, s.row, s.col, true)
  return true
end

M.TRIGGER_INVOKED = TRIGGER_INVOKED

--- Runs the item's accept command and reports the whole item as accepted.
local function accepted(s, bufnr)
  local client = vim.lsp.get_client_by_id(s.client_id)
  if client and s.item.command then
    client:exec_cmd(s.item.command, { bufnr = bufnr })
  end
  report(s, "accepted", ghost.item_text(s.item))
end

--- Inserts the next word (`how` = "word") or line ("line") of the suggestion and keeps the rest shown.
--- Taking the last piece is a full accept.
--- @param how "word"|"line"
--- @return boolean accepted false when no suggestion is shown here
function M.accept_part(how)
  local bufnr = vim.api.nvim_get_current_buf()
  if not M.visible(bufnr) or not M.on_edit() then
    return false
  end
  local s = assert(shown)
  local piece = (how == "line" and partial.next_line or partial.next_word)(s.text)
  if piece == s.text then
    return M.accept()
  end
  local lines = vim.split(piece, "\n", { plain = true })
  vim.api.nvim_buf_set_text(bufnr, s.row, s.col, s.row, s.col, lines)
  local row = s.row + #lines - 1
  local col = (#lines == 1 and s.col or 0) + #lines[#lines]
  vim.api.nvim_win_set_cursor(0, { row + 1, col })
  s.kept = s.kept .. piece
  s.text = s.text:sub(#piece + 1)
  if row ~= s.row then -- the item's range was on the old line; what is left starts at the new cursor
    s.start_col = 0
  end
  s.row, s.col = row, col
  ghost.draw(bufnr, row, col, s.text)
  report(s, "partial", piece)
  return true
end

--- Inserts the suggestion, moves the cursor after it and runs the item's command (accept telemetry).
--- @return boolean accepted false when no suggestion is shown here
function M.accept()
  local bufnr = vim.api.nvim_get_current_buf()
  -- Keys typed ahead of the accept key have not been through the autocmds yet.
  if not M.visible(bufnr) or not M.on_edit() then
    return false
  end
  local s = assert(shown)
  hide(nil)
  local row, col = s.row, s.col
  -- What was typed since the item arrived is part of its text: replace from the range start.
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ""
  local text = line:sub(s.start_col + 1, col) .. s.text
  local end_col = math.min(col + s.after, #line)
  local lines = vim.split(text, "\n", { plain = true })
  vim.api.nvim_buf_set_text(bufnr, row, s.start_col, row, end_col, lines)
  local last_row = row + #lines - 1
  local last_col = (#lines == 1 and s.start_col or 0) + #lines[#lines]
  vim.api.nvim_win_set_cursor(0, { last_row + 1, last_col })
  accepted(s, bufnr)
  return true
end

--- Called on every insert-mode edit or cursor move: keeps a suggestion the user is
--- typing along, drops it otherwise.
--- @return boolean kept
function M.on_edit()
  if not shown then
    M.cancel()
    return false
  end
  local bufnr = vim.api.nvim_get_current_buf()
  local row, col = unpack(vim.api.nvim_win_get_cursor(0))
  row = row - 1
  if bufnr == shown.bufnr and row == shown.row and col >= shown.col then
    local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ""
    local typed = line:sub(shown.col + 1, col)
    local rest = ghost.remaining(shown.text, typed)
    if rest and rest ~= "" then
      if col ~= shown.col then
        shown.text, shown.col = rest, col
        ghost.draw(bufnr, row, col, rest)
      end
      return true
    end
    if rest == "" then -- typed to its end: as good as accepted
      local s = assert(shown)
      hide(nil)
      accepted(s, bufnr)
      return false
    end
    hide("typed_over", typed)
    return false
  end
  M.dismiss()
  return false
end

return M
