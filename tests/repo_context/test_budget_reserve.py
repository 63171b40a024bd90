"""Other files keep a share of the budget when the current file alone would fill it."""

from fim.budget import CONTEXT_SHARE, fit
from fim.prompt import ContextFile, FimInput


def words(text: str) -> int:
    return len(text.split())


def test_a_long_file_leaves_other_files_their_share():
    prefix = "".join(f"p{i}\n" for i in range(500))
    suffix = "".join(f"s{i}\n" for i in range(500))
    context = (ContextFile("lib.py", " ".join(f"w{i}" for i in range(30))),)
    fitted = fit(FimInput(prefix, suffix, path=None, context=context), 100, words)
    assert fitted.fim.context == context  # before the reserve the prefix and suffix took all 100
    assert words(fitted.fim.prefix) + words(fitted.fim.suffix) + 30 + words("lib.py") + 2 <= 100


def test_the_reserve_is_only_what_other_files_need():
    prefix = "".join(f"p{i}\n" for i in range(500))
    context = (ContextFile("a.py", "x y"),)
    fitted = fit(FimInput(prefix, "", context=context), 100, words)
    assert words(fitted.fim.prefix) >= 100 - 5 - 100 * (1 - CONTEXT_SHARE)  # not half the budget lost
    assert fitted.fim.context == context
