"""Fill-in-the-middle logic shared by inference and training.

Pure functions over strings, tokens and syntax trees: no I/O, no torch.
"""
