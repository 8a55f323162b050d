"""Run every benchmark module and print one table per module.

    python -m bench            # all of them
    python -m bench kernels    # only modules whose name contains "kernels"
"""

import importlib
import pkgutil
import sys
import time

import bench


def format_table(rows):
    """Plain-text table with one column per key of the first row."""
    if not rows:
        return "(no rows)"
    cols = list(rows[0])
    cells = [[_fmt(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    line = "  ".join(c.ljust(w) for c, w in zip(cols, widths))
    sep = "  ".join("-" * w for w in widths)
    body = ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join([line, sep, *body])


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1e4 else f"{v:.0f}"
    return str(v)


def main(argv):
    names = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_"))
    if argv:
        names = [n for n in names if any(a in n for a in argv)]
    for name in names:
        mod = importlib.import_module(f"bench.{name}")
        t0 = time.perf_counter()
        rows = mod.run()
        print(f"\n## {name[len('bench_'):]}  ({time.perf_counter() - t0:.1f} s)\n")
        print(format_table(rows), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
