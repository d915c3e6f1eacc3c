"""Program candidates: EVOLVE-block parsing, rendering, serialisation, and applying LLM edits (issue 17)."""

from __future__ import annotations

import json
import textwrap

import pytest

from discover.extract import MalformedOutput
from discover.programs import (EditError, Program, ProgramError, answer_format, apply_edits, edit_failed,
                               render_program, rewrite_prefix, thought_of)

MAIN = textwrap.dedent("""\
    import math

    from helpers import scale


    # EVOLVE-BLOCK-START scoring
    def score(a, b):
        d = a - b
        return d * d
    # EVOLVE-BLOCK-END


    class Solver:
        def run(self, xs):
            # EVOLVE-BLOCK-START
            total = 0
            for x in xs:
                total += scale(x)
            # EVOLVE-BLOCK-END
            return total
    """)

HELPERS = textwrap.dedent("""\
    FACTOR = 2


    def scale(x):
        # EVOLVE-BLOCK-START scale_body
        y = x * FACTOR
        return y
        # EVOLVE-BLOCK-END
    """)

README = "How to run: python main.py\n"


@pytest.fixture
def single() -> Program:
    return Program({"main.py": MAIN})


@pytest.fixture
def multi() -> Program:
    return Program({"main.py": MAIN, "helpers.py": HELPERS, "README.txt": README})


def diff(search: str, replace: str, path: str = "") -> str:
    opener = f"<<<<<<< SEARCH {path}".rstrip()
    return f"{opener}\n{search.rstrip(chr(10))}\n=======\n{replace.rstrip(chr(10))}\n>>>>>>> REPLACE\n"


# --- blocks ------------------------------------------------------------------------------------------------


def test_blocks_named_and_unnamed_with_line_ranges(single):
    first, second = single.blocks()
    assert (first.file, first.index, first.name, first.label, first.start, first.end) == \
        ("main.py", 0, "scoring", "scoring", 6, 10)
    assert first.text == "def score(a, b):\n    d = a - b\n    return d * d\n"
    assert (second.name, second.label, second.start, second.end, second.indent) == (None, "1", 15, 19, "        ")
    assert list(second.body_lines) == [16, 17, 18]
    assert single.block("scoring") is not None and single.block(1) == second and single.block("1") == second


def test_blocks_across_files_are_indexed_in_path_order(multi):
    assert [(b.file, b.label) for b in multi.blocks()] == [("helpers.py", "scale_body"), ("main.py", "scoring"),
                                                           ("main.py", "2")]
    assert multi.files_with_blocks() == ["helpers.py", "main.py"]
    with pytest.raises(ProgramError, match="no block 'nope'.*scale_body"):
        multi.block("nope")


@pytest.mark.parametrize("text, where, why", [
    ("x = 1\n# EVOLVE-BLOCK-START\ny = 2\n", "a.py:2", "never closed"),
    ("x = 1\n# EVOLVE-BLOCK-END\n", "a.py:2", "without a matching EVOLVE-BLOCK-START"),
    ("# EVOLVE-BLOCK-START\n# EVOLVE-BLOCK-START\n# EVOLVE-BLOCK-END\n# EVOLVE-BLOCK-END\n", "a.py:2", "cannot nest"),
    ("# EVOLVE-BLOCK-START one\nx = 1\n# EVOLVE-BLOCK-END two\n", "a.py:3", "closes the block opened at line 1"),
    ("# EVOLVE-BLOCK-START my block\nx = 1\n# EVOLVE-BLOCK-END\n", "a.py:1", "malformed EVOLVE-BLOCK marker"),
])
def test_unbalanced_or_malformed_markers_name_file_and_line(text, where, why):
    with pytest.raises(ProgramError, match=why) as info:
        Program({"a.py": text})
    assert str(info.value).startswith(where)


def test_program_needs_a_block_unique_names_and_safe_paths():
    with pytest.raises(ProgramError, match="no EVOLVE block"):
        Program({"a.py": "x = 1\n"})
    block = "# EVOLVE-BLOCK-START same\nx = 1\n# EVOLVE-BLOCK-END\n"
    with pytest.raises(ProgramError, match="'same' is used twice"):
        Program({"a.py": block, "b.py": block})
    for bad in ("../a.py", "/etc/a.py", "a\\b.py", "./a.py"):
        with pytest.raises(ProgramError, match="relative path"):
            Program({bad: block})


def test_load_folder_and_single_file(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "main.py").write_text(MAIN)
    (tmp_path / "pkg" / "helpers.py").write_text(HELPERS)
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\0\1")
    (tmp_path / ".hidden").write_text("secret")
    program = Program.load(tmp_path)
    assert sorted(program.files) == ["main.py", "pkg/helpers.py"]
    assert Program.load(tmp_path / "main.py").files == {"main.py": MAIN}
    only_py = Program.load(tmp_path, include=["*.py"])
    assert sorted(only_py.files) == ["main.py"]
    (tmp_path / "blob.bin").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ProgramError, match="blob.bin is not UTF-8"):
        Program.load(tmp_path)
    out = tmp_path / "out"
    program.write(out)
    assert Program.load(out) == program


def test_text_round_trip_and_hash(multi):
    text = multi.to_text()
    assert json.loads(text)["files"]["helpers.py"] == HELPERS
    assert text == Program.from_text(text).to_text()
    assert Program.from_text(text) == multi
    assert Program.from_dict(multi.to_dict()) == multi
    with pytest.raises(ProgramError, match="not JSON"):
        Program.from_text("def f(): pass")
    with pytest.raises(ProgramError, match="not a stored program"):
        Program.from_text('{"files": {}}')
    # Formatting and comments inside a Python block do not change the hash; code does, and so does anything outside.
    cosmetic = MAIN.replace("    d = a - b\n", "    d = a  -  b  # the difference\n\n")
    assert Program({"main.py": cosmetic}).content_hash() == Program({"main.py": MAIN}).content_hash()
    assert Program({"main.py": MAIN.replace("d * d", "d * 3")}).content_hash() != \
        Program({"main.py": MAIN}).content_hash()
    assert Program({"main.py": MAIN.replace("import math", "import  math")}).content_hash() != \
        Program({"main.py": MAIN}).content_hash()


# --- rendering ---------------------------------------------------------------------------------------------


def test_render_shows_block_files_in_full_and_lists_the_rest(multi):
    shown = render_program(multi)
    assert "### File: main.py\n```python\n" + MAIN + "```" in shown
    assert "### File: helpers.py\n" in shown
    assert "README.txt" in shown and README not in shown
    assert "block 0 'scale_body' in helpers.py, lines 6-7" in shown
    assert "block 2 (unnamed) in main.py, lines 16-18" in shown
    everything = render_program(multi, show=["README.txt"])
    assert "### File: README.txt (read-only: no EVOLVE block)\n```text\n" + README in everything


def test_render_line_numbers_and_long_fence():
    program = Program({"a.py": 'DOC = """```x```"""\n# EVOLVE-BLOCK-START\nx = 1\n# EVOLVE-BLOCK-END\n'})
    shown = render_program(program, line_numbers=True)
    assert "````python\n1 | DOC" in shown and "\n3 | x = 1\n" in shown and shown.rstrip().endswith("````")


def test_answer_formats_name_this_program(single, multi):
    one = answer_format(single, "diff")
    assert "<<<<<<< SEARCH main.py" in one and "may be left out" in one and "$" not in one
    assert "Write the file's path after SEARCH" in answer_format(multi, "diff")
    rewrite = answer_format(multi, "rewrite")
    assert "(here scale_body)" in rewrite and "scale_body, scoring, 2" in rewrite and "$" not in rewrite
    assert rewrite_prefix(multi, "scoring") == "Block: scoring\n```python\n"
    assert rewrite_prefix(multi, "scoring", keep_signature=True) == "Block: scoring\n```python\ndef score(a, b):\n"
    documented = Program({"a.py": '# EVOLVE-BLOCK-START\ndef f(x):\n    """Doc."""\n    return x\n# EVOLVE-BLOCK-END\n'})
    assert rewrite_prefix(documented, 0, keep_signature=True) == 'Block: 0\n```python\ndef f(x):\n    """Doc."""\n'
    assert rewrite_prefix(multi, 2, keep_signature=True) == "Block: 2\n```python\n"  # not a function: no header
    assert "could not be applied" in edit_failed("edit 1: SEARCH text not found") and "$" not in edit_failed("x")


# --- SEARCH/REPLACE edits ----------------------------------------------------------------------------------


def test_exact_edit_with_thought_and_diff(single):
    answer = "Thought: absolute error is cheaper.\n" + diff("    d = a - b\n    return d * d", "    return abs(a - b)")
    result = apply_edits(single, answer)
    assert result.program.files["main.py"] == MAIN.replace("    d = a - b\n    return d * d\n",
                                                           "    return abs(a - b)\n")
    [applied] = result.applied
    assert (applied.file, applied.block, applied.lines, applied.match) == ("main.py", "scoring", (8, 9), "exact")
    assert result.diffs["main.py"].startswith("--- a/main.py\n+++ b/main.py\n")
    assert "-    d = a - b\n" in result.diffs["main.py"] and "+    return abs(a - b)\n" in result.diffs["main.py"]
    assert result.notes == []
    assert single.files["main.py"] == MAIN  # the input program is untouched


def test_whitespace_tolerant_match_trailing_spaces_and_blank_lines(single):
    trailing = diff("    d = a - b   \n    return d * d\t", "    return abs(a - b)")
    result = apply_edits(single, trailing)
    assert result.applied[0].match == "trailing whitespace" and "ignoring trailing spaces" in result.notes[0]
    blanks = diff("    d = a - b\n\n    return d * d", "    return abs(a - b)")
    result = apply_edits(single, blanks)
    assert result.applied[0].match == "blank lines"
    assert "    return abs(a - b)\n# EVOLVE-BLOCK-END" in result.program.files["main.py"]


def test_indentation_shift_reindents_the_replacement(single):
    # The model quoted the method body at column 0; the replacement gets the same +8 shift, nested lines keep theirs.
    answer = diff("total = 0\nfor x in xs:\n    total += scale(x)",
                  "total = 0\nfor x in xs:\n    if x > 0:\n        total += scale(x)")
    result = apply_edits(single, answer)
    assert result.applied[0].match == "indentation"
    assert "+8 spaces" in result.notes[0]
    assert ("        total = 0\n        for x in xs:\n            if x > 0:\n                total += scale(x)\n"
            "        # EVOLVE-BLOCK-END") in result.program.files["main.py"]
    # Over-indented by 4: the replacement is shifted back by 4.
    over = diff("        def score(a, b):\n            d = a - b", "        def score(a, b):\n            d = b - a")
    assert "def score(a, b):\n    d = b - a\n" in apply_edits(single, over).program.files["main.py"]


def test_ambiguous_match_is_refused_with_line_numbers():
    program = Program({"a.py": "# EVOLVE-BLOCK-START\nx = 0\nx += 1\nx += 1\ny = x\n# EVOLVE-BLOCK-END\n"})
    with pytest.raises(EditError, match=r"occurs 2 times \(a.py lines 3-3, a.py lines 4-4\)"):
        apply_edits(program, diff("x += 1", "x += 2"))
    # More context makes it unique.
    assert "x += 1\nx += 2\ny = x" in apply_edits(program, diff("x += 1\ny = x", "x += 2\ny = x")).program.files["a.py"]


def test_edit_outside_every_block_is_refused(single):
    with pytest.raises(EditError, match=r"matches main.py lines 1-1, outside every EVOLVE block"):
        apply_edits(single, diff("import math", "import os"))


def test_match_inside_a_block_wins_over_the_same_text_outside():
    program = Program({"a.py": "x = 1\n# EVOLVE-BLOCK-START\nx = 1\n# EVOLVE-BLOCK-END\nx = 1\n"})
    result = apply_edits(program, diff("x = 1", "x = 5"))
    assert result.program.files["a.py"] == "x = 1\n# EVOLVE-BLOCK-START\nx = 5\n# EVOLVE-BLOCK-END\nx = 1\n"


def test_touching_a_marker_is_refused(single):
    with pytest.raises(EditError, match="SEARCH includes the marker line `# EVOLVE-BLOCK-END`"):
        apply_edits(single, diff("    return d * d\n# EVOLVE-BLOCK-END", "    return d\n# EVOLVE-BLOCK-END x"))
    with pytest.raises(EditError, match="REPLACE includes the marker line"):
        apply_edits(single, diff("    return d * d", "    return d\n# EVOLVE-BLOCK-END\n# EVOLVE-BLOCK-START"))
    # Spanning two blocks means quoting the markers between them: refused.
    spanning = diff("    return d * d\n# EVOLVE-BLOCK-END\n\n\nclass Solver:", "    return d\n")
    with pytest.raises(EditError, match="SEARCH includes the marker line"):
        apply_edits(single, spanning)


def test_unchanged_marker_quoted_as_context_is_tolerated(single):
    answer = diff("# EVOLVE-BLOCK-START scoring\ndef score(a, b):", "# EVOLVE-BLOCK-START scoring\ndef score(b, a):")
    result = apply_edits(single, answer)
    assert "# EVOLVE-BLOCK-START scoring\ndef score(b, a):\n" in result.program.files["main.py"]
    assert any("marker lines it quoted" in n for n in result.notes)


@pytest.mark.parametrize("answer, reason", [
    ("<<<<<<< SEARCH\n    d = a - b\n>>>>>>> REPLACE\n", "missing ======= between SEARCH and REPLACE"),
    ("<<<<<<< SEARCH\n    d = a - b\n=======\n    d = b - a\n", "missing >>>>>>> REPLACE"),
    ("<<<<<<< SEARCH\n    d = a - b\n", "missing ======= and >>>>>>> REPLACE"),
    ("<<<<<<< SEARCH\n=======\n    d = b - a\n>>>>>>> REPLACE\n", "SEARCH is empty"),
    ("    d = b - a\n>>>>>>> REPLACE\n", ">>>>>>> REPLACE without <<<<<<< SEARCH"),
    ("<<<<<<< SEARCH\n    d = a - b\n=======\nx\n=======\ny\n>>>>>>> REPLACE\n", "a second ======="),
    ("<<<<<<< SEARCH\n    d = a - b\n=======\n    d = b - a\n<<<<<<< SEARCH\n    return d * d\n=======\n"
     "    return d\n>>>>>>> REPLACE\n", "edit 1 .*missing >>>>>>> REPLACE \\(a new <<<<<<< SEARCH starts at answer line 5"),
])
def test_malformed_edits_are_refused_with_a_reason(single, answer, reason):
    with pytest.raises(EditError, match=reason) as info:
        apply_edits(single, answer)
    assert isinstance(info.value, MalformedOutput)
    assert "\n" not in str(info.value)


def test_no_edit_or_empty_answer(single):
    with pytest.raises(EditError, match="empty answer"):
        apply_edits(single, "  \n")
    with pytest.raises(EditError, match="no edit found"):
        apply_edits(single, "I would rewrite it", fmt="diff")


def test_not_found_names_the_closest_line(single):
    with pytest.raises(EditError, match=r"not found in main.py; the closest text starts at line 8, where line 9 is "
                                        r"`return d \* d` but SEARCH has `return d \*\* 2`"):
        apply_edits(single, diff("    d = a - b\n    return d ** 2", "    return 0"))


def test_several_edits_one_failing_applies_nothing(single):
    good = diff("    d = a - b", "    d = b - a")
    bad = diff("    total = 1", "    total = 2")
    worse = diff("import math", "import os")
    with pytest.raises(EditError) as info:
        apply_edits(single, "Thought: x\n" + good + "\n" + bad + "\n" + worse)
    message = str(info.value)
    assert message.startswith("2 of 3 edits failed, nothing applied: edit 2 (answer line 8): SEARCH text not found")
    assert "edit 3 (answer line 14): SEARCH text matches main.py lines 1-1, outside" in message
    assert [f.split(" ")[1] for f in info.value.failures] == ["2", "3"]


def test_several_edits_are_located_in_the_shown_program(single):
    # Edit 1 removes a line; edit 2's line numbers still refer to the program as the LLM saw it.
    answer = diff("    d = a - b\n    return d * d", "    return abs(a - b)") + \
        diff("        total = 0", "        total = 1")
    result = apply_edits(single, answer)
    assert [a.lines for a in result.applied] == [(8, 9), (16, 16)]
    assert "return abs(a - b)" in result.program.files["main.py"] and "total = 1" in result.program.files["main.py"]


def test_overlapping_edits_are_refused(single):
    answer = diff("    d = a - b\n    return d * d", "    return 0") + diff("    return d * d", "    return 1")
    with pytest.raises(EditError, match="edit 2: it changes main.py lines 9-9, which overlap edit 1"):
        apply_edits(single, answer)


def test_edit_that_changes_nothing_is_refused(single):
    with pytest.raises(EditError, match="changes nothing: its code equals the current code"):
        apply_edits(single, diff("    d = a - b", "    d = a - b"))


def test_syntax_error_after_edit_names_file_and_line(multi):
    with pytest.raises(EditError, match=r"after the edits, helpers.py line 7: .* in `return y\)`"):
        apply_edits(multi, diff("    return y", "    return y)", "helpers.py"))


def test_multi_file_program_edited_in_two_files_at_once(multi):
    answer = ("Thought: both.\n" + diff("    y = x * FACTOR", "    y = x * FACTOR + 1", "helpers.py") +
              "\n" + diff("    d = a - b", "    d = abs(a - b)", "main.py"))
    result = apply_edits(multi, answer)
    assert sorted(result.diffs) == ["helpers.py", "main.py"]
    assert "y = x * FACTOR + 1" in result.program.files["helpers.py"]
    assert "d = abs(a - b)" in result.program.files["main.py"]
    assert result.program.files["README.txt"] == README
    assert [(a.file, a.block) for a in result.applied] == [("helpers.py", "scale_body"), ("main.py", "scoring")]


def test_file_name_given_loosely_or_left_out(multi):
    # A path on the line above the fence (aider style), then no path at all: found by content in one file.
    above = "helpers.py\n```\n" + diff("    y = x * FACTOR", "    y = x * 3") + "```\n"
    assert "y = x * 3" in apply_edits(multi, above).program.files["helpers.py"]
    loose = diff("    y = x * FACTOR", "    y = x * 5", "(File: `helpers.py`)")
    assert "y = x * 5" in apply_edits(multi, loose).program.files["helpers.py"]
    bare = diff("    y = x * FACTOR", "    y = x * 4")
    assert "y = x * 4" in apply_edits(multi, bare).program.files["helpers.py"]
    with pytest.raises(EditError, match=r"no file 'nope.py' in the program \(files with EVOLVE blocks: helpers.py, "
                                        r"main.py\)"):
        apply_edits(multi, diff("    y = x * FACTOR", "    y = 1", "nope.py"))
    with pytest.raises(EditError, match="README.txt has no EVOLVE block"):
        apply_edits(multi, diff("How to run: python main.py", "x", "README.txt"))


def test_fences_inside_an_edit_are_dropped(single):
    answer = "<<<<<<< SEARCH\n```python\n    d = a - b\n```\n=======\n```python\n    d = b - a\n```\n>>>>>>> REPLACE\n"
    assert "    d = b - a\n" in apply_edits(single, answer).program.files["main.py"]


# --- full-block rewrites -----------------------------------------------------------------------------------


def test_full_block_rewrite_by_name_reindented(multi):
    answer = "Thought: halve.\nBlock: scale_body\n```python\nreturn x * FACTOR / 2\n```\n"
    result = apply_edits(multi, answer)
    assert "def scale(x):\n    # EVOLVE-BLOCK-START scale_body\n    return x * FACTOR / 2\n    # EVOLVE-BLOCK-END" \
        in result.program.files["helpers.py"]
    assert result.applied[0].match == "block rewrite" and result.applied[0].lines == (6, 7)


def test_full_block_rewrite_by_index_by_marker_and_single_block(multi, single):
    by_index = "Block 2\n```python\ntotal = sum(scale(x) for x in xs)\n```"
    assert "        total = sum(scale(x) for x in xs)\n        # EVOLVE-BLOCK-END" in \
        apply_edits(multi, by_index).program.files["main.py"]
    # The whole block with its markers, unlabelled: the START marker's name says which block.
    by_marker = "```python\n# EVOLVE-BLOCK-START scoring\ndef score(a, b):\n    return 0\n# EVOLVE-BLOCK-END\n```"
    assert "def score(a, b):\n    return 0\n# EVOLVE-BLOCK-END" in apply_edits(multi, by_marker).program.files["main.py"]
    one = Program({"a.py": "# EVOLVE-BLOCK-START\nx = 1\n# EVOLVE-BLOCK-END\n"})
    assert apply_edits(one, "```python\nx = 2\n```").program.files["a.py"] == \
        "# EVOLVE-BLOCK-START\nx = 2\n# EVOLVE-BLOCK-END\n"
    # A prefilled answer: the prefix plus the model's body and closing fence.
    prefix = rewrite_prefix(multi, "scoring")
    assert "    return 7\n" in apply_edits(multi, prefix + "def score(a, b):\n    return 7\n```").program.files["main.py"]


def test_full_block_rewrite_refusals(multi):
    with pytest.raises(EditError, match=r"which block\? the program has 3"):
        apply_edits(multi, "```python\nx = 1\n```")
    with pytest.raises(EditError, match="no block 'missing'"):
        apply_edits(multi, "Block: missing\n```python\nx = 1\n```")
    with pytest.raises(EditError, match="new body of block scoring is empty"):
        apply_edits(multi, "Block: scoring\n```python\n\n```")
    with pytest.raises(EditError, match="rewritten twice"):
        apply_edits(multi, "Block: 1\n```python\nx = 1\n```\nBlock: scoring\n```python\nx = 2\n```")
    with pytest.raises(EditError, match="no code block found"):
        apply_edits(multi, "I think it is fine.")
    with pytest.raises(EditError, match=r"after the edits, main.py line \d+"):
        apply_edits(multi, "Block: scoring\n```python\ndef score(a, b)\n    return 0\n```")


# --- what models get wrong, tolerated ----------------------------------------------------------------------


def test_line_numbers_copied_from_the_rendering_are_removed(single):
    shown = render_program(single, line_numbers=True)
    copied = [line for line in shown.splitlines() if line.startswith((" 8 |", " 9 |"))]
    assert len(copied) == 2
    answer = diff("\n".join(copied), " 8 |     return abs(a - b)")
    result = apply_edits(single, answer)
    assert "def score(a, b):\n    return abs(a - b)\n# EVOLVE-BLOCK-END" in result.program.files["main.py"]
    assert any("line numbers" in n for n in result.notes)


def test_whole_file_given_as_a_rewrite_keeps_only_the_block(single):
    one = Program({"a.py": "import math\n\n# EVOLVE-BLOCK-START\nx = 1\n# EVOLVE-BLOCK-END\nprint(x)\n"})
    answer = "```python\nimport os\n\n# EVOLVE-BLOCK-START\nx = 2\n# EVOLVE-BLOCK-END\nprint(x + 1)\n```"
    result = apply_edits(one, answer)
    assert result.program.files["a.py"] == "import math\n\n# EVOLVE-BLOCK-START\nx = 2\n# EVOLVE-BLOCK-END\nprint(x)\n"
    assert any("outside the block's markers were ignored" in n for n in result.notes)


def test_same_text_in_blocks_of_two_files_needs_a_path():
    block = "# EVOLVE-BLOCK-START {}\nx = 1\n# EVOLVE-BLOCK-END\n"
    program = Program({"a.py": block.format("a"), "b.py": block.format("b")})
    with pytest.raises(EditError, match=r"occurs 2 times \(a.py lines 2-2, b.py lines 2-2\)"):
        apply_edits(program, diff("x = 1", "x = 2"))
    assert apply_edits(program, diff("x = 1", "x = 2", "b.py")).program.files["b.py"] == block.format("b").replace(
        "x = 1", "x = 2")


def test_thought_of_answer():
    assert thought_of("Thought: use a heap.\n<<<<<<< SEARCH\nx = {1: 2}\n") == "use a heap."
    assert thought_of("Swap the loops for locality.\n\n```python\nx\n```") == "Swap the loops for locality."
    assert thought_of("<<<<<<< SEARCH\n{\"a\": 1}\n") == ""


def test_tolerant_match_takes_in_the_blank_lines_search_starts_with():
    program = Program({"a.py": "# EVOLVE-BLOCK-START\nx = 1\n\ny = 2\nz = 3\n# EVOLVE-BLOCK-END\n"})
    # A blank line added inside SEARCH forces the tolerant stage; its leading blank line must not be doubled.
    result = apply_edits(program, diff("\ny = 2\n\nz = 3", "\ny = 5\nz = 3"))
    assert result.applied[0].match == "blank lines"
    assert result.program.files["a.py"] == "# EVOLVE-BLOCK-START\nx = 1\n\ny = 5\nz = 3\n# EVOLVE-BLOCK-END\n"


def test_rewrite_headed_by_the_function_name_finds_its_block(multi):
    result = apply_edits(multi, "Block: score\n```python\ndef score(a, b):\n    return 1\n```")
    assert "def score(a, b):\n    return 1\n# EVOLVE-BLOCK-END" in result.program.files["main.py"]
    assert any("read as block scoring, which defines score" in n for n in result.notes)
    with pytest.raises(EditError, match="Solver is defined outside every EVOLVE block"):
        apply_edits(multi, "Block: Solver\n```python\nclass Solver:\n    pass\n```")


def test_render_can_elide_a_block_body_for_a_rewrite_from_scratch(multi):
    shown = render_program(multi, elide=["scoring"])
    assert "# EVOLVE-BLOCK-START scoring\n# (block scoring: the code you write goes here)\n# EVOLVE-BLOCK-END" in shown
    assert "d = a - b" not in shown and "total += scale(x)" in shown
    assert "block 1 'scoring' in main.py: to be written by you" in shown
    assert multi.files["main.py"] == MAIN


def test_a_code_line_above_an_edit_is_not_taken_for_a_file_name(single):
    answer = "I will change this:\nnp.argmin(scores)\n" + diff("    d = a - b", "    d = b - a")
    assert "    d = b - a\n" in apply_edits(single, answer).program.files["main.py"]
