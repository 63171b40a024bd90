"""The model runtime: loading, generation, and the backends behind one interface.

Importing this package does not import torch; `engine.local` and
`engine.loading` do, when a model is actually run.
"""
