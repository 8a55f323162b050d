"""Reference implementations for the Sequence Models course.

One module per concept; see CONTRIBUTING.md for the layout and the conventions
(batch first, row vectors, float64 NumPy references).
"""

__version__ = "0.1.0"
