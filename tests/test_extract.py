import pytest

from discover.extract import MalformedOutput, code_hash, parse_response

SIG = "def select_next_node(current_node, destination_node, unvisited_nodes, distance_matrix):"


def test_thought_and_code_from_a_fenced_answer():
    text = ("Thought: choose the nearest node but penalise long returns.\n```python\nimport numpy as np\n\n"
            "def select_next_node(current_node, destination_node, unvisited_nodes, distance_matrix):\n"
            "    return unvisited_nodes[0]\n```\nHope this helps!")
    p = parse_response(text, "select_next_node", SIG)
    assert p.thought == "choose the nearest node but penalise long returns."
    assert p.code.startswith("import numpy as np") and "Hope" not in p.code


def test_eoh_brace_thought():
    text = "{Pick the node minimising distance plus half the distance to the start.}\n```python\ndef select_next_node(a, b, c, d):\n    return c[0]\n```"
    assert parse_response(text, "select_next_node", SIG).thought.startswith("Pick the node")


def test_prefilled_answer_is_joined_with_its_prefix():
    prefix = "```python\nimport numpy as np\n\n" + SIG + "\n    \"\"\"doc\"\"\"\n"
    body = "    # Idea: nearest neighbour with a look-ahead\n    return unvisited_nodes[0]\n```"
    p = parse_response(body, "select_next_node", SIG, prefix=prefix)
    assert "def select_next_node" in p.code and p.thought == "nearest neighbour with a look-ahead"


def test_unclosed_fence_still_parses():
    text = "```python\ndef select_next_node(a, b, c, d):\n    return c[0]\n"
    assert "return c[0]" in parse_response(text, "select_next_node", SIG).code


@pytest.mark.parametrize("text,reason", [
    ("", "empty response"),
    ("I cannot help with that.", "no Python code block"),
    ("```python\ndef select_next_node(a, b:\n    return 1\n```", "syntax error at line 1"),
    ("```python\ndef pick(a, b, c, d):\n    return 1\n```", "no top-level function `select_next_node` (defined: pick)"),
    ("```python\ndef select_next_node(a, b):\n    return 1\n```", "takes 2 parameters"),
])
def test_malformed_output_says_why(text, reason):
    with pytest.raises(MalformedOutput, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_response(text, "select_next_node", SIG)


def test_code_hash_ignores_comments_docstrings_and_formatting():
    a = 'def f(x):\n    """doc"""\n    # why\n    return x+1\n'
    b = "def f(x):\n    return x + 1\n"
    c = "def f(x):\n    return x + 2\n"
    assert code_hash(a) == code_hash(b) != code_hash(c)
