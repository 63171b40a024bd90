--- Partial accept: how much of a suggestion the next-word and next-line keys take.
--- Pure functions of the remaining suggestion text, tested without a server.

local M = {}

--- The next word of `text`: leading blanks, then a run of word characters (letters, digits, `_`,
--- any non-ASCII byte) or else a run of other non-blank characters. A text that starts with a line
--- break gives that line break (with the indentation after it), so word by word walks every line.
--- @param text string
--- @return string
function M.next_word(text)
  local newline = text:match("^[ \t]*\r?\n[ \t]*")
  if newline then
    return newline
  end
  return text:match("^[ \t]*[%w_\128-\255]+") or text:match("^[ \t]*[^%w_\128-\255%s]+") or text:match("^%s+")
    or text
end

--- The next line of `text`: up to and including its first line break (all of `text` when there is none).
--- @param text string
--- @return string
function M.next_line(text)
  local stop = text:find("\n", 1, true)
  return stop and text:sub(1, stop) or text
end

return M
