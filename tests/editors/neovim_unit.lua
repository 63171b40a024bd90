-- Unit tests of the plugin's pure helpers, run by test_neovim_unit.py as
--   nvim --headless --clean -l tests/editors/neovim_unit.lua <path to editors/neovim>
-- Prints one line per failure and "N passed, N failed"; exits non-zero on any failure.

vim.opt.rtp:prepend(assert(_G.arg[1], "usage: nvim -l neovim_unit.lua <plugin dir>"))

local ghost = require("codegemma.ghost")
local config = require("codegemma.config")

local passed, failed = 0, 0
local function test(name, fn)
  local ok, err = pcall(fn)
  if ok then
    passed = passed + 1
  else
    failed = failed + 1
    print(("FAIL %s: %s"):format(name, err))
  end
end

local function eq(expected, actual)
  if not vim.deep_equal(expected, actual) then
    error(("expected %s, got %s"):format(vim.inspect(expected), vim.inspect(actual)), 2)
  end
end

local HL = ghost.hl_group

test("one line goes inline, no virtual lines", function()
  local virt_text, virt_lines = ghost.chunks("return total")
  eq({ { "return total", HL } }, virt_text)
  eq({}, virt_lines)
end)

test("further lines become virtual lines, blank ones kept", function()
  local virt_text, virt_lines = ghost.chunks("if x:\n        y()\n\n    z", { hl_group = "G" })
  eq({ { "if x:", "G" } }, virt_text)
  eq({ { { "        y()", "G" } }, { { "", "G" } }, { { "    z", "G" } } }, virt_lines)
end)

test("a trailing newline is an empty last line (the cursor ends on a new line)", function()
  local _, virt_lines = ghost.chunks("pass\n")
  eq({ { { "", HL } } }, virt_lines)
end)

test("CRLF completions do not leave carriage returns on screen", function()
  local virt_text, virt_lines = ghost.chunks("a\r\nb")
  eq("a", virt_text[1][1])
  eq("b", virt_lines[1][1][1])
end)

test("tabs expand to the next tab stop from the cursor's screen column", function()
  eq("a   b", ghost.expand_tabs("a\tb", 4, 0))
  eq("a b", ghost.expand_tabs("a\tb", 4, 2))
  eq("        x", ghost.expand_tabs("\t\tx", 4, 0))
  eq("é  x", ghost.expand_tabs("é\tx", 3, 0))
  local _, virt_lines = ghost.chunks("x\n\ty", { tabstop = 4, start_col = 3 })
  eq("    y", virt_lines[1][1][1])
end)

test("remaining follows typing and rejects divergence", function()
  eq("turn total", ghost.remaining("return total", "re"))
  eq("", ghost.remaining("return", "return"))
  eq("return", ghost.remaining("return", ""))
  eq(nil, ghost.remaining("return", "rx"))
  eq(nil, ghost.remaining("ret", "return"))
  eq("%d", ghost.remaining("a%d", "a")) -- no pattern magic
end)

test("item text from strings and snippet string values", function()
  eq("x", ghost.item_text({ insertText = "x" }))
  eq("y", ghost.item_text({ insertText = { kind = "snippet", value = "y" } }))
  eq(nil, ghost.item_text({ insertText = "" }))
  eq(nil, ghost.item_text({}))
end)

test("first usable item of a list or an array", function()
  eq("b", ghost.first_item({ items = { { insertText = "" }, { insertText = "b" } } }).insertText)
  eq("c", ghost.first_item({ { insertText = "c" } }).insertText)
  eq(nil, ghost.first_item({ items = {} }))
  eq(nil, ghost.first_item(nil))
  eq(nil, ghost.first_item(vim.NIL))
end)

test("draw and clear put one extmark with inline text and virtual lines", function()
  local bufnr = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, { "def f():", "    " })
  ghost.draw(bufnr, 1, 4, "return 1\nx = 2")
  local marks = vim.api.nvim_buf_get_extmarks(bufnr, ghost.ns, 0, -1, { details = true })
  eq(1, #marks)
  eq({ 1, 4 }, { marks[1][2], marks[1][3] })
  eq("inline", marks[1][4].virt_text_pos)
  eq("return 1\nx = 2", ghost.shown(bufnr))
  ghost.draw(bufnr, 1, 4, "pass")
  eq("pass", ghost.shown(bufnr))
  ghost.clear(bufnr)
  eq(nil, ghost.shown(bufnr))
  eq({ "def f():", "    " }, vim.api.nvim_buf_get_lines(bufnr, 0, -1, false))
end)

test("settings are checked by name, type and mode", function()
  eq(nil, config.check_settings({ mode = "hint", max_tokens = 16, url = "http://127.0.0.1:8012" }))
  assert(config.check_settings({ max_token = 16 }):find("unknown setting \"max_token\""))
  assert(config.check_settings({ max_tokens = "16" }):find("max_tokens must be a number"))
  assert(config.check_settings({ mode = "solve" }):find("mode must be"))
end)

test("options merge over defaults; lists replace", function()
  local resolved = config.resolve({ cmd = { "/opt/codegemma", "lsp" }, filetypes = { "go" }, keymaps = { hint = false } })
  eq({ "/opt/codegemma", "lsp" }, resolved.cmd)
  eq({ "go" }, resolved.filetypes)
  eq(false, resolved.keymaps.hint)
  eq("<Tab>", resolved.keymaps.accept)
  eq(300, resolved.debounce_ms)
  local ok, err = pcall(config.resolve, { debounce_ms = "fast" })
  assert(not ok and tostring(err):find("debounce_ms"), tostring(err))
end)

test("empty settings go over the wire as a JSON object", function()
  eq("{}", vim.json.encode(config.wire({})))
  eq('{"mode":"hint"}', vim.json.encode(config.wire({ mode = "hint" })))
end)

local partial = require("codegemma.partial")

test("the next word: blanks and a word, or punctuation, or a line break with indentation", function()
  eq("return", partial.next_word("return total"))
  eq(" total", partial.next_word(" total / n"))
  eq(" /", partial.next_word(" / n"))
  eq("(", partial.next_word("(values)"))
  eq("\n    ", partial.next_word("\n    return 0"))
  eq("\r\n", partial.next_word("\r\nx"))
  eq("grüße", partial.next_word("grüße = 1"))
  eq("x", partial.next_word("x"))
  eq("  ", partial.next_word("  "))
end)

test("the next line: through its line break, or everything", function()
  eq("if x:\n", partial.next_line("if x:\n    y\n"))
  eq("\n", partial.next_line("\nz"))
  eq("tail", partial.next_line("tail"))
end)

local status = require("codegemma.status")

test("statusline: latency, mode, alternatives, off per filetype, snooze", function()
  eq("codegemma", status.line("complete", nil))
  status.started()
  assert(vim.tbl_contains(status.SPINNER, status.line(nil, nil):sub(#"codegemma " + 1)), status.line(nil, nil))
  status.finished(true)
  assert(status.line("hint", { index = 2, count = 3 }):match("^codegemma hint %d+ ms 2/3$"), status.line("hint", {}))
  status.set_enabled(false, "lua")
  eq(false, status.enabled("lua"))
  eq(true, status.enabled("python"))
  status.set_enabled(true)
  eq(true, status.enabled("lua"))
  status.snooze(5)
  eq(5, status.snoozed())
  status.snooze(0)
  eq(nil, status.snoozed())
end)

print(("%d passed, %d failed"):format(passed, failed))
os.exit(failed == 0 and 0 or 1)
