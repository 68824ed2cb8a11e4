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
nothing. Without one (`settle`: "about the current total") the aim would move with the answer
(a second run aims at the answer's own total, whose band reaches further out), so the default
size has a rule of its own that keeps both promises, the total inside the band of the current
total and a second run that changes nothing:

- the current repeats are *kept* when they are already balanced for some size: there is a
  size T' whose band [T'(1 - tolerance), T'(1 + tolerance)] holds their total and no repeats
  with a total in that band have a smaller largest error (what `--total T'` could do on the
  largest error, they already do);
- otherwise the answer is the best choice in the band of the current total (rules 1 to 4 with
  the current total as the aim). That answer is kept by a second run: its own total lies in
  the band of the current total, where nothing has a smaller largest error.

So the total never leaves the band, and `settle(settle(x)) == settle(x)`; `tests/test_shares.py`
checks both, and the rule against brute force, on random cases.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

FLOAT_SLACK = 1e-9   # relative margin on float bounds: they only order and prune, never decide
ABS_SLACK = 1e-12    # and an absolute one: a bound computed in floats for an exact 0 is ~1e-16


def _under(bound: float) -> float:
    """A float lower bound lowered by the margins, so it never excludes an exact value."""
    return max(0.0, bound * (1 - FLOAT_SLACK) - ABS_SLACK)


WORK_LIMIT = 2_000_000    # _Problem._spend units (about half a microsecond to a microsecond each)
MEMORY_BITS = 1 << 31     # the bit sets one subset sum keeps alive at once (256 MB)


class TooLarge(Exception):
    """The exact search would take too long for this request (many concepts, large totals)."""

    def __init__(self, concepts: int, largest: int, hi: int):
        super().__init__(f"the exact search for {concepts} concepts with totals up to {largest} "
                         f"(repeats up to {hi}) is too large")
        self.concepts, self.largest, self.hi = concepts, largest, hi


def _intersect(first: list, second: list) -> list:
    """The intersection of two sorted lists of disjoint (low, high) integer ranges."""
    out = []
    i = j = 0
    while i < len(first) and j < len(second):
        low = max(first[i][0], second[j][0])
        high = min(first[i][1], second[j][1])
        if low <= high:
            out.append((low, high))
        if first[i][1] < second[j][1]:
            i += 1
        else:
            j += 1
    return out


def _totals(spans: list, problem) -> list:
    count = sum(high - low + 1 for low, high in spans)
    problem._spend(count // 10 + 1)
    return [t for low, high in spans for t in range(low, high + 1)]


def _outward(a: int, b: int, x: Fraction, first: int | None = None):
    """The integers of [a, b]: `first` (if given and inside), then by distance to x, the
    smaller first on a tie."""
    if first is not None and a <= first <= b:
        yield first
    down = min(b, math.floor(x))
    up = down + 1
    if down < a:
        down, up = a - 1, a
    while down >= a or up <= b:
        if up > b or (down >= a and x - down <= up - x):
            if down != first:
                yield down
            down -= 1
        else:
            if up != first:
                yield up
            up += 1


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
    kept: bool = False              # the current repeats are already balanced: kept as they are
    window: tuple | None = None     # kept: (low, high), the band of a size T' in which no total
    window_aim: int | None = None   # has a smaller largest error; T' itself
    in_band: Choice | None = None   # kept: the band's best, when its largest error is smaller


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
        self.rate = [w / (n * self.W) for n, w in zip(self.n, self.w)]   # floats: x_i = rate_i * S
        self.work = 0              # bit-set words and operations spent (see _spend)
        self._exact: dict = {}     # total -> exact best error (None: unreachable)
        self._lb: dict = {}        # total -> lb(total)
        self._floor: dict = {}     # total -> a proven lower bound of its best error


    # -- work
    def _spend(self, units: int) -> None:
        """Count the work in units of about a microsecond (a float bound of one concept at one
        total, a bit-set operation per 4096 bits, a concept's step in a choice); past WORK_LIMIT the search stops with TooLarge instead of running for minutes.
        Deterministic: the same request stops at the same point on every machine."""
        self.work += units
        if self.work > WORK_LIMIT:
            raise TooLarge(self.k, self.largest, self.hi)

    def _room(self, bits: int, count: int) -> None:
        """Refuse (TooLarge) a subset sum whose `count` bit sets of `bits` bits each would not
        fit in MEMORY_BITS: the work count alone would stop it only after the memory is taken."""
        if (bits + 1) * count > MEMORY_BITS:
            raise TooLarge(self.k, self.largest, self.hi)
        self._spend(1 + (bits >> 12))

    def _spread(self, bits: int, n: int, width: int, mask: int) -> int:
        """bits | bits << n | ... | bits << (n * width), by doubling (log2(width) shifts)."""
        covered = 0
        size = mask.bit_length()
        width = min(width, size // max(1, n) + 1)    # shifts past the mask add nothing
        while covered < width:
            step = min(covered + 1, width - covered)
            bits = (bits | (bits << (n * step))) & mask
            covered += step
            self._spend(1 + (size >> 12))
        return bits

    # -- exact scores
    def score(self, repeats, aim: Fraction) -> Choice:
        self._spend(3 * self.k)
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
            self._spend(len(todo) * self.k // 5 + 1)
            lo, hi = float(self.lo), float(self.hi)
            worst = [0.0] * len(todo)
            for rate in self.rate:
                column = [((lo - x) / x) if x <= lo else ((x - hi) / x) if x >= hi
                          else (f if (f := x % 1.0) < 0.5 else 1.0 - f) / x
                          for x in [rate * t for t in todo]]
                worst = list(map(max, worst, column))
            known.update(zip(todo, worst))
        return {t: known[t] for t in totals}

    def candidates(self, spans, bound: float) -> list:
        """The totals of `spans` ((low, high) pairs) whose lb may be below `bound`, as sorted
        disjoint (low, high) pairs: per concept the totals where some repeats r in [lo, hi] have
        an own error below the bound, r / (rate (1 + e)) < S < r / (rate (1 - e)), intersected
        over the concepts (widened by the float margins: it never leaves a total out)."""
        out = []
        for low, high in spans:
            low, high = max(low, self.smallest), min(high, self.largest)
            if low > high:
                continue
            current = [(low, high)]
            for rate in sorted(self.rate):
                current = _intersect(current, self._allowed(rate, low, high, bound))
                if not current:
                    break
            out.extend(current)
        return out

    def _allowed(self, rate: float, low: int, high: int, e: float) -> list:
        up = 1 + e + FLOAT_SLACK
        if e >= 1:
            return [(max(low, math.floor(self.lo / (rate * up)) - 1), high)]
        down = max(1 - e - FLOAT_SLACK, 1e-300)
        r_first = max(self.lo, math.floor(rate * low * down))
        r_last = min(self.hi, math.ceil(rate * high * up))
        # from r >= (1 - e) / (2 e) on, the intervals of r and r + 1 overlap: one stretch
        joined = math.ceil((1 - e) / (2 * e)) if e > 0 else r_last + 1
        out = []
        r_stop = min(r_last, max(joined, r_first))
        self._spend(r_stop - r_first + 2)
        for r in range(r_first, r_stop + 1):
            a = max(low, math.floor(r / (rate * up)) - 1)
            b = min(high, math.ceil(r / (rate * down)) + 1)
            if a <= b:
                if out and a <= out[-1][1] + 1:
                    out[-1] = (out[-1][0], max(out[-1][1], b))
                else:
                    out.append((a, b))
        if r_last > r_stop:
            a = max(low, math.floor(r_stop / (rate * up)) - 1)
            b = min(high, math.ceil(r_last / (rate * down)) + 1)
            if a <= b:
                if out and a <= out[-1][1] + 1:
                    out[-1] = (out[-1][0], max(out[-1][1], b))
                else:
                    out.append((a, b))
        return out

    def domains(self, total: int, bound: Fraction | None, strict: bool):
        """Per concept, the repeats [a, b] whose own error at `total` is below `bound` (strict)
        or at most `bound`; None when a concept has none. bound None: no limit."""
        self._spend(self.k)
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

    def may_reach(self, total: int, bound: float) -> bool:
        """A quick float test (never wrong towards False): can a choice with this total have
        an error below `bound`? Each concept's repeats within the bound (clamped to [lo, hi])
        must exist, and their smallest and largest image-steps must enclose the total."""
        low = high = 0
        lo, hi = self.lo, self.hi
        down, up = 1 - bound, 1 + bound
        self._spend(self.k // 4 + 1)
        for n, rate in zip(self.n, self.rate):
            x = rate * total
            slack = x * 1e-9 + 1e-9
            a = max(lo, math.ceil(x * down - slack)) if down > 0 else lo
            b = min(hi, math.floor(x * up + slack))
            if a > b:
                return False
            low += n * a
            high += n * b
        return low <= total <= high

    # -- the subset sum
    def _reach(self, total: int, doms):
        """Bit sets of the reachable sums after each concept (offset by the domains' minima), or
        None when `total` cannot be reached."""
        base = sum(n * a for n, (a, _) in zip(self.n, doms))
        goal = total - base
        if goal < 0 or goal > sum(n * (b - a) for n, (a, b) in zip(self.n, doms)):
            return None
        self._room(goal, self.k + 1)
        mask = (1 << (goal + 1)) - 1
        layers = [1]
        bits = 1
        for n, (a, b) in zip(self.n, doms):
            bits = self._spread(bits, n, b - a, mask)
            layers.append(bits)
        if not (bits >> goal) & 1:
            return None
        return layers, goal

    def _pick(self, total: int, doms, layers, goal: int) -> list:
        """One choice from the reachable sums, each concept (from the last) as near its ideal as
        the rest allows."""
        self._spend(2 * self.k)
        repeats = [0] * self.k
        need = goal
        for i in range(self.k - 1, -1, -1):
            a, b = doms[i]
            x = self.ideal(i, total)
            prev = layers[i]
            for r in _outward(a, b, x):
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
            if high - low <= 1e-4 * max(high, 1e-300):
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
        if not self.may_reach(total, float(bound) * (1 + FLOAT_SLACK) + ABS_SLACK):
            return False
        known = self._exact.get(total, False)
        if known is not False:
            return known is not None and known < bound
        return self.solve_total(total, aim, bound) is not None

    def fewest_changes(self, total: int, bound: Fraction, aim: Fraction,
                       cap: int | None = None) -> Choice | None:
        """Among the choices with this total and error <= bound, one with the fewest changed
        repeats (the subset sum layered by the number of changes), if it changes at most `cap`."""
        cap = self.k if cap is None else cap
        doms = self.domains(total, bound, strict=False)
        if doms is None or self._reach(total, doms) is None:
            return None
        base = sum(n * a for n, (a, _) in zip(self.n, doms))
        goal = total - base
        self._room(goal, (self.k + 1) * (cap + 2))
        mask = (1 << (goal + 1)) - 1
        history = [[1]]   # history[i][c]: sums reachable after i concepts with c changes
        for i, (a, b) in enumerate(doms):
            n, r0 = self.n[i], self.r0[i]
            prev = history[-1]
            new = [0] * min(len(prev) + 1, cap + 1)
            for c, bits in enumerate(prev):
                if not bits:
                    continue
                if a <= r0 <= b and n * (r0 - a) <= goal:
                    new[c] |= (bits << (n * (r0 - a))) & mask
                    self._spend(1 + (goal >> 12))
                    parts = [(a, r0 - 1), (r0 + 1, b)]
                else:
                    parts = [(a, b)]
                if c + 1 > cap:
                    continue
                for first, last in parts:
                    last = min(last, a + goal // n)         # past the goal: nothing to add
                    if first <= last:
                        new[c + 1] |= self._spread((bits << (n * (first - a))) & mask, n, last - first, mask)
            while len(new) > 1 and not new[-1]:
                new.pop()
            history.append(new)
        if not any((bits >> goal) & 1 for bits in history[-1]):
            return None
        changes = next(c for c, bits in enumerate(history[-1]) if (bits >> goal) & 1)
        repeats = [0] * self.k
        need, c = goal, changes
        for i in range(self.k - 1, -1, -1):
            a, b = doms[i]
            prev = history[i]
            x = self.ideal(i, total)
            for r in _outward(a, b, x, first=self.r0[i]):
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
            found = self.fewest_changes(total, optimum, aim,
                                        None if chosen is None else chosen.changed)
            if found is None:
                continue
            if chosen is None or (found.changed, found.total) < (chosen.changed, chosen.total):
                chosen = found
        if chosen is None or chosen.error != optimum:  # pragma: no cover - the optimum is a tie
            raise AssertionError("the tie-break lost the optimum")
        return chosen

    # -- searches over totals
    def best(self, aim: Fraction, spans) -> Choice | None:
        """The best choice among the totals of `spans` ((low, high) pairs), by the rules of the
        module docstring. A threshold e starts just above the smallest lb of the spans (found
        by bisection on `candidates`) and grows by half each round: the totals whose lb may be
        below e are solved in increasing lb until lb reaches the best error found; once a
        choice below e is found, every total that could beat it was among them."""
        spans = [(max(lo, self.smallest), min(hi, self.largest)) for lo, hi in spans]
        spans = [(lo, hi) for lo, hi in spans if lo <= hi]
        if not spans:
            return None
        aim_f = float(aim)
        worst = max(self.W / w for w in self.w) + 1     # no error reaches W / w_min
        e = self._smallest_bound(spans, worst)
        if e is None:
            return None
        best: Choice | None = None
        while True:
            totals = _totals(self.candidates(spans, e), self)
            bounds = self.lower_bounds(totals)
            for total in sorted(totals, key=lambda t: (bounds[t], abs(t - aim_f), t)):
                if _under(bounds[total]) >= (float(best.error) if best is not None else e):
                    break
                limit = best.error if best is not None else Fraction(e)
                if not self.may_reach(total, float(limit) * (1 + FLOAT_SLACK) + ABS_SLACK):
                    continue
                self._spend(self.k // 4 + 1)
                found = self.solve_total(total, aim, limit)
                if found is not None:
                    best = found
            if best is not None or e > worst:
                break
            e *= 1.5
        if best is None:
            return None
        limit = float(best.error) * (1 + FLOAT_SLACK) + ABS_SLACK
        totals = _totals(self.candidates(spans, limit), self)
        bounds = self.lower_bounds(totals)
        ties = [t for t in totals if bounds[t] <= limit
                and self._exact.get(t, False) in (False, best.error)]
        return self._tie_break(ties, best.error, aim)

    def _smallest_bound(self, spans, worst: float) -> float | None:
        """A threshold just above the smallest lb of the spans (None: no total at all)."""
        high = 1 / 64
        while not self.candidates(spans, high):
            if high > worst:
                return None
            high *= 4
        low = 0.0
        for _ in range(30):
            if high - low <= 0.01 * high:
                break
            mid = (low + high) / 2
            if self.candidates(spans, mid):
                high = mid
            else:
                low = mid
        return high * 1.05 + ABS_SLACK

    def keeps(self, tolerance: Fraction) -> tuple | None:
        """Whether the current repeats are already balanced (module docstring): (T', low, high),
        a size T' whose band [low, high] holds their total T0 and has no total with a smaller
        best error than theirs, or None. With integer sizes T' (what --total takes): T0 lies in
        the band of T' for T0 / (1 + t) <= T' <= T0 / (1 - t); a better total S below T0 needs
        T' (1 - t) > S, one above needs T' (1 + t) < S, so the nearest better total on each
        side decides, and the smallest T' left is the one to test the upper side with."""
        if any(r < self.lo or r > self.hi for r in self.r0):
            return None
        t = Fraction(tolerance)
        current = self.score(self.r0, Fraction(0))
        e0, T0 = current.error, current.total
        aim = Fraction(T0)
        lowest_size = math.ceil(T0 / (1 + t))
        highest_size = math.floor(T0 / (1 - t)) if t < 1 else None
        if e0 == 0:
            low, high = band(aim, t)
            return T0, low, high
        # the bands of the sizes reach down to that of the smallest size; only totals whose lb
        # may be below e0 can do better
        lower = max(band(Fraction(lowest_size), t)[0], self.smallest)
        limit = float(e0) * (1 + FLOAT_SLACK) + ABS_SLACK
        if self.has_below(T0, e0, self.lower_bounds([T0])[T0], aim):
            return None
        size = lowest_size
        below = _totals(self.candidates([(lower, T0 - 1)], limit), self)
        bounds = self.lower_bounds(below)
        for total in reversed(below):
            if self.has_below(total, e0, bounds[total], aim):
                if t >= 1:
                    return None      # every band reaches down to 1
                size = max(size, math.floor(total / (1 - t)) + 1)
                break
        if highest_size is not None and size > highest_size:
            return None
        low, high = band(Fraction(size), t)
        above = _totals(self.candidates([(T0 + 1, high)], limit), self)
        bounds = self.lower_bounds(above)
        for total in above:
            if self.has_below(total, e0, bounds[total], aim):
                return None
        return size, low, high


def band(aim: Fraction, tolerance: Fraction) -> tuple[int, int]:
    """The whole totals within the tolerance of the aim."""
    return max(1, math.ceil(aim * (1 - tolerance))), math.floor(aim * (1 + tolerance))


def _result(problem: _Problem, aim: Fraction, tolerance: Fraction) -> Result:
    low, high = band(aim, tolerance)
    return Result(aim=aim, tolerance=tolerance, low=low, high=high,
                  reachable=(problem.smallest, problem.largest), choice=None,
                  current=problem.score(problem.r0, aim))


def _optional(problem: _Problem, compute):
    """A comparison shown beside the answer: at most half the work limit of its own, and
    left out (None) rather than refusing the answer when it would take longer."""
    problem.work = WORK_LIMIT // 2
    try:
        return compute()
    except TooLarge:
        return None


def _finish(problem: _Problem, result: Result, compare_outside: bool) -> Result:
    if result.choice is None:
        result.nearest = _optional(problem, lambda: _nearest_reachable(problem, result.low, result.high)) or []
        return result
    result.limited = limited(problem, result.choice)
    shown = min(result.choice.error, result.in_band.error) if result.in_band is not None \
        else result.choice.error
    if compare_outside and shown > 0:
        wide = min(Fraction(1), 3 * result.tolerance) if result.tolerance else Fraction(1, 10)
        wide_low, wide_high = band(result.aim, wide)
        found = _optional(problem, lambda: problem.best(
            result.aim, [(wide_low, result.low - 1), (result.high + 1, wide_high)]))
        if found is not None and found.error < shown:
            result.outside = found
    return result


def search(concepts: list[Concept], aim: Fraction, tolerance: Fraction, lo: int = 1,
           hi: int = 100, compare_outside: bool = True) -> Result:
    """The best repeats for a fixed size aim (module docstring), the current repeats scored the
    same way, and, when the best error is not 0, the best choice with a total outside the band
    within three times the tolerance, if it is better (for comparison)."""
    problem = _Problem(concepts, lo, hi)
    result = _result(problem, Fraction(aim), Fraction(tolerance))
    result.choice = problem.best(result.aim, [(result.low, result.high)])
    return _finish(problem, result, compare_outside)


def settle(concepts: list[Concept], tolerance: Fraction, lo: int = 1, hi: int = 100,
           compare_outside: bool = True) -> Result:
    """The default size, about the current total (module docstring): the current repeats when
    they are already balanced for some size whose band holds their total, else the best choice
    in the band of the current total. `changed` counts against the current repeats."""
    tolerance = Fraction(tolerance)
    problem = _Problem(concepts, lo, hi)
    aim = Fraction(sum(c.images * c.repeats for c in concepts))
    result = _result(problem, aim, tolerance)
    kept = problem.keeps(tolerance)
    if kept is not None:
        result.kept = True
        result.window_aim, result.window = kept[0], (kept[1], kept[2])
        result.choice = result.current
        if result.current.error > 0:
            best = _optional(problem, lambda: problem.best(aim, [(result.low, result.high)]))
            if best is not None and best.error < result.current.error:
                result.in_band = best
        return _finish(problem, result, compare_outside)
    result.choice = problem.best(aim, [(result.low, result.high)])
    return _finish(problem, result, compare_outside)


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
    """When no total in the band can be reached: the reachable totals nearest the band (the
    sums up to `high` plus the largest image count, by doubling shifts per concept)."""
    if problem.largest < low:
        return [problem.largest]
    if problem.smallest > high:
        return [problem.smallest]
    span = high + max(problem.n) - problem.smallest
    if (span + 1) * 2 > MEMORY_BITS:
        return []        # too far to list: the message names the band alone
    mask = (1 << (span + 1)) - 1
    bits = 1
    for n in problem.n:
        bits = problem._spread(bits, n, problem.hi - problem.lo, mask)
    out = []
    under = bits & ((1 << max(0, low - problem.smallest)) - 1)
    if under:
        out.append(problem.smallest + under.bit_length() - 1)
    over = bits >> (high + 1 - problem.smallest)
    if over:
        out.append(high + 1 + (over & -over).bit_length() - 1)
    return out
