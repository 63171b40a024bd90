--- Options of `require("codegemma").setup()`, their defaults and their checks.
---
--- `settings` is handed to the server unchanged (as `initializationOptions` and
--- under "codegemma" in `workspace/didChangeConfiguration`), so its keys are the
--- server's: snake_case, the `codegemma lsp` flag names without dashes.

local M = {}

--- @class codegemma.Keymaps
--- @field accept string|false Insert mode: accept the suggestion (falls back to the key itself).
--- @field dismiss string|false Insert mode: hide the suggestion (falls back to the key itself).
--- @field trigger string|false Insert mode: ask for a suggestion now.
--- @field accept_word string|false Insert mode: accept the next word of the suggestion.
--- @field accept_line string|false Insert mode: accept the next line of the suggestion.
--- @field next string|false Insert mode: show the next alternative (asks for alternatives if needed).
--- @field prev string|false Insert mode: show the previous alternative.
--- @field hint string|false Normal mode: ask the server for a hint about the function at the cursor.

--- @class codegemma.Config
--- @field cmd string[] How to start the server (LSP on stdio).
--- @field cmd_env table<string, string>? Extra environment variables for the server process.
--- @field filetypes string[] Filetypes that get suggestions.
--- @field settings table Server settings: mode, backend, url, api_key, model, max_tokens, ...
--- @field debounce_ms integer Typing pause (ms) before a suggestion is requested.
--- @field auto_trigger boolean Request suggestions on typing pauses; false: only with keymaps.trigger.
--- @field keymaps codegemma.Keymaps
--- @field root_markers string[] Files that mark a project root (the server's workspace).
M.defaults = {
  cmd = { "codegemma", "lsp" },
  filetypes = {
    "python", "javascript", "javascriptreact", "typescript", "typescriptreact",
    "go", "rust", "java", "c", "cpp",
  },
  settings = {},
  debounce_ms = 300,
  auto_trigger = true,
  keymaps = {
    accept = "<Tab>",
    dismiss = "<C-]>",
    trigger = "<M-\\>",
    accept_word = "<M-Right>",
    accept_line = "<M-Down>",
    next = "<M-]>",
    prev = "<M-[>",
    hint = "<leader>ch",
  },
  root_markers = { ".git", "pyproject.toml", "package.json", "go.mod", "Cargo.toml", "pom.xml", "Makefile" },
}

--- The settings the server knows; a typo here would otherwise be ignored silently.
M.server_settings = {
  backend = "string", url = "string", api_key = "string", model = "string", adapter = "string",
  fim_format = "string", context_tokens = "number", max_tokens = "number", mode = "string",
  hint_model = "string", debounce_ms = "number", prefetch = "boolean", alternatives = "number",
  feedback_log = "boolean",
}

M.modes = { complete = true, hint = true }

--- Checks the server settings; returns an error message naming the bad key, or nil.
--- @param settings table
--- @return string?
function M.check_settings(settings)
  for key, value in pairs(settings) do
    local expected = M.server_settings[key]
    if not expected then
      local known = vim.tbl_keys(M.server_settings)
      table.sort(known)
      return ("unknown setting %q (known: %s)"):format(key, table.concat(known, ", "))
    end
    if type(value) ~= expected then
      return ("setting %s must be a %s, not %s"):format(key, expected, vim.inspect(value))
    end
  end
  if settings.mode ~= nil and not M.modes[settings.mode] then
    return ("setting mode must be \"complete\" or \"hint\", not %q"):format(settings.mode)
  end
  return nil
end

--- Merges user options over the defaults; raises one readable error on bad input.
--- @param opts table?
--- @return codegemma.Config
function M.resolve(opts)
  local config = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), opts or {})
  -- Lists replace, they do not merge index by index.
  for _, key in ipairs({ "cmd", "filetypes", "root_markers" }) do
    if opts and opts[key] then
      config[key] = opts[key]
    end
  end
  vim.validate("cmd", config.cmd, "table")
  vim.validate("cmd_env", config.cmd_env, "table", true)
  vim.validate("filetypes", config.filetypes, "table")
  vim.validate("settings", config.settings, "table")
  vim.validate("debounce_ms", config.debounce_ms, "number")
  vim.validate("auto_trigger", config.auto_trigger, "boolean")
  vim.validate("keymaps", config.keymaps, "table")
  if #config.cmd == 0 then
    error("codegemma: cmd is empty; expected e.g. { \"codegemma\", \"lsp\" }", 0)
  end
  local problem = M.check_settings(config.settings)
  if problem then
    error("codegemma: " .. problem, 0)
  end
  return config
end

--- Settings as sent over the wire: an empty table must stay a JSON object.
--- @param settings table
--- @return table
function M.wire(settings)
  if next(settings) == nil then
    return vim.empty_dict()
  end
  return settings
end

return M
