"""Reference implementations for the Sequence Models course.

One module per concept; see DESIGN.md for the contract and the conventions
(batch first, row vectors, float64 NumPy references).
"""

__version__ = "0.1.0"
