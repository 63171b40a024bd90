"""The `codegemma` command line: the verb dispatcher (`cli.main`) and the flags verbs share (`cli.options`).

It is the outermost layer: it may import every package; no package imports it
except through a verb's `configure`/`run`.
"""
