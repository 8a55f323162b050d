"""Typical wrong submissions for every assignment, gathered from tests/mutants_<aid>.py.

Each of those files defines MUTANTS = {name: ({notebook: {answer grade_id: [(old, new), ...]}},
{test cell ids that must fail})}; every other autograded cell must keep its full marks.
"""

import importlib
from pathlib import Path

MUTANTS = {
    path.stem[len("mutants_"):]: importlib.import_module(path.stem).MUTANTS
    for path in sorted(Path(__file__).parent.glob("mutants_*.py"))
}
