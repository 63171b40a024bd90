--- What the statusline shows, and the switches that stop suggestions.
---
--- State: whether a request runs (with a spinner frame), the latency of the last
--- answer, whether suggestions are on (globally and per filetype) and a snooze
--- deadline. Each change fires `User CodegemmaStatus` and redraws the
--- statuslines, so a statusline plugin can listen instead of polling.

local M = {}

M.SPINNER = { "⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏" }
M.SPIN_MS = 100

local state = {
  running = false,
  started = 0,
  --- @type number?
  latency_ms = nil,
  enabled = true,
  --- @type table<string, boolean>
  filetypes_off = {},
  --- @type number? vim.uv.now() milliseconds until which automatic suggestions are off
  snooze_until = nil,
  frame = 1,
}
local spinner = nil

local function changed()
  vim.schedule(function()
    pcall(vim.api.nvim_exec_autocmds, "User", { pattern = "CodegemmaStatus", modeline = false })
    pcall(vim.cmd.redrawstatus, { bang = true })
  end)
end

--- A request was sent.
function M.started()
  state.running, state.started, state.frame = true, vim.uv.hrtime(), 1
  spinner = spinner or assert(vim.uv.new_timer())
  spinner:start(M.SPIN_MS, M.SPIN_MS, function()
    state.frame = state.frame % #M.SPINNER + 1
    changed()
  end)
  changed()
end

--- The request ended: answered (its latency is kept) or not (cancelled, failed).
--- @param answered boolean
function M.finished(answered)
  if not state.running then
    return
  end
  state.running = false
  if answered then
    state.latency_ms = (vim.uv.hrtime() - state.started) / 1e6
  end
  if spinner then
    spinner:stop()
  end
  changed()
end

--- Whether a request runs now.
function M.running()
  return state.running
end

--- Milliseconds the last answered request took, or nil before the first.
function M.latency_ms()
  return state.latency_ms
end

--- Turns suggestions on or off, for every filetype or only `filetype`.
--- @param on boolean
--- @param filetype string?
function M.set_enabled(on, filetype)
  if filetype and filetype ~= "" then
    state.filetypes_off[filetype] = not on or nil
  else
    state.enabled = on
    if on then
      state.filetypes_off = {}
    end
  end
  changed()
end

--- Whether suggestions are on for `filetype` (default: the current buffer's).
function M.enabled(filetype)
  return state.enabled and not state.filetypes_off[filetype or vim.bo.filetype]
end

--- No automatic suggestions for `minutes` (0 ends a snooze). A manual trigger still asks.
--- @param minutes number
function M.snooze(minutes)
  state.snooze_until = minutes > 0 and vim.uv.now() + minutes * 60000 or nil
  changed()
end

--- Minutes of snooze left (rounded up), or nil when not snoozed.
function M.snoozed()
  if not state.snooze_until then
    return nil
  end
  local left = state.snooze_until - vim.uv.now()
  if left <= 0 then
    state.snooze_until = nil
    return nil
  end
  return math.ceil(left / 60000)
end

--- The statusline text: "codegemma off", "codegemma snoozed 5 min", "codegemma ⠋" while a request runs,
--- then "codegemma 312 ms"; " hint" after the name in hint mode; " 2/3" when alternatives are shown.
--- @param mode string? the server's mode setting
--- @param current table? the suggestion shown (`codegemma.suggestion.current()`)
--- @return string
function M.line(mode, current)
  local name = mode == "hint" and "codegemma hint" or "codegemma"
  if not M.enabled() then
    return name .. " off"
  end
  local minutes = M.snoozed()
  if minutes then
    return ("%s snoozed %d min"):format(name, minutes)
  end
  local text = name
  if state.running then
    text = text .. " " .. M.SPINNER[state.frame]
  elseif state.latency_ms then
    text = ("%s %d ms"):format(text, math.floor(state.latency_ms + 0.5))
  end
  if current and current.count and current.count > 1 then
    text = ("%s %d/%d"):format(text, current.index, current.count)
  end
  return text
end

return M
