"""The buddy matcher: who is paired with whom in a pairing run. Pure: no I/O, no Discord, no
database, deterministic for equal inputs and seed, and safe to run in a thread
(`asyncio.to_thread`).

The caller passes only the members who need a buddy now (new, asked for a change, partner left
or paused); pairs that continue are not its business. `match` returns pairs, at most one trio
(when someone would otherwise be left over) and everyone it could not place, with a reason.

Hard constraints, never broken: two people on either one's avoid list or a moderator's
separation (`forbidden`, either direction) are never in the same group, trios included; a
`paused` candidate is never placed (the caller should pass only eligible members anyway).

Preferences are a weight per pair (`pair_weight`): a fit from 0 to 1, three quarters time
zones and a quarter style, less a penalty for a repeat. A run maximises the total over the
matchings that place the most people — so nobody who could have a buddy goes without one to
make the others' pairs nicer, and a recent past buddy is still better than no buddy:

- time zones: the share of waking hours (08:00–22:00 local) that the two have in common, on two
  reference weeks, one in January and one in July, so daylight saving time on either
  hemisphere counts half. Same zone → 1; London–Paris 0.93; New York–London 0.64;
  London–Auckland 0.29. An unknown zone name counts as UTC.
- style: `text` and `voice` do not match each other; `either` matches anything.
- a pair from the last weeks (`recent`, the caller's window: 12 weeks) costs `REPEAT_PENALTY`,
  a hundred times the whole range of the fit, so a repeat happens only when there is no other
  way to give everyone a buddy (short of trading it for better fits on more than a hundred
  pairs at once, which a real server does not offer).

How: up to `COMPLETE_GRAPH_MAX` members, an exact maximum-weight matching (rustworkx's blossom
algorithm, maximum cardinality first, integer weights) on the complete graph of allowed pairs.
Above that the exact matching's time grows faster than n² (12 s for 10,000 members on even a
sparse graph), so the pool is laid out in time-zone order, each zone's styles interleaved, and
cut into blocks of `BLOCK_SIZE`: neighbouring zones, or slices of a big zone with its usual
mix of styles. Each block is matched exactly on a sparse graph: each member's
`BEST_CANDIDATES` best allowed partners in the block plus `RANDOM_CANDIDATES` random ones,
seeded; whoever that leaves out beyond the parity gets all their allowed pairs in the block
and the block is solved again. Those left over by the blocks are matched together, and if
someone who has allowed partners is still unpaired beyond the parity, they are solved again
with the pairs of their best partners. Last, the trio: the one left over joins the pair where
their two new pairs weigh most; if no pair allows them (each holds someone they are kept apart
from), they take a partner whose buddy joins another pair instead.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import rustworkx as rx

STYLES = frozenset({"text", "voice", "either"})
_STYLE_ORDER = ("text", "either", "voice")
_STYLE_INDEX = {style: k for k, style in enumerate(_STYLE_ORDER)}

ZONE_WEIGHT = 0.75
STYLE_WEIGHT = 0.25
REPEAT_PENALTY = 100.0
"""A recent pair's weight is its fit (0–1) minus this: far below any pair that is not a repeat."""

COMPLETE_GRAPH_MAX = 200
BLOCK_SIZE = 200
BEST_CANDIDATES = 30
RANDOM_CANDIDATES = 10
_SCALE = 1_000_000  # rustworkx wants integer weights: micro-units
_REPAIR_ROUNDS = 3
_REPAIR_MEMBERS = 20  # how many left-out members one repair round takes on
_REPAIR_NEIGHBOURS = 20  # and how many of each one's partners (with their buddies)
_TWO_STEP_NEIGHBOURS = 64  # how many of the leftover's partners a two-step trio search tries

# Reasons in `Unmatched.reason`.
PAUSED = "paused"  # passed in with paused=True: not placed, not to be told anything
ALONE = "alone"  # the only one (not paused) in this run
AVOIDS_EVERYONE = "avoids-everyone"  # every other candidate is kept apart from them
NO_PARTNER_LEFT = "no-partner-left"  # their allowed partners were all needed elsewhere

_WAKE_HOUR, _SLEEP_HOUR = 8, 22
_SLOT_MINUTES = 15  # half- and quarter-hour zones (India, Nepal, Chatham) count exactly
_WEEK_SLOTS = 7 * 24 * 60 // _SLOT_MINUTES
_REFERENCE_WEEKS = (date(2026, 1, 5), date(2026, 7, 6))  # Mondays; no DST change in either
_WAKING_SLOTS = (_SLEEP_HOUR - _WAKE_HOUR) * 60 // _SLOT_MINUTES * 7 * len(_REFERENCE_WEEKS)


@dataclass(frozen=True)
class Candidate:
    user_id: int
    zone: str  # IANA; an unknown name counts as UTC
    style: str = "either"  # text | voice | either
    paused: bool = False


@dataclass(frozen=True)
class Unmatched:
    user_id: int
    reason: str  # "paused" | "alone" | "avoids-everyone" | "no-partner-left"


@dataclass(frozen=True)
class Matching:
    groups: tuple[tuple[int, ...], ...]  # pairs, and at most one trio; each sorted, then all
    unmatched: tuple[Unmatched, ...]  # sorted by user id
    weight: float  # pair_weight summed over every two people placed together (a trio: three)


# --- preferences ----------------------------------------------------------------------------


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@cache
def _waking_mask(zone_name: str) -> int:
    """Bit s is set when 15-minute UTC slot s of the reference weeks is waking time there."""
    zone = _zone(zone_name)
    mask = 0
    for week, monday in enumerate(_REFERENCE_WEEKS):
        origin = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
        for day in range(7):
            local = monday + timedelta(days=day)
            bounds = []
            for hour in (_WAKE_HOUR, _SLEEP_HOUR):
                wall = datetime(local.year, local.month, local.day, hour, tzinfo=zone)
                minutes = (wall - origin) // timedelta(minutes=1)
                bounds.append(minutes // _SLOT_MINUTES)
            start, end = bounds
            for slot in range(start, end):  # at most 56 slots; wraps round the week
                mask |= 1 << (slot % _WEEK_SLOTS + week * _WEEK_SLOTS)
    return mask


@cache
def _zone_overlap(a: str, b: str) -> float:
    if a == b:
        return 1.0
    shared = (_waking_mask(a) & _waking_mask(b)).bit_count()
    return min(1.0, shared / _WAKING_SLOTS)


def _position(zone_name: str) -> tuple[float, float, str]:
    """Where a zone sits in time-zone order: its UTC offsets in January and July."""
    zone = _zone(zone_name)
    offsets = [
        datetime(d.year, d.month, d.day, 12, tzinfo=zone).utcoffset() or timedelta()
        for d in _REFERENCE_WEEKS
    ]
    return (offsets[0].total_seconds(), offsets[1].total_seconds(), zone_name)


def _styles_match(a: str, b: str) -> bool:
    return a == b or "either" in (a, b)


def _fit(zone_a: str, style_a: str, zone_b: str, style_b: str) -> float:
    """0–1: how well two members suit each other, before history."""
    za, zb = sorted((zone_a, zone_b))
    return ZONE_WEIGHT * _zone_overlap(za, zb) + STYLE_WEIGHT * _styles_match(style_a, style_b)


def pair_weight(a: Candidate, b: Candidate, *, recent: bool) -> float:
    """What pairing `a` with `b` is worth: fit 0–1, minus `REPEAT_PENALTY` for a recent pair.

    Forbidden pairs have no weight: they are not edges at all.
    """
    return _fit(a.zone, a.style, b.zone, b.style) - (REPEAT_PENALTY if recent else 0.0)


# --- the matcher ----------------------------------------------------------------------------


class _Problem:
    """The active (not paused) members as indices 0..n-1, sorted by user id."""

    def __init__(
        self,
        members: list[Candidate],
        forbidden: Collection[frozenset[int]],
        recent: Collection[frozenset[int]],
    ) -> None:
        self.members = members
        self.n = n = len(members)
        index = {c.user_id: i for i, c in enumerate(members)}
        self.forbidden: list[set[int]] = [set() for _ in range(n)]
        self.recent: list[set[int]] = [set() for _ in range(n)]
        for pairs, adjacency in ((forbidden, self.forbidden), (recent, self.recent)):
            for pair in pairs:
                if len(pair) != 2:
                    continue
                x, y = pair
                i, j = index.get(x), index.get(y)
                if i is not None and j is not None:
                    adjacency[i].add(j)
                    adjacency[j].add(i)
        # Members who share a zone and a style are interchangeable for the preferences.
        kinds: dict[tuple[str, str], int] = {}
        self.kind = [kinds.setdefault((c.zone, c.style), len(kinds)) for c in members]
        zones = sorted({zone for zone, _ in kinds})
        zone_index = {zone: z for z, zone in enumerate(zones)}
        self.kind_zone = [zone_index[zone] for zone, _ in kinds]
        self.kind_style = [_STYLE_INDEX[style] for _, style in kinds]
        self.zone_position = [_position(zone) for zone in zones]
        # rustworkx wants integers: micro-units, shifted by REPEAT_PENALTY so that none is
        # negative (every matching compared has as many pairs, so the shift changes no
        # choice). Kept per zone and per style: a big server has hundreds of zones.
        masks = [_waking_mask(zone) for zone in zones]
        zone_scale = ZONE_WEIGHT * _SCALE / _WAKING_SLOTS
        self.zone_weight = [
            [round(min(_WAKING_SLOTS, (a & b).bit_count()) * zone_scale) for b in masks]
            for a in masks
        ]
        for z in range(len(zones)):
            self.zone_weight[z][z] = round(ZONE_WEIGHT * _SCALE)
        self.penalty = round(REPEAT_PENALTY * _SCALE)
        style_bonus = round(STYLE_WEIGHT * _SCALE)
        self.style_weight = [
            [self.penalty + style_bonus * _styles_match(a, b) for b in _STYLE_ORDER]
            for a in _STYLE_ORDER
        ]

    def kind_weight(self, k: int, other: int) -> int:
        """The integer weight of a new pair of these two kinds."""
        zone, style = self.kind_zone, self.kind_style
        return self.zone_weight[zone[k]][zone[other]] + self.style_weight[style[k]][style[other]]

    def allowed(self, i: int, j: int) -> bool:
        return i != j and j not in self.forbidden[i]

    def weight(self, i: int, j: int) -> float:
        a, b = self.members[i], self.members[j]
        return pair_weight(a, b, recent=j in self.recent[i])

    def best_partners(self, i: int, among: Sequence[int], count: int) -> list[int]:
        allowed = [j for j in among if j != i and j not in self.forbidden[i]]
        allowed.sort(key=lambda j: (-self.weight(i, j), j))
        return allowed[:count]

    def group_weight(self, group: Sequence[int]) -> float:
        return sum(
            self.weight(group[x], group[y])
            for x in range(len(group))
            for y in range(x + 1, len(group))
        )


Edges = dict[tuple[int, int], None]  # (i, j) with i < j; a dict keeps the order: deterministic


def _complete_edges(problem: _Problem, pool: list[int]) -> Edges:
    ordered = sorted(pool)
    return {
        (i, j): None
        for x, i in enumerate(ordered)
        for j in ordered[x + 1 :]
        if j not in problem.forbidden[i]
    }


def _rotated(members: list[int], start: int) -> Iterator[int]:
    for step in range(len(members)):
        yield members[(start + step) % len(members)]


def _sparse_edges(problem: _Problem, pool: list[int], rng: random.Random) -> Edges:
    """Each member's best allowed partners (not recent ones) plus a few random ones. Kinds
    that fit equally well take turns, so that a text member's best include `either` members
    of their zone as well as text ones."""
    by_kind: dict[int, list[int]] = {}
    for i in pool:
        by_kind.setdefault(problem.kind[i], []).append(i)
    for members in by_kind.values():
        rng.shuffle(members)
    kinds = sorted(by_kind)
    tiers: dict[int, list[list[int]]] = {}
    for k in kinds:
        ranked = sorted(kinds, key=lambda other: (-problem.kind_weight(k, other), other))
        tiers[k] = [
            list(tier)
            for _, tier in itertools.groupby(
                ranked, key=lambda other: problem.kind_weight(k, other)
            )
        ]
    edges: Edges = {}
    for i in pool:
        skip = problem.forbidden[i] | problem.recent[i]
        need = BEST_CANDIDATES
        for tier in tiers[problem.kind[i]]:
            walks = [_rotated(by_kind[other], rng.randrange(len(by_kind[other]))) for other in tier]
            for j in itertools.chain.from_iterable(itertools.zip_longest(*walks, fillvalue=-1)):
                if j < 0 or j == i or j in skip:
                    continue
                edges[(i, j) if i < j else (j, i)] = None
                need -= 1
                if not need:
                    break
            if not need:
                break
        forbidden = problem.forbidden[i]
        for _ in range(RANDOM_CANDIDATES):
            j = pool[rng.randrange(len(pool))]
            if j != i and j not in forbidden:
                edges[(i, j) if i < j else (j, i)] = None
    return edges


def _max_matching(problem: _Problem, pool: list[int], edges: Edges) -> list[tuple[int, int]]:
    """An exact maximum-weight matching among maximum-cardinality ones, on the given edges."""
    node = {i: k for k, i in enumerate(pool)}
    kind, kind_weight, recent, penalty = (
        problem.kind,
        problem.kind_weight,
        problem.recent,
        problem.penalty,
    )
    kinds = sorted({kind[i] for i in pool})
    table = {(k, other): kind_weight(k, other) for k in kinds for other in kinds}
    graph: rx.PyGraph[int, int] = rx.PyGraph(multigraph=False, node_count_hint=len(pool))
    graph.add_nodes_from(pool)
    graph.add_edges_from(
        [
            (
                node[i],
                node[j],
                table[kind[i], kind[j]] - (penalty if j in recent[i] else 0),
            )
            for i, j in edges
        ]
    )
    found = rx.max_weight_matching(graph, max_cardinality=True, weight_fn=int)
    return sorted((pool[x], pool[y]) if pool[x] < pool[y] else (pool[y], pool[x]) for x, y in found)


def _sparse_pairs(problem: _Problem, pool: list[int], rng: random.Random) -> list[tuple[int, int]]:
    """Exact on a sparse graph; if that leaves out more than the parity, add every allowed pair
    of those left out and solve again."""
    edges = _sparse_edges(problem, pool, rng)
    pairs = _max_matching(problem, pool, edges)
    for _ in range(_REPAIR_ROUNDS):
        placed = {i for pair in pairs for i in pair}
        left = [i for i in pool if i not in placed]
        if len(left) <= len(pool) % 2:
            break
        before = len(edges)
        for i in left:
            for j in pool:
                if problem.allowed(i, j):
                    edges[(i, j) if i < j else (j, i)] = None
        if len(edges) == before:
            break  # every allowed pair of theirs is in already: this is the true maximum
        pairs = _max_matching(problem, pool, edges)
    return pairs


def _blocks(problem: _Problem, pool: list[int], rng: random.Random) -> list[list[int]]:
    """The pool in time-zone order, each zone's styles interleaved, cut into blocks of at most
    BLOCK_SIZE with an even number of members (the last may be odd). A block is then a few
    neighbouring zones, or a slice of a big zone with its usual mix of styles."""
    by_kind: dict[int, list[int]] = {}
    for i in pool:
        by_kind.setdefault(problem.kind[i], []).append(i)
    key: dict[int, tuple[tuple[float, float, str], float]] = {}
    for kind, members in by_kind.items():
        rng.shuffle(members)
        zone_position = problem.zone_position[problem.kind_zone[kind]]
        for rank, i in enumerate(members):
            key[i] = (zone_position, (rank + rng.random()) / len(members))
    ordered = sorted(pool, key=key.__getitem__)
    count = -(-len(ordered) // BLOCK_SIZE)
    size = -(-len(ordered) // count)
    size += size % 2
    return [ordered[at : at + size] for at in range(0, len(ordered), size)]


def _pairs(problem: _Problem, pool: list[int], rng: random.Random) -> list[tuple[int, int]]:
    """A maximum-cardinality matching of the pool with (nearly, above COMPLETE_GRAPH_MAX)
    the maximum weight."""
    if len(pool) <= COMPLETE_GRAPH_MAX:
        return _max_matching(problem, pool, _complete_edges(problem, pool))
    if len(pool) <= BLOCK_SIZE:
        return _sparse_pairs(problem, pool, rng)
    # The exact matching's time grows faster than n²: solve blocks of neighbours in time, then
    # the few left over in each block together, then repair.
    pairs: list[tuple[int, int]] = []
    left: list[int] = []
    for block in _blocks(problem, pool, rng):
        found = _sparse_pairs(problem, block, rng)
        placed = {i for pair in found for i in pair}
        pairs += found
        left += [i for i in block if i not in placed]
    if len(left) == len(pool):
        return _sparse_pairs(problem, pool, rng)
    if len(left) > 1:
        pairs += _pairs(problem, sorted(left), rng)
    return _augment(problem, pool, pairs, rng)


def _augment(
    problem: _Problem, pool: list[int], pairs: list[tuple[int, int]], rng: random.Random
) -> list[tuple[int, int]]:
    """Blocks can leave out people a global matching would place (their partners were all in
    other blocks and taken). Re-solve them together with the pairs of their best partners."""
    for _ in range(_REPAIR_ROUNDS):
        mate = {a: b for i, j in pairs for a, b in ((i, j), (j, i))}
        left = [i for i in pool if i not in mate]
        if len(left) <= len(pool) % 2:
            break
        sub = set(left[:_REPAIR_MEMBERS])
        placed = [i for i in pool if i in mate]
        for u in left[:_REPAIR_MEMBERS]:
            for a in problem.best_partners(u, placed, _REPAIR_NEIGHBOURS):
                sub.update((a, mate[a]))
        kept = [pair for pair in pairs if pair[0] not in sub]
        subpool = sorted(sub)
        if len(subpool) <= COMPLETE_GRAPH_MAX:
            again = _max_matching(problem, subpool, _complete_edges(problem, subpool))
        else:
            again = _sparse_pairs(problem, subpool, rng)
        if len(again) <= len(pairs) - len(kept):
            break
        pairs = kept + again
    return pairs


def _best_join(
    problem: _Problem, x: int, pairs: list[tuple[int, int]], skip: int = -1
) -> tuple[float, int] | None:
    """The pair (by index) that `x` fits best as a third, and the weight they add."""
    best: tuple[float, int] | None = None
    forbidden = problem.forbidden[x]
    for k, (a, b) in enumerate(pairs):
        if k == skip or a in forbidden or b in forbidden:
            continue
        gain = problem.weight(x, a) + problem.weight(x, b)
        if best is None or gain > best[0]:
            best = (gain, k)
    return best


def _trio(
    problem: _Problem, pairs: list[tuple[int, int]], left: list[int]
) -> tuple[list[tuple[int, ...]], list[int]]:
    """Place one leftover in a trio, if any constraint-respecting way exists."""
    groups: list[tuple[int, ...]] = list(pairs)
    best_direct: tuple[float, int, int] | None = None  # gain, x, pair
    for x in left:
        join = _best_join(problem, x, pairs)
        if join is not None and (best_direct is None or join[0] > best_direct[0]):
            best_direct = (join[0], x, join[1])
    if best_direct is not None:
        _, x, k = best_direct
        groups[k] = (*pairs[k], x)
        return groups, [i for i in left if i != x]
    # Nobody left over can join a pair as it stands. Try: x takes a, whose buddy b joins
    # another pair.
    mate = {a: (b, k) for k, (i, j) in enumerate(pairs) for a, b in ((i, j), (j, i))}
    best_two: tuple[float, int, int, int, int] | None = None  # gain, x, a, pair, pair b joins
    for x in left:
        for a in problem.best_partners(x, sorted(mate), _TWO_STEP_NEIGHBOURS):
            b, k = mate[a]
            join = _best_join(problem, b, pairs, skip=k)
            if join is None:
                continue
            gain = problem.weight(x, a) - problem.weight(a, b) + join[0]
            if best_two is None or gain > best_two[0]:
                best_two = (gain, x, a, k, join[1])
    if best_two is None:
        return groups, left
    _, x, a, k, target = best_two
    b = mate[a][0]
    groups[k] = (x, a)
    groups[target] = (*pairs[target], b)
    return groups, [i for i in left if i != x]


def match(
    candidates: Sequence[Candidate],
    *,
    forbidden: Collection[frozenset[int]] = (),
    recent: Collection[frozenset[int]] = (),
    seed: int = 0,
) -> Matching:
    """Pair the candidates for a pairing run; see the module's docstring for the rules."""
    seen: set[int] = set()
    for c in candidates:
        if c.user_id in seen:
            raise ValueError(f"candidate {c.user_id} is listed twice")
        if c.style not in STYLES:
            raise ValueError(f"candidate {c.user_id} has an unknown style {c.style!r}")
        seen.add(c.user_id)
    ordered = sorted(candidates, key=lambda c: c.user_id)
    unmatched = [Unmatched(c.user_id, PAUSED) for c in ordered if c.paused]
    active = [c for c in ordered if not c.paused]
    if len(active) <= 1:
        unmatched += [Unmatched(c.user_id, ALONE) for c in active]
        return Matching((), tuple(sorted(unmatched, key=lambda u: u.user_id)), 0.0)

    problem = _Problem(active, forbidden, recent)
    n = problem.n
    pool = [i for i in range(n) if len(problem.forbidden[i]) < n - 1]
    unmatched += [
        Unmatched(active[i].user_id, AVOIDS_EVERYONE)
        for i in range(n)
        if len(problem.forbidden[i]) >= n - 1
    ]
    rng = random.Random(seed)
    pairs = _pairs(problem, pool, rng) if pool else []
    placed = {i for pair in pairs for i in pair}
    groups, left = _trio(problem, pairs, [i for i in pool if i not in placed])
    unmatched += [Unmatched(active[i].user_id, NO_PARTNER_LEFT) for i in left]

    as_users = sorted(tuple(sorted(active[i].user_id for i in group)) for group in groups)
    weight = sum(problem.group_weight(group) for group in groups)
    return Matching(tuple(as_users), tuple(sorted(unmatched, key=lambda u: u.user_id)), weight)
