--- The suggestion: one `textDocument/inlineCompletion` request at a time, its
--- ghost text, and what happens when the user types, accepts or moves away.
---
--- A slow CPU model makes stale requests expensive, so a new request (or any
--- edit that does not follow the suggestion) cancels the previous one with
--- `$/cancelRequest`, and typing the characters the ghost text shows keeps it
--- instead of asking again.

local ghost = require("codegemma.ghost")

local M = {}

local REQUEST_CANCELLED = -32800
local SERVER_CANCELLED = -32802
local TRIGGER_INVOKED, TRIGGER_AUTOMATIC = 1, 2

--- @class codegemma.Pending
--- @field client vim.lsp.Client
--- @field id integer
--- @field bufnr integer

--- @class codegemma.Shown
--- @field bufnr integer
--- @field client_id integer
--- @field item table the InlineCompletionItem
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
  end
end

--- Hides the suggestion and cancels the request in flight.
function M.dismiss()
  M.cancel()
  if shown then
    ghost.clear(shown.bufnr)
    shown = nil
  end
end

--- Whether a suggestion is shown in `bufnr` (default: the current buffer).
function M.visible(bufnr)
  return shown ~= nil and shown.bufnr == (bufnr or vim.api.nvim_get_current_buf())
end

--- Whether a request is in flight.
function M.pending()
  return pending ~= nil
end

--- The suggestion shown, for statuslines and tests: {text = ..., row = ..., col = ...} or nil.
function M.current()
  return shown and { text = shown.text, row = shown.row, col = shown.col, bufnr = shown.bufnr } or nil
end

local function byte_col(bufnr, row, character, encoding)
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ""
  return vim.str_byteindex(line, encoding, character, false)
end

--- Shows `item` if it still fits the buffer: same text, same cursor, the range on the cursor line.
local function show(bufnr, client, item, row, col)
  local text = ghost.item_text(item)
  local start_col, end_col = col, col
  if item.range then
    if item.range.start.line ~= row or item.range["end"].line ~= row then
      return
    end
    start_col = byte_col(bufnr, row, item.range.start.character, client.offset_encoding)
    end_col = byte_col(bufnr, row, item.range["end"].character, client.offset_encoding)
  end
  if not text or start_col > col or end_col < col then
    return
  end
  -- A range that starts before the cursor covers text already typed: show only the rest.
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ""
  local rest = ghost.remaining(text, line:sub(start_col + 1, col))
  if not rest or rest == "" then
    return
  end
  shown = {
    bufnr = bufnr, client_id = client.id, item = item, row = row, col = col,
    text = rest, start_col = start_col, after = end_col - col,
  }
  ghost.draw(bufnr, row, col, rest)
end

--- Asks the server for a suggestion at the cursor of the current window.
--- @param kind integer? 1 = invoked by the user, 2 = automatic (default)
--- @return boolean sent
function M.request(kind)
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
    local item = ghost.first_item(result)
    if still_there and item then
      show(bufnr, client, item, cursor[1] - 1, cursor[2])
    end
  end, bufnr)
  if not ok or not request_id then
    return false
  end
  id = request_id
  pending = { client = client, id = request_id, bufnr = bufnr }
  return true
end

M.TRIGGER_INVOKED = TRIGGER_INVOKED

--- Inserts the suggestion, moves the cursor after it and runs the item's command (accept telemetry).
--- @return boolean accepted false when no suggestion is shown here
function M.accept()
  local bufnr = vim.api.nvim_get_current_buf()
  -- Keys typed ahead of the accept key have not been through the autocmds yet.
  if not M.visible(bufnr) or not M.on_edit() then
    return false
  end
  local s = assert(shown)
  M.dismiss()
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
  local client = vim.lsp.get_client_by_id(s.client_id)
  if client and s.item.command then
    client:exec_cmd(s.item.command, { bufnr = bufnr })
  end
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
    local rest = ghost.remaining(shown.text, line:sub(shown.col + 1, col))
    if rest and rest ~= "" then
      if col ~= shown.col then
        shown.text, shown.col = rest, col
        ghost.draw(bufnr, row, col, rest)
      end
      return true
    end
  end
  M.dismiss()
  return false
end

return M
