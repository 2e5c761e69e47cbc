"""Prompt syntax: A1111 understands ``(word:1.2)``, ``(word)`` and ``[word]``;
NovelAI's ``{word}`` braces are literal text to it, so they are converted."""

import re

BRACE_WEIGHT = 1.05
# Innermost brace group without nested braces; escaped braces (\{) are left alone.
INNER_BRACES = re.compile(r"(?<!\\)\{([^{}]*)(?<!\\)\}")


def convert_braces(prompt: str) -> tuple[str, bool]:
    """Turn NovelAI ``{word}`` emphasis into A1111 ``(word:1.05)``, one factor per brace level.

    ``{{word}}`` becomes ``(word:1.1025)``. Returns the prompt and whether anything changed.
    """
    changed = False
    result = prompt
    # Resolve from the inside out, multiplying the weight of nested groups.
    while True:
        match = INNER_BRACES.search(result)
        if not match:
            break
        changed = True
        inner = match.group(1)
        nested = re.fullmatch(r"\((.*):([0-9]*\.?[0-9]+)\)", inner, flags=re.S)
        if nested and nested.group(1).count("(") == nested.group(1).count(")"):
            text, weight = nested.group(1), float(nested.group(2)) * BRACE_WEIGHT
        else:
            text, weight = inner, BRACE_WEIGHT
        result = result[: match.start()] + f"({text}:{_fmt(weight)})" + result[match.end() :]
    return result, changed


def _fmt(weight: float) -> str:
    return f"{weight:.4f}".rstrip("0").rstrip(".")
