--- `:checkhealth codegemma`: the usual reasons suggestions do not appear.

local M = {}

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
  for _, client in ipairs(clients) do
    if client.server_capabilities and client.server_capabilities.inlineCompletionProvider then
      health.ok(("server %d is running and offers inline completion (%s positions)")
        :format(client.id, client.offset_encoding))
    elseif not client.initialized then
      health.warn(("server %d is still starting"):format(client.id))
    else
      health.error(("server %d does not offer textDocument/inlineCompletion"):format(client.id))
    end
  end
end

return M
