"""Import queries (`<language>.scm`) and resolution rules (`languages.yaml`), loaded as package resources.

Capture names are the contract with `training/imports.py`, which has no
per-language branches:

- `@import`: the whole import statement; the captures below belong to the
  statement whose range holds them.
- `@import.module`: text naming a module, package, header or path
  (`a.b.c`, `"./util"`, `crate::config`, `"pkg/util.h"`); quotes and angle
  brackets are stripped.
- `@import.member`: a name imported from that module that may itself be a
  module (`from pkg import mod`, `use a::{b, c}`); tried before the module.
"""
