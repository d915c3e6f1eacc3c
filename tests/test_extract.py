import pytest

from discover.extract import MalformedOutput, code_hash, drop_docstring, drop_example_usage, parse_response

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


def test_example_usage_after_the_function_is_dropped():
    text = '''```python
import numpy as np

SCALE = 2.0  # a constant the function uses stays


# helper
def helper(x):
    return SCALE * x


def solve(x):
    # Idea: scale it
    return helper(x)

# Example usage
distance_matrix = np.random.rand(14, 14)
print(solve(distance_matrix))
if __name__ == "__main__":
    solve(3)
for i in range(3):
    solve(i)
```'''
    parsed = parse_response(text, "solve", "def solve(x):")
    namespace: dict = {}
    exec(parsed.code, namespace)  # would raise NameError/print if the demo code were kept
    assert namespace["solve"](2) == 4.0
    assert "Example usage" not in parsed.code and "print" not in parsed.code and "__main__" not in parsed.code
    assert "SCALE = 2.0" in parsed.code and "# helper" in parsed.code and parsed.thought == "scale it"


def test_calls_between_definitions_are_dropped_but_imports_kept():
    code = "import math\nprint('hi')\ndef solve(x):\n    return math.sqrt(x)\nsolve(4)\nimport os\n"
    assert drop_example_usage(code) == "import math\ndef solve(x):\n    return math.sqrt(x)\nimport os\n"
    assert drop_example_usage("def solve(x:\n") == "def solve(x:\n"  # syntax errors are check_code's job


def test_the_problems_own_docstring_is_dropped_for_prompts_only_when_it_matches():
    doc = "Pick the next node.\n\n    Args:\n        x: input."
    code = f'import numpy as np\n\ndef solve(x):\n    """{doc}"""\n    # Idea: go\n    return x\n'
    shown = drop_docstring(code, "solve", "Pick the next node.\n\nArgs:\n    x: input.")
    assert shown == "import numpy as np\n\ndef solve(x):\n    # Idea: go\n    return x\n"
    assert drop_docstring(code, "solve", "Something else.") == code
    only_doc = 'def solve(x):\n    """Pick."""\n'
    assert drop_docstring(only_doc, "solve", "Pick.") == only_doc  # a body of just the docstring stays valid
