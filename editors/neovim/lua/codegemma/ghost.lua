--- Ghost text: a suggestion drawn in the buffer without being part of it.
---
--- Neovim 0.11 has no inline-completion UI, so the suggestion is an extmark:
--- its first line is inline virtual text at the cursor (the rest of the real
--- line moves right, as in VS Code), the other lines are virtual lines below.
--- The text helpers are pure so they can be tested without a server.

local M = {}

M.ns = vim.api.nvim_create_namespace("codegemma.ghost")
M.hl_group = "CodegemmaGhost"

--- Replaces tabs by spaces up to the next tab stop: virtual text does not expand them.
--- @param line string
--- @param tabstop integer
--- @param start_col integer? screen column where `line` starts (0-based)
--- @return string
function M.expand_tabs(line, tabstop, start_col)
  if not line:find("\t", 1, true) then
    return line
  end
  local col = start_col or 0
  local out = {}
  for char in line:gmatch("[%z\1-\127\194-\244][\128-\191]*") do
    if char == "\t" then
      local width = tabstop - (col % tabstop)
      out[#out + 1] = string.rep(" ", width)
      col = col + width
    else
      out[#out + 1] = char
      col = col + vim.fn.strdisplaywidth(char)
    end
  end
  return table.concat(out)
end

--- Splits suggestion text into extmark pieces.
--- @param text string the text that would be inserted at the cursor
--- @param opts {hl_group: string?, tabstop: integer?, start_col: integer?}?
--- @return [string, string][] virt_text chunks for the cursor line
--- @return [string, string][][] virt_lines, one list of chunks per following line
function M.chunks(text, opts)
  opts = opts or {}
  local hl = opts.hl_group or M.hl_group
  local tabstop = opts.tabstop or 8
  local lines = vim.split(text:gsub("\r\n", "\n"), "\n", { plain = true })
  local virt_text = { { M.expand_tabs(lines[1], tabstop, opts.start_col), hl } }
  local virt_lines = {}
  for i = 2, #lines do
    virt_lines[#virt_lines + 1] = { { M.expand_tabs(lines[i], tabstop, 0), hl } }
  end
  return virt_text, virt_lines
end

--- What remains of a suggestion once the user has typed `typed` of it.
--- @param text string
--- @param typed string
--- @return string? nil when the typing does not follow the suggestion
function M.remaining(text, typed)
  if text:sub(1, #typed) ~= typed then
    return nil
  end
  return text:sub(#typed + 1)
end

--- The plain text of an `InlineCompletionItem.insertText` (a string or a snippet `StringValue`).
--- @param item table
--- @return string?
function M.item_text(item)
  local text = item.insertText
  if type(text) == "table" then
    text = text.value
  end
  if type(text) ~= "string" or text == "" then
    return nil
  end
  return text
end

--- The usable items of an inline completion result (`InlineCompletionList` or item array), in order.
--- @param result table|nil
--- @return table[]
function M.items(result)
  if type(result) ~= "table" then
    return {}
  end
  local usable = {}
  for _, item in ipairs(result.items or result) do
    if M.item_text(item) then
      usable[#usable + 1] = item
    end
  end
  return usable
end

--- The first usable item of an inline completion result (`InlineCompletionList` or item array).
--- @param result table|nil
--- @return table?
function M.first_item(result)
  return M.items(result)[1]
end

--- Draws `text` at (row, col) of `bufnr` (0-based row, byte col), replacing any ghost shown there.
--- @return integer extmark id
function M.draw(bufnr, row, col, text)
  M.clear(bufnr)
  local start_col = 0
  if bufnr == vim.api.nvim_get_current_buf() then
    local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ""
    start_col = vim.fn.strdisplaywidth(line:sub(1, col))
  end
  local virt_text, virt_lines = M.chunks(text, { tabstop = vim.bo[bufnr].tabstop, start_col = start_col })
  return vim.api.nvim_buf_set_extmark(bufnr, M.ns, row, col, {
    virt_text = virt_text,
    virt_text_pos = "inline",
    virt_lines = #virt_lines > 0 and virt_lines or nil,
    hl_mode = "combine",
    right_gravity = false,
  })
end

--- Removes the ghost text from `bufnr`.
function M.clear(bufnr)
  if vim.api.nvim_buf_is_valid(bufnr) then
    vim.api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
  end
end

--- The ghost text currently shown in `bufnr`, joined back into one string (nil when none).
--- @return string?
function M.shown(bufnr)
  local marks = vim.api.nvim_buf_get_extmarks(bufnr, M.ns, 0, -1, { details = true })
  if #marks == 0 then
    return nil
  end
  local details = marks[1][4]
  local lines = { details.virt_text and details.virt_text[1][1] or "" }
  for _, chunks in ipairs(details.virt_lines or {}) do
    lines[#lines + 1] = chunks[1] and chunks[1][1] or ""
  end
  return table.concat(lines, "\n")
end

return M
