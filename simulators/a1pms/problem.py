"""RFC 7807 problems: the one way the simulator's rules say no (``simulators/problems.py``).

The rules raise ``Problem``; the HTTP layer turns it into ``application/problem+json``, which is
what a real A1-PMS sends and what its clients parse.
"""

from simulators.problems import PROBLEM_JSON, Problem

__all__ = ["PROBLEM_JSON", "Problem"]
