--- `:checkhealth codegemma`: the usual reasons suggestions do not appear.

local M = {}

--- One line on the completion backend: its kind and what the server's counters say about it.
function M.backend_state(client, settings)
  local backend = (settings.backend or "local") .. (settings.url and (" at " .. settings.url) or "")
  local answer, err = client:request_sync(require("codegemma").STATS_METHOD, vim.empty_dict(), 2000, 0)
  local stats = answer and answer.result
  if not stats then
    local why = err or (answer and answer.err and answer.err.message) or "no answer"
    vim.health.warn(("backend %s: the server did not answer codegemma/stats (%s)"):format(backend, why))
  elseif stats.requests == 0 then
    vim.health.info(("backend %s: no request yet (a local model loads on the first)"):format(backend))
  else
    vim.health.ok(("backend %s: %d requests (%d cancelled), median latency %d ms, %d running, %d shown, %d accepted")
      :format(backend, stats.requests, stats.cancelled, stats.median_latency_ms, stats.running or 0, stats.shown,
        stats.accepted))
  end
end

function M.check()
  local health = vim.health
  health.start("codegemma")
  if vim.fn.has("nvim-0.11") == 1 then
    health.ok("Neovim " .. tostring(vim.version()))
  else
    health.error("Neovim 0.11 or newer is needed (vim.lsp Client methods, vim.str_byteindex encodings)")
  end
  local config = require("codegemma").config
  if not config then
    health.error("setup() was not called", { 'require("codegemma").setup({})' })
    return
  end
  local executable = vim.fn.exepath(config.cmd[1])
  if executable ~= "" then
    health.ok(("server command: %s"):format(table.concat(vim.list_extend({ executable }, config.cmd, 2), " ")))
  else
    health.error(("%q is not executable"):format(config.cmd[1]), {
      "install codegemma-fim (pip install -e .) or set cmd = { \"/path/to/codegemma\", \"lsp\" }",
    })
  end
  health.info("settings: " .. vim.inspect(config.settings, { newline = " ", indent = "" }))
  local clients = vim.lsp.get_clients({ name = "codegemma" })
  if #clients == 0 then
    health.warn("no server running: open a file of one of these filetypes: " .. table.concat(config.filetypes, ", "))
    return
  end
  local status = require("codegemma.status")
  local minutes = status.snoozed()
  if not status.enabled("") then
    health.warn("suggestions are off (:CodegemmaEnable)")
  elseif minutes then
    health.info(("suggestions are snoozed for %d more min (:CodegemmaSnooze 0 ends it)"):format(minutes))
  end
  for _, client in ipairs(clients) do
    if client.server_capabilities and client.server_capabilities.inlineCompletionProvider then
      health.ok(("server %d is running and offers inline completion (%s positions)")
        :format(client.id, client.offset_encoding))
      M.backend_state(client, config.settings)
    elseif not client.initialized then
      health.warn(("server %d is still starting"):format(client.id))
    else
      health.error(("server %d does not offer textDocument/inlineCompletion"):format(client.id))
    end
  end
end

return M
