"""Teach a model a user's own code: pack repositories into FIM training data, LoRA-tune, merge.

`pack` (walk, filter, order, FIM-transform, tokenize) is independent of
`train` (the LoRA loop): a packed dataset on disk is the only thing they share.
"""
