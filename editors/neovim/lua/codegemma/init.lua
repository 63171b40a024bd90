--- Neovim client for `codegemma lsp`: inline completions as ghost text, a hint
--- command and a complete/hint mode switch.
---
---   require("codegemma").setup({
---     cmd = { "codegemma", "lsp" },
---     settings = { mode = "complete", backend = "local", max_tokens = 64 },
---     debounce_ms = 300,
---     keymaps = { accept = "<Tab>", dismiss = "<C-]>", trigger = "<M-\\>", hint = "<leader>ch",
---                 accept_word = "<M-Right>", accept_line = "<M-Down>", next = "<M-]>", prev = "<M-[>" },
---   })
---   vim.o.statusline = "%f %{v:lua.require'codegemma'.statusline()}"
---
--- One server process serves every buffer (a local model is loaded once), and
--- one suggestion exists at a time (see `codegemma.suggestion`). See
--- `:help codegemma` for the options.

local configuration = require("codegemma.config")
local ghost = require("codegemma.ghost")
local status = require("codegemma.status")
local suggestion = require("codegemma.suggestion")

local M = {}

M.HINT_COMMAND = "codegemma.hint"
M.STATS_METHOD = "codegemma/stats"
M.CURSOR_METHOD = "codegemma/cursor"

--- @type codegemma.Config?
M.config = nil

local group = vim.api.nvim_create_augroup("codegemma", { clear = true })
local timer = nil

local function client_for(bufnr)
  return vim.lsp.get_clients({ bufnr = bufnr or 0, name = suggestion.name })[1]
end

local function clients()
  return vim.lsp.get_clients({ name = suggestion.name })
end

--- Asks for a suggestion at the cursor now (what the typing pause would do).
--- @return boolean sent false when no server is attached or it is not ready yet
function M.trigger()
  if timer then
    timer:stop()
  end
  if not status.enabled() then
    vim.notify(("codegemma: suggestions are off for %s (:CodegemmaEnable)"):format(vim.bo.filetype),
      vim.log.levels.INFO)
    return false
  end
  return suggestion.request(suggestion.TRIGGER_INVOKED)
end

--- Accepts the next word of the suggestion shown; false when there is none.
function M.accept_word()
  return suggestion.accept_part("word")
end

--- Accepts the next line of the suggestion shown; false when there is none.
function M.accept_line()
  return suggestion.accept_part("line")
end

--- Shows the next alternative (asking for them with a manual trigger the first time).
function M.next()
  return suggestion.cycle(1)
end

--- Shows the previous alternative.
function M.prev()
  return suggestion.cycle(-1)
end

--- Statusline component: "codegemma ⠋" while a request runs, "codegemma 312 ms" after, "codegemma hint"
--- in hint mode, "codegemma off" / "codegemma snoozed 5 min", " 2/3" while cycling alternatives.
--- @return string
function M.statusline()
  return status.line(M.config and M.config.settings.mode, suggestion.current())
end

--- Turns suggestions on, everywhere or for one filetype.
--- @param filetype string?
function M.enable(filetype)
  status.set_enabled(true, filetype)
end

--- Turns suggestions off, everywhere or for one filetype (the suggestion shown goes).
--- @param filetype string?
function M.disable(filetype)
  status.set_enabled(false, filetype)
  suggestion.dismiss()
end

--- Turns suggestions off for `minutes` of typing pauses (default 15; 0 ends it). The trigger key still works.
--- @param minutes number?
function M.snooze(minutes)
  status.snooze(minutes or 15)
  if (minutes or 15) > 0 then
    suggestion.dismiss()
  end
end

--- Accepts the suggestion shown; false when there is none.
M.accept = suggestion.accept
--- Hides the suggestion shown and cancels the request in flight.
M.dismiss = suggestion.dismiss
--- Whether a suggestion is shown in the current buffer.
M.visible = suggestion.visible
--- The suggestion shown ({text, row, col, bufnr}) or nil.
M.current = suggestion.current

local function schedule_request()
  local config = assert(M.config)
  if not config.auto_trigger or not status.enabled() or status.snoozed() then
    return
  end
  timer = timer or assert(vim.uv.new_timer())
  timer:stop()
  local bufnr = vim.api.nvim_get_current_buf()
  timer:start(config.debounce_ms, 0, vim.schedule_wrap(function()
    if vim.api.nvim_get_current_buf() == bufnr and vim.api.nvim_get_mode().mode:sub(1, 1) == "i" then
      suggestion.request()
    end
  end))
end

local function on_insert_edit()
  if not suggestion.on_edit() then
    schedule_request()
  end
end

--- Last cursor line sent per buffer: `codegemma/cursor` goes out when the cursor lands on another line,
--- so the server can read the prompt there before a suggestion is asked for.
local cursor_lines = {}

local function send_cursor(bufnr)
  local client = client_for(bufnr)
  if not client or not client.initialized then
    return
  end
  local line = vim.api.nvim_win_get_cursor(0)[1] - 1
  if cursor_lines[bufnr] == line then
    return
  end
  cursor_lines[bufnr] = line
  client:notify(M.CURSOR_METHOD, vim.lsp.util.make_position_params(0, client.offset_encoding))
end

local function stop_timer()
  if timer then
    timer:stop()
  end
  suggestion.dismiss()
end

--- An insert-mode mapping that acts only when `active()` and otherwise types its own key.
local function map_with_fallback(bufnr, lhs, action, desc)
  vim.keymap.set("i", lhs, function()
    if not action() then
      vim.api.nvim_feedkeys(vim.keycode(lhs), "ni", false)
    end
  end, { buffer = bufnr, desc = desc })
end

local function set_keymaps(bufnr)
  local keys = assert(M.config).keymaps
  if keys.accept then
    map_with_fallback(bufnr, keys.accept, suggestion.accept, "codegemma: accept the suggestion")
  end
  if keys.dismiss then
    map_with_fallback(bufnr, keys.dismiss, function()
      local was_visible = suggestion.visible()
      suggestion.dismiss()
      return was_visible
    end, "codegemma: dismiss the suggestion")
  end
  for _, key in ipairs({
    { "accept_word", M.accept_word, "codegemma: accept the next word of the suggestion" },
    { "accept_line", M.accept_line, "codegemma: accept the next line of the suggestion" },
    { "next", M.next, "codegemma: next alternative" },
    { "prev", M.prev, "codegemma: previous alternative" },
  }) do
    if keys[key[1]] then
      map_with_fallback(bufnr, keys[key[1]], key[2], key[3])
    end
  end
  if keys.trigger then
    vim.keymap.set("i", keys.trigger, M.trigger, { buffer = bufnr, desc = "codegemma: suggest now" })
  end
  if keys.hint then
    vim.keymap.set("n", keys.hint, function()
      M.hint()
    end, { buffer = bufnr, desc = "codegemma: hint for the function at the cursor" })
  end
end

--- Starts the server (or reuses the running one) for `bufnr` and maps the keys there.
--- @return integer? client_id
function M.attach(bufnr)
  local config = assert(M.config, "codegemma: call setup() first")
  if vim.bo[bufnr].buftype ~= "" then
    return nil
  end
  if vim.fn.executable(config.cmd[1]) == 0 then
    local message = ("codegemma: %q is not executable; set cmd = { \"/path/to/codegemma\", \"lsp\" } in setup()")
      :format(config.cmd[1])
    -- Scheduled: an error raised inside the FileType autocmd would abort opening the file.
    vim.schedule(function()
      vim.notify_once(message, vim.log.levels.ERROR)
    end)
    return nil
  end
  local capabilities = vim.lsp.protocol.make_client_capabilities()
  capabilities.textDocument.inlineCompletion = { dynamicRegistration = false }
  local client_id = vim.lsp.start({
    name = suggestion.name,
    cmd = config.cmd,
    cmd_env = config.cmd_env,
    root_dir = vim.fs.root(bufnr, config.root_markers) or vim.fn.getcwd(),
    init_options = configuration.wire(config.settings),
    settings = { codegemma = configuration.wire(config.settings) },
    capabilities = capabilities,
  }, {
    bufnr = bufnr,
    -- One process for all projects: a local model should be in memory once.
    reuse_client = function(client, conf)
      return client.name == conf.name and not client:is_stopped()
    end,
  })
  if client_id then
    set_keymaps(bufnr)
  end
  return client_id
end

--- Sends changed settings to the running server(s), e.g. `M.configure({ mode = "hint" })`.
--- @param settings table keys of the server's settings (see `:help codegemma-settings`)
function M.configure(settings)
  local config = assert(M.config, "codegemma: call setup() first")
  local merged = vim.tbl_extend("force", config.settings, settings)
  local problem = configuration.check_settings(merged)
  if problem then
    vim.notify("codegemma: " .. problem, vim.log.levels.ERROR)
    return
  end
  config.settings = merged
  suggestion.dismiss()
  for _, client in ipairs(clients()) do
    client.settings = { codegemma = configuration.wire(merged) }
    client:notify("workspace/didChangeConfiguration", { settings = client.settings })
  end
end

--- Switches between "complete" and "hint" (or sets `mode`).
--- @param mode string?
function M.set_mode(mode)
  local current = assert(M.config, "codegemma: call setup() first").settings.mode or "complete"
  mode = mode or (current == "hint" and "complete" or "hint")
  M.configure({ mode = mode })
  vim.notify("codegemma: mode " .. mode, vim.log.levels.INFO)
end

--- Asks for a hint about the function at the cursor. The server shows it
--- (`window/showMessage`); `callback(result, err)` also gets `{hint = ...}`.
--- @param callback fun(result: table?, err: table?)?
--- @return boolean sent
function M.hint(callback)
  local client = client_for(0)
  if not client then
    vim.notify("codegemma: no codegemma server is attached to this buffer", vim.log.levels.WARN)
    return false
  end
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  local ok = client:request("workspace/executeCommand", {
    command = M.HINT_COMMAND,
    arguments = { { textDocument = params.textDocument, position = params.position } },
  }, function(err, result)
    if err then
      vim.notify("codegemma: hint failed: " .. (err.message or vim.inspect(err)), vim.log.levels.WARN)
    end
    if callback then
      callback(result, err)
    end
  end, vim.api.nvim_get_current_buf())
  return ok
end

--- Shows the server's counters (requests, cancelled, shown, accepted, median latency).
--- @param callback fun(stats: table?, err: table?)?
function M.stats(callback)
  local client = client_for(0) or clients()[1]
  if not client then
    vim.notify("codegemma: the server is not running", vim.log.levels.WARN)
    return
  end
  client:request(M.STATS_METHOD, vim.empty_dict(), function(err, stats)
    if callback then
      callback(stats, err)
    elseif err then
      vim.notify("codegemma: " .. (err.message or vim.inspect(err)), vim.log.levels.WARN)
    else
      local rate = stats.shown > 0 and math.floor(100 * stats.accepted / stats.shown + 0.5) or 0
      vim.notify(("codegemma: %d requests (%d cancelled), %d shown, %d accepted (%d%%), median latency %d ms")
        :format(stats.requests, stats.cancelled, stats.shown, stats.accepted, rate, stats.median_latency_ms))
    end
  end)
end

local function create_commands()
  vim.api.nvim_create_user_command("CodegemmaHint", function()
    M.hint()
  end, { desc = "codegemma: hint for the function at the cursor" })
  vim.api.nvim_create_user_command("CodegemmaMode", function(args)
    M.set_mode(args.args ~= "" and args.args or nil)
  end, {
    nargs = "?",
    complete = function()
      return { "complete", "hint" }
    end,
    desc = "codegemma: switch between complete and hint mode",
  })
  vim.api.nvim_create_user_command("CodegemmaStats", function()
    M.stats()
  end, { desc = "codegemma: completion counters" })
  local filetype = { nargs = "?", complete = "filetype" }
  vim.api.nvim_create_user_command("CodegemmaEnable", function(args)
    M.enable(args.args)
  end, vim.tbl_extend("force", filetype, { desc = "codegemma: suggestions on (everywhere, or for a filetype)" }))
  vim.api.nvim_create_user_command("CodegemmaDisable", function(args)
    M.disable(args.args)
  end, vim.tbl_extend("force", filetype, { desc = "codegemma: suggestions off (everywhere, or for a filetype)" }))
  vim.api.nvim_create_user_command("CodegemmaSnooze", function(args)
    local minutes = args.args == "" and 15 or tonumber(args.args)
    if not minutes or minutes < 0 then
      vim.notify(("codegemma: :CodegemmaSnooze takes minutes (a number, 0 ends it), not %q"):format(args.args),
        vim.log.levels.ERROR)
      return
    end
    M.snooze(minutes)
  end, { nargs = "?", desc = "codegemma: no automatic suggestions for N minutes (default 15; 0 ends it)" })
end

--- Configures the plugin and starts the server for matching buffers (open now or later).
--- @param opts table? see `codegemma.config` / `:help codegemma-setup`
function M.setup(opts)
  M.config = configuration.resolve(opts)
  vim.api.nvim_set_hl(0, ghost.hl_group, { link = "Comment", default = true })
  vim.api.nvim_clear_autocmds({ group = group })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = M.config.filetypes,
    callback = function(args)
      M.attach(args.buf)
    end,
  })
  vim.api.nvim_create_autocmd({ "TextChangedI", "CursorMovedI" }, {
    group = group,
    callback = function(args)
      if client_for(args.buf) then
        on_insert_edit()
      end
    end,
  })
  vim.api.nvim_create_autocmd({ "CursorMoved", "CursorMovedI", "BufEnter" }, {
    group = group,
    callback = function(args)
      send_cursor(args.buf)
    end,
  })
  vim.api.nvim_create_autocmd({ "InsertLeave", "BufLeave" }, { group = group, callback = stop_timer })
  vim.api.nvim_create_autocmd("LspDetach", {
    group = group,
    callback = function(args)
      local client = vim.lsp.get_client_by_id(args.data.client_id)
      if client and client.name == suggestion.name then
        suggestion.dismiss()
      end
    end,
  })
  create_commands()
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) and vim.tbl_contains(M.config.filetypes, vim.bo[bufnr].filetype) then
      M.attach(bufnr)
    end
  end
end

return M
