"""nbgrader extensions used by nbgrader_config.py."""

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool


class ScrubTracebacks(Preprocessor):
    """Feedback keeps only the last line of an error in a graded test cell, and none of the
    grading receipts (data the grader reads; nothing for a student to see).

    A traceback prints the source lines of the test that failed, hidden tests included.
    The last line (`GradingError: log_alpha is wrong (case: ...): largest error ...`) is
    the message written for the student, and is all the feedback shows.
    """

    enabled = Bool(True).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", [])
                            if "application/vnd.course-grading.receipt+json" not in o.get("data", {})]
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]
        return cell, resources
