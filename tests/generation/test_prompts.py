import pytest

from generation.prompts import convert_braces


@pytest.mark.parametrize(
    "prompt,expected",
    [
        ("a {cat}", "a (cat:1.05)"),
        ("{{cat}}, dog", "(cat:1.1025), dog"),
        ("{{{x}}}", "(x:1.1576)"),
        ("{a {b}}", "(a (b:1.05):1.05)"),
        ("{(cat:1.5)}", "(cat:1.575)"),
        ("{(a:1.2.3)}", "((a:1.2.3):1.05)"),  # not a weight: kept as text, never a crash
        ("{(a:.)}", "((a:.):1.05)"),
    ],
)
def test_it_converts_novelai_braces_to_a1111_weights(prompt, expected):
    assert convert_braces(prompt) == (expected, True)


@pytest.mark.parametrize("prompt", ["(word:1.2), [word]", r"literal \{braces\}", ""])
def test_it_leaves_a1111_syntax_alone(prompt):
    assert convert_braces(prompt) == (prompt, False)
