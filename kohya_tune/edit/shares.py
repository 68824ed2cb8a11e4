"""The share search of `balance`: integer repeats that give every concept its share of an epoch.

Pure arithmetic on image counts (the engine reports the outcome). A concept i with n_i images
and r_i repeats has n_i * r_i image-steps per epoch; with S the sum over all concepts its share
is n_i * r_i / S, and its goal is w_i / W (its weight over the sum of the weights). Its relative
share error is |share - goal| / goal. Among the repeats in [lo, hi] whose total S lies in the
band [aim * (1 - tolerance), aim * (1 + tolerance)], `search` chooses

1. the smallest largest relative share error (max over the concepts),
2. then the total closest to the aim,
3. then the fewest changed repeats,
4. then the smaller total; a tie beyond that (same error, total and number of changes: only
   the vector differs) goes to the choice built from the last concept backwards, each as near
   its ideal repeats as the rest allows, so the answer never depends on chance.

It is exact, with integer and Fraction arithmetic (floats only order and prune the work):

- The best error of a fixed total S is at least lb(S), the largest error of each concept's own
  nearest repeats to its ideal w_i * S / (n_i * W) (ignoring that the n_i * r_i must add up to
  S). Totals are tried in increasing lb(S), and the search stops once lb(S) reaches the best
  error found, so every total that could be better is tried.
- For one total S, "is there a choice with error below e?" means: each r_i in the interval where
  its own error is below e, and sum n_i * r_i == S exactly, a bounded subset sum, answered with
  Python integers as bit sets (bit t set: t is reachable). The exact best error of S follows by
  bisection, then exact descent (each step finds a choice with a smaller error, until none).
- The tie-breaks run over every total whose best error equals the optimum, the closest first;
  the fewest changes come from the same subset sum, layered by the number of changed repeats.

With an explicit size (--per-concept, --total) the aim is fixed, so a second run on the answer
chooses it again: nothing at the same error is closer to the aim, and the answer changes
nothing. Without one (`settle`: "about the current total") the aim would move with the answer,
so the answer must also be *stable*: a second run, whose aim is the answer's own total, keeps
it exactly when no total within the tolerance of the answer's total has a smaller best error.
`settle` chooses the best stable answer whose total lies in the band of the current total (by
the same rules); only when there is none (the band's best error keeps falling towards one
side, e.g. a concept too small to keep up even at --max-repeats) does it follow the search
from the band's best answer round after round until an answer keeps itself, and says how far
the total moved.
"""
from __future__ import annotations

import bisect
import heapq
import math
from dataclasses import dataclass, field
from fractions import Fraction

FLOAT_SLACK = 1e-9   # relative margin on float bounds: they only order and prune, never decide
ABS_SLACK = 1e-12    # and an absolute one: a bound computed in floats for an exact 0 is ~1e-16


def _under(bound: float) -> float:
    """A float lower bound lowered by the margins, so it never excludes an exact value."""
    return max(0.0, bound * (1 - FLOAT_SLACK) - ABS_SLACK)


@dataclass(frozen=True)
class Concept:
    images: int
    weight: Fraction
    repeats: int          # the current repeats


@dataclass
class Choice:
    repeats: tuple
    total: int
    error: Fraction       # the largest relative share error
    errors: tuple         # per concept: (share - goal) / goal, signed
    distance: Fraction    # |total - aim|
    changed: int          # repeats that differ from the current ones


@dataclass
class Result:
    aim: Fraction
    tolerance: Fraction
    low: int                        # the band, as whole totals
    high: int
    reachable: tuple                # (smallest, largest) total the bounds allow
    choice: Choice | None           # None: no repeats in the bounds give a total in the band
    current: Choice                 # the current repeats, scored the same way
    outside: Choice | None = None   # a better error with a total outside the band (comparison)
    limited: list = field(default_factory=list)  # (concept index, ideal repeats) held at a bound
    nearest: list = field(default_factory=list)  # no choice: the reachable totals nearest the band
    # settle only
    stable: bool = True             # a search from the answer keeps it
    moved: bool = False             # no stable answer in the band: followed the search out of it
    rounds: list = field(default_factory=list)   # the aims of the rounds followed
    in_band: Choice | None = None   # moved: the band's best, which a second run would not keep


class _Problem:
    """The concepts as integers: weights over a common denominator (w_i, W = their sum)."""

    def __init__(self, concepts: list[Concept], lo: int, hi: int):
        if not concepts:
            raise ValueError("no concepts")
        if lo < 1 or hi < lo:
            raise ValueError("repeats bounds must satisfy 1 <= lo <= hi")
        denominator = 1
        for c in concepts:
            if c.weight <= 0:
                raise ValueError("weights must be positive")
            if c.images < 1:
                raise ValueError("every concept needs at least one image")
            denominator = denominator * c.weight.denominator // math.gcd(denominator, c.weight.denominator)
        self.concepts = concepts
        self.n = [c.images for c in concepts]
        self.w = [int(c.weight * denominator) for c in concepts]
        self.W = sum(self.w)
        self.r0 = [c.repeats for c in concepts]
        self.lo, self.hi = lo, hi
        self.k = len(concepts)
        self.smallest = sum(n * lo for n in self.n)
        self.largest = sum(n * hi for n in self.n)
        self._exact: dict = {}     # total -> exact best error (None: unreachable)
        self._lb: dict = {}        # total -> lb(total)
        self._floor: dict = {}     # total -> a proven lower bound of its best error

    # -- exact scores
    def score(self, repeats, aim: Fraction) -> Choice:
        total = sum(n * r for n, r in zip(self.n, repeats))
        errors = tuple(Fraction(n * r * self.W - w * total, w * total)
                       for n, r, w in zip(self.n, repeats, self.w))
        return Choice(tuple(repeats), total, max(abs(e) for e in errors), errors,
                      abs(total - aim), sum(1 for r, r0 in zip(repeats, self.r0) if r != r0))

    def ideal(self, i: int, total: int) -> Fraction:
        """The repeats that give concept i exactly its goal share of `total`."""
        return Fraction(self.w[i] * total, self.n[i] * self.W)

    # -- bounds
    def lower_bounds(self, totals) -> dict:
        """lb(S) of each total: each concept's own best error (floats, the search's inner loop:
        they only order and prune). Remembered per total (it does not depend on the aim)."""
        known = self._lb
        todo = [t for t in totals if t not in known]
        if todo:
            lo, hi = float(self.lo), float(self.hi)
            worst = [0.0] * len(todo)
            for n, w in zip(self.n, self.w):
                rate = w / (n * self.W)
                column = [((lo - x) / x) if x <= lo else ((x - hi) / x) if x >= hi
                          else (f if (f := x % 1.0) < 0.5 else 1.0 - f) / x
                          for x in [rate * t for t in todo]]
                worst = list(map(max, worst, column))
            known.update(zip(todo, worst))
        return {t: known[t] for t in totals}

    def domains(self, total: int, bound: Fraction | None, strict: bool):
        """Per concept, the repeats [a, b] whose own error at `total` is below `bound` (strict)
        or at most `bound`; None when a concept has none. bound None: no limit."""
        out = []
        for n, w in zip(self.n, self.w):
            a, b = self.lo, self.hi
            if bound is not None:
                p, q = bound.numerator, bound.denominator
                # |n r W - w S| <= (p/q) w S  <=>  w S (q - p) <= n r W q <= w S (q + p)
                den = n * self.W * q
                upper = w * total * (q + p)
                b = min(b, -(-upper // den) - 1 if strict else upper // den)
                if q > p:
                    lower = w * total * (q - p)
                    a = max(a, lower // den + 1 if strict else -(-lower // den))
            if a > b:
                return None
            out.append((a, b))
        return out

    # -- the subset sum
    def _reach(self, total: int, doms):
        """Bit sets of the reachable sums after each concept (offset by the domains' minima), or
        None when `total` cannot be reached."""
        base = sum(n * a for n, (a, _) in zip(self.n, doms))
        goal = total - base
        if goal < 0 or goal > sum(n * (b - a) for n, (a, b) in zip(self.n, doms)):
            return None
        mask = (1 << (goal + 1)) - 1
        layers = [1]
        bits = 1
        for n, (a, b) in zip(self.n, doms):
            new = 0
            for d in range(b - a + 1):
                new |= bits << (n * d)
            bits = new & mask
            layers.append(bits)
        if not (bits >> goal) & 1:
            return None
        return layers, goal

    def _pick(self, total: int, doms, layers, goal: int) -> list:
        """One choice from the reachable sums, each concept (from the last) as near its ideal as
        the rest allows."""
        repeats = [0] * self.k
        need = goal
        for i in range(self.k - 1, -1, -1):
            a, b = doms[i]
            x = self.ideal(i, total)
            prev = layers[i]
            for r in sorted(range(a, b + 1), key=lambda r: (abs(r - x), r)):
                rest = need - self.n[i] * (r - a)
                if rest >= 0 and (prev >> rest) & 1:
                    repeats[i] = r
                    need = rest
                    break
            else:  # pragma: no cover - the bit set said it is reachable
                raise AssertionError("subset sum reconstruction failed")
        return repeats

    def solve_total(self, total: int, aim: Fraction, below: Fraction | None) -> Choice | None:
        """The exact best choice with this total, if its error is below `below` (None: any).
        Remembers what it learns about the total's best error."""
        known = self._exact.get(total, False)
        if known is not False and (known is None or (below is not None and known >= below)):
            return None
        if below is not None and self._floor.get(total, -1) >= below:
            return None
        doms = self.domains(total, below, strict=True)
        found = self._reach(total, doms) if doms is not None else None
        if found is None:
            if below is None:
                self._exact[total] = None
            else:
                self._floor[total] = max(self._floor.get(total, below), below)
            return None
        best = self.score(self._pick(total, doms, *found), aim)
        # bisection on floats to get close, then exact descent
        low = _under(self.lower_bounds([total])[total])
        high = float(best.error)
        for _ in range(60):
            if high - low <= 1e-12 * max(high, 1e-300):
                break
            mid = (low + high) / 2
            doms = self.domains(total, Fraction(mid), strict=False)
            found = self._reach(total, doms) if doms is not None else None
            if found is None:
                low = mid
                continue
            candidate = self.score(self._pick(total, doms, *found), aim)
            if candidate.error < best.error:
                best = candidate
            high = min(mid, float(best.error))
        while best.error > 0:
            doms = self.domains(total, best.error, strict=True)
            found = self._reach(total, doms) if doms is not None else None
            if found is None:
                break
            candidate = self.score(self._pick(total, doms, *found), aim)
            if candidate.error >= best.error:  # pragma: no cover - the domains are strict
                raise AssertionError("exact descent did not descend")
            best = candidate
        self._exact[total] = best.error
        return best

    def has_below(self, total: int, bound: Fraction, lower: float, aim: Fraction) -> bool:
        """Does this total have a choice with error below `bound`? (`lower`: its lb.)"""
        if bound <= 0 or _under(lower) >= float(bound):
            return False
        known = self._exact.get(total, False)
        if known is not False:
            return known is not None and known < bound
        return self.solve_total(total, aim, bound) is not None

    def fewest_changes(self, total: int, bound: Fraction, aim: Fraction) -> Choice | None:
        """Among the choices with this total and error <= bound, one with the fewest changed
        repeats (the subset sum layered by the number of changes)."""
        doms = self.domains(total, bound, strict=False)
        if doms is None or self._reach(total, doms) is None:
            return None
        base = sum(n * a for n, (a, _) in zip(self.n, doms))
        goal = total - base
        mask = (1 << (goal + 1)) - 1
        history = [[1]]   # history[i][c]: sums reachable after i concepts with c changes
        for i, (a, b) in enumerate(doms):
            n, r0 = self.n[i], self.r0[i]
            prev = history[-1]
            new = [0] * (len(prev) + 1)
            for c, bits in enumerate(prev):
                if not bits:
                    continue
                for r in range(a, b + 1):
                    shifted = (bits << (n * (r - a))) & mask
                    if r == r0:
                        new[c] |= shifted
                    else:
                        new[c + 1] |= shifted
            while len(new) > 1 and not new[-1]:
                new.pop()
            history.append(new)
        changes = next(c for c, bits in enumerate(history[-1]) if (bits >> goal) & 1)
        repeats = [0] * self.k
        need, c = goal, changes
        for i in range(self.k - 1, -1, -1):
            a, b = doms[i]
            prev = history[i]
            x = self.ideal(i, total)
            for r in sorted(range(a, b + 1), key=lambda r: (r != self.r0[i], abs(r - x), r)):
                cc = c if r == self.r0[i] else c - 1
                rest = need - self.n[i] * (r - a)
                if 0 <= cc < len(prev) and rest >= 0 and (prev[cc] >> rest) & 1:
                    repeats[i], need, c = r, rest, cc
                    break
            else:  # pragma: no cover
                raise AssertionError("layered subset sum reconstruction failed")
        return self.score(repeats, aim)

    def _tie_break(self, totals, optimum: Fraction, aim: Fraction) -> Choice:
        """Rules 2 to 4 among totals whose best error is `optimum` (nearest the aim first)."""
        chosen: Choice | None = None
        for total in sorted(totals, key=lambda t: (abs(t - aim), t)):
            if chosen is not None and abs(total - aim) > chosen.distance:
                break
            found = self.fewest_changes(total, optimum, aim)
            if found is None:
                continue
            if chosen is None or (found.changed, found.total) < (chosen.changed, chosen.total):
                chosen = found
        if chosen is None or chosen.error != optimum:  # pragma: no cover - the optimum is a tie
            raise AssertionError("the tie-break lost the optimum")
        return chosen

    # -- searches over totals
    def best(self, aim: Fraction, totals) -> Choice | None:
        """The best choice among the given totals, by the rules of the module docstring."""
        totals = [t for t in totals if self.smallest <= t <= self.largest]
        if not totals:
            return None
        bounds = self.lower_bounds(totals)
        aim_f = float(aim)
        best: Choice | None = None
        for total in sorted(totals, key=lambda t: (bounds[t], abs(t - aim_f), t)):
            if best is not None and _under(bounds[total]) >= float(best.error):
                break
            found = self.solve_total(total, aim, best.error if best is not None else None)
            if found is not None:
                best = found
        if best is None:
            return None
        limit = float(best.error) * (1 + FLOAT_SLACK) + ABS_SLACK
        ties = [t for t in totals if bounds[t] <= limit
                and self._exact.get(t, False) in (False, best.error)]
        return self._tie_break(ties, best.error, aim)

    def best_stable(self, aim: Fraction, tolerance: Fraction, totals) -> Choice | None:
        """The best choice among `totals` (the rules of the module docstring) whose total T is
        stable: no total within the tolerance of T has a smaller best error. None if none is."""
        totals = [t for t in totals if self.smallest <= t <= self.largest]
        if not totals:
            return None
        aim_f = float(aim)
        around_low, _ = band(Fraction(min(totals)), tolerance)
        _, around_high = band(Fraction(max(totals)), tolerance)
        around = range(max(around_low, self.smallest), min(around_high, self.largest) + 1)
        bounds = self.lower_bounds(around)
        # entries: (error or its lower bound, exact?, distance, total), the smallest first
        heap = [(_under(bounds[t]), 0, abs(t - aim_f), t) for t in totals]
        heapq.heapify(heap)
        popped: list = []      # totals whose exact best error came off the heap, sorted
        popped_error: dict = {}
        optimum = None
        stable: list = []

        def beaten(total: int, value) -> bool:
            """A total already off the heap, within the tolerance of `total`, has a smaller
            best error than `value`: `total` cannot be stable (no solve needed)."""
            low, high = band(Fraction(total), tolerance)
            for t in popped[bisect.bisect_left(popped, low):bisect.bisect_right(popped, high)]:
                if t != total and popped_error[t] < value:
                    return True
            return False

        while heap:
            key, exact, distance, total = heapq.heappop(heap)
            if optimum is not None and key > optimum:
                break
            if not exact:
                if beaten(total, key):
                    continue
                found = self.solve_total(total, aim, None)
                if found is not None:
                    heapq.heappush(heap, (found.error, 1, distance, total))
                continue
            bisect.insort(popped, total)
            popped_error[total] = key
            if beaten(total, key):
                continue
            low, high = band(Fraction(total), tolerance)
            window = range(max(low, self.smallest), min(high, self.largest) + 1)
            if all(not self.has_below(t, key, bounds[t], aim) for t in window if t != total):
                optimum = key
                stable.append(total)
        if optimum is None:
            return None
        return self._tie_break(stable, optimum, aim)


def band(aim: Fraction, tolerance: Fraction) -> tuple[int, int]:
    """The whole totals within the tolerance of the aim."""
    return max(1, math.ceil(aim * (1 - tolerance))), math.floor(aim * (1 + tolerance))


def _result(problem: _Problem, aim: Fraction, tolerance: Fraction) -> Result:
    low, high = band(aim, tolerance)
    return Result(aim=aim, tolerance=tolerance, low=low, high=high,
                  reachable=(problem.smallest, problem.largest), choice=None,
                  current=problem.score(problem.r0, aim))


def _finish(problem: _Problem, result: Result, compare_outside: bool) -> Result:
    if result.choice is None:
        result.nearest = _nearest_reachable(problem, result.low, result.high)
        return result
    result.limited = limited(problem, result.choice)
    if compare_outside and result.choice.error > 0:
        wide = min(Fraction(1), 3 * result.tolerance) if result.tolerance else Fraction(1, 10)
        wide_low, wide_high = band(result.aim, wide)
        outside = [t for t in range(wide_low, wide_high + 1) if t < result.low or t > result.high]
        found = problem.best(result.aim, outside)
        if found is not None and found.error < result.choice.error:
            result.outside = found
    return result


def search(concepts: list[Concept], aim: Fraction, tolerance: Fraction, lo: int = 1,
           hi: int = 100, compare_outside: bool = True) -> Result:
    """The best repeats for a fixed size aim (module docstring), the current repeats scored the
    same way, and, when the best error is not 0, the best choice with a total outside the band
    within three times the tolerance, if it is better (for comparison)."""
    problem = _Problem(concepts, lo, hi)
    result = _result(problem, Fraction(aim), Fraction(tolerance))
    result.choice = problem.best(result.aim, range(result.low, result.high + 1))
    return _finish(problem, result, compare_outside)


def settle(concepts: list[Concept], tolerance: Fraction, lo: int = 1, hi: int = 100,
           max_rounds: int = 50, compare_outside: bool = True) -> Result:
    """The default size, about the current total: the best stable answer in the band of the
    current total, else the search followed from the band's best answer until an answer keeps
    itself (module docstring). `changed` counts against the current repeats."""
    tolerance = Fraction(tolerance)
    problem = _Problem(concepts, lo, hi)
    aim = Fraction(sum(c.images * c.repeats for c in concepts))
    result = _result(problem, aim, tolerance)
    result.choice = problem.best_stable(aim, tolerance, range(result.low, result.high + 1))
    if result.choice is not None or problem.best(aim, range(result.low, result.high + 1)) is None:
        return _finish(problem, result, compare_outside)
    # no stable answer in the band: follow the search until an answer keeps itself
    choice = problem.best(aim, range(result.low, result.high + 1))
    result.in_band = choice
    result.moved = True
    result.stable = False
    for _ in range(max_rounds):
        here = Fraction(choice.total)
        follow = _Problem([Concept(c.images, c.weight, r) for c, r in zip(concepts, choice.repeats)], lo, hi)
        low, high = band(here, tolerance)
        again = follow.best(here, range(low, high + 1))
        if again.repeats == choice.repeats:
            result.stable = True
            break
        result.rounds.append(here)
        choice = again
    result.choice = problem.score(choice.repeats, aim)
    return _finish(problem, result, compare_outside=False)


def limited(problem: _Problem, choice: Choice) -> list:
    """Concepts held at a bound that their ideal repeats at the chosen total lie beyond:
    (index, ideal repeats)."""
    out = []
    for i, r in enumerate(choice.repeats):
        x = problem.ideal(i, choice.total)
        if (r == problem.lo and x < problem.lo) or (r == problem.hi and x > problem.hi):
            out.append((i, x))
    return out


def _nearest_reachable(problem: _Problem, low: int, high: int) -> list:
    """When no total in the band can be reached: the reachable totals nearest the band."""
    if problem.largest < low:
        return [problem.largest]
    if problem.smallest > high:
        return [problem.smallest]
    bits = 1
    for n in problem.n:
        new = 0
        for d in range(problem.hi - problem.lo + 1):
            new |= bits << (n * d)
        bits = new
    out = []
    under = bits & ((1 << max(0, low - problem.smallest)) - 1)
    if under:
        out.append(problem.smallest + under.bit_length() - 1)
    over = bits >> (high + 1 - problem.smallest)
    if over:
        out.append(high + 1 + (over & -over).bit_length() - 1)
    return out
