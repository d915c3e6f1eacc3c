"""Program candidates: files with EVOLVE blocks, shown to the LLM, edited by SEARCH/REPLACE or block rewrites.

    program = Program.load("problems/x/initial")          # a folder or one file
    prompt_part = render_program(program) + answer_format(program, "diff")
    result = apply_edits(program, llm_answer)            # EditResult, or EditError (a MalformedOutput)
    store(result.program.to_text()); Program.from_text(stored)

See docs/programs.md.
"""

from discover.programs.answers import thought_of
from discover.programs.blocks import Block, Program, ProgramError
from discover.programs.edits import AppliedEdit, EditError, EditResult, apply_edits
from discover.programs.render import answer_format, edit_failed, render_file, render_program, rewrite_prefix

__all__ = ["AppliedEdit", "Block", "EditError", "EditResult", "Program", "ProgramError", "answer_format",
           "apply_edits", "edit_failed", "render_file", "render_program", "rewrite_prefix",
           "thought_of"]
