"""Benchmark: the buddy matcher (`bot/pairing.py`) at 1,000 and 10,000 members.

    python -m bench.pairing [--sizes 1000 10000] [--runs 3] [--exact-max 1000]
                            [--history random own] [--all-zones]

No bot process: the matcher is pure, and this times `match()` itself. Each population has
random zones (40 common IANA zones, evenly), styles (either 50%, text 30%, voice 20%), avoid
lists (each member avoids 0–3 random others) and 12 weeks of history, in two versions:

- `random`: six earlier runs (every two weeks), each a random pairing of everyone;
- `own`: six earlier runs of the matcher itself, each fed the history before it. The harder
  case: last time's partners are exactly the close-zone, same-style people it would pick again.

`--all-zones` spreads members over every IANA zone (~420, `bot.timeutil.all_zones`) instead,
with styles text 40%, voice 40%, either 20%: few neighbours in each zone, more clashing styles.

Figures, per size and history (`--runs` runs with seeds 0, 1, …; the first one also fills the
zone caches):

- time of `match()`; target for 10,000 members < 2 s;
- total weight as a share of the exact optimum: rustworkx's maximum-weight matching (maximum
  cardinality first) on the complete graph of allowed pairs, only up to `--exact-max` members
  (at 1,000: ~500,000 edges); target ≥ 99%. For every size, also the share of an upper bound:
  each member's best allowed partner, halved (no matching can beat it);
- forbidden pairs in the result (every two people in a group): must be 0;
- repeats (recent pairs placed together) and, up to `--exact-max`, the avoidable ones: repeats
  minus the fewest any maximum-cardinality pairing has (an exact solve weighing only whether a
  pair is new);
- members left out, by reason, and trios.
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import time
from collections import Counter

import rustworkx as rx

from bench.common import machine
from bot import timeutil
from bot.pairing import REPEAT_PENALTY, Candidate, Matching, match, pair_weight

ZONES = (
    "Pacific/Honolulu",
    "America/Anchorage",
    "America/Los_Angeles",
    "America/Vancouver",
    "America/Denver",
    "America/Phoenix",
    "America/Chicago",
    "America/Mexico_City",
    "America/New_York",
    "America/Toronto",
    "America/Bogota",
    "America/Halifax",
    "America/Sao_Paulo",
    "America/Argentina/Buenos_Aires",
    "America/St_Johns",
    "Europe/Dublin",
    "Europe/London",
    "Europe/Lisbon",
    "Africa/Lagos",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Madrid",
    "Europe/Stockholm",
    "Europe/Warsaw",
    "Africa/Johannesburg",
    "Europe/Athens",
    "Europe/Helsinki",
    "Africa/Nairobi",
    "Europe/Istanbul",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Asia/Bangkok",
    "Asia/Singapore",
    "Asia/Manila",
    "Asia/Tokyo",
    "Australia/Perth",
    "Australia/Adelaide",
    "Australia/Sydney",
    "Pacific/Auckland",
)
STYLES = ("either", "text", "voice")
STYLE_SHARES = (0.5, 0.3, 0.2)
PAST_RUNS = 6  # every two weeks over the 12-week window

Pairs = set[frozenset[int]]


def population(n: int, seed: int, *, all_zones: bool = False) -> tuple[list[Candidate], Pairs]:
    rng = random.Random(seed)
    ids = rng.sample(range(10**17, 10**17 + 100 * n), n)  # snowflake-sized ids
    zones = timeutil.all_zones() if all_zones else ZONES
    shares = (0.2, 0.4, 0.4) if all_zones else STYLE_SHARES
    candidates = [Candidate(i, rng.choice(zones), rng.choices(STYLES, shares)[0]) for i in ids]
    forbidden = {frozenset((i, rng.choice(ids))) for i in ids for _ in range(rng.randint(0, 3))}
    return candidates, {p for p in forbidden if len(p) == 2}


def random_history(candidates: list[Candidate], seed: int) -> Pairs:
    rng = random.Random(seed + 1)
    ids = [c.user_id for c in candidates]
    recent: Pairs = set()
    for _ in range(PAST_RUNS):
        rng.shuffle(ids)
        recent.update(frozenset(ids[k : k + 2]) for k in range(0, len(ids) - 1, 2))
    return recent


def own_history(candidates: list[Candidate], forbidden: Pairs) -> Pairs:
    recent: Pairs = set()
    for run in range(PAST_RUNS):
        result = match(candidates, forbidden=forbidden, recent=recent, seed=100 + run)
        recent.update(within(result))
    return recent


def within(result: Matching) -> list[frozenset[int]]:
    """Every two people placed together."""
    return [frozenset(p) for g in result.groups for p in itertools.combinations(g, 2)]


def exact(
    candidates: list[Candidate], forbidden: Pairs, recent: Pairs, *, repeats_only: bool = False
) -> tuple[float, int, int]:
    """Exact maximum-weight maximum-cardinality matching on the complete allowed graph:
    its total pair_weight, its pairs and its repeats. `repeats_only` weighs only whether a pair
    is new, so the repeats are the fewest possible."""
    graph: rx.PyGraph[int, int] = rx.PyGraph()
    graph.add_nodes_from(range(len(candidates)))
    edges = []
    for x, y in itertools.combinations(range(len(candidates)), 2):
        a, b = candidates[x], candidates[y]
        key = frozenset((a.user_id, b.user_id))
        if key in forbidden:
            continue
        is_recent = key in recent
        if repeats_only:
            weight = 0 if is_recent else 1
        else:
            weight = round((pair_weight(a, b, recent=is_recent) + REPEAT_PENALTY) * 1_000_000)
        edges.append((x, y, weight))
    graph.add_edges_from(edges)
    found = rx.max_weight_matching(graph, max_cardinality=True, weight_fn=int)
    total = 0.0
    repeats = 0
    for x, y in found:
        a, b = candidates[x], candidates[y]
        is_recent = frozenset((a.user_id, b.user_id)) in recent
        total += pair_weight(a, b, recent=is_recent)
        repeats += is_recent
    return total, len(found), repeats


def upper_bound(candidates: list[Candidate], forbidden: Pairs, recent: Pairs) -> float:
    """Half the sum of each member's best allowed partner's weight (by kind, then member)."""
    kinds: dict[tuple[str, str], list[Candidate]] = {}
    for c in candidates:
        kinds.setdefault((c.zone, c.style), []).append(c)
    reps = {k: members[0] for k, members in kinds.items()}
    total = 0.0
    for c in candidates:
        order = sorted(kinds, key=lambda k: -pair_weight(c, reps[k], recent=False))
        best = -REPEAT_PENALTY  # a repeat at worst, if every new partner is forbidden
        for k in order:
            fit = pair_weight(c, reps[k], recent=False)
            if fit <= best:
                break
            for other in kinds[k]:
                key = frozenset((c.user_id, other.user_id))
                if other is not c and key not in forbidden and key not in recent:
                    best = fit
                    break
        total += best
    return total / 2


def report(n: int, history: str, runs: int, exact_max: int, all_zones: bool) -> None:
    candidates, forbidden = population(n, seed=n, all_zones=all_zones)
    started = time.perf_counter()
    if history == "random":
        recent = random_history(candidates, seed=n)
    else:
        recent = own_history(candidates, forbidden)
    built = time.perf_counter() - started
    print(f"{n:,} members, {'all' if all_zones else len(ZONES)} zones, {history} history: "
          f"{len(forbidden):,} avoid pairs, "
          f"{len(recent):,} recent pairs (built in {built:.1f} s)")  # fmt: skip

    times: list[float] = []
    results: list[Matching] = []
    for seed in range(runs):
        started = time.perf_counter()
        results.append(match(candidates, forbidden=forbidden, recent=recent, seed=seed))
        times.append(time.perf_counter() - started)
    target = " (target < 2 s)" if n >= 10_000 else ""
    print(f"  match(): {' / '.join(f'{t:.2f}' for t in times)} s, "
          f"median {statistics.median(times):.2f} s{target}")  # fmt: skip

    bound = upper_bound(candidates, forbidden, recent)
    weights = [r.weight for r in results]
    print(f"  weight: {' / '.join(f'{w:,.2f}' for w in weights)}; upper bound {bound:,.2f} "
          f"({min(weights) / bound:.3%} of it at worst)")  # fmt: skip
    if n <= exact_max:
        started = time.perf_counter()
        best, pairs, best_repeats = exact(candidates, forbidden, recent)
        took = time.perf_counter() - started
        print(f"  exact optimum (complete graph, {took:.1f} s): {best:,.2f} over {pairs} pairs; "
              f"matcher {min(weights) / best:.3%} of it at worst (target ≥ 99%)")  # fmt: skip
        _, _, fewest = exact(candidates, forbidden, recent, repeats_only=True)
    for seed, result in enumerate(results):
        together = within(result)
        bad = sum(p in forbidden for p in together)
        repeats = sum(p in recent for p in together)
        reasons = Counter(u.reason for u in result.unmatched)
        trios = sum(len(g) == 3 for g in result.groups)
        avoidable = (
            f", avoidable {repeats - fewest} (fewest possible {fewest})" if (n <= exact_max) else ""
        )
        print(f"  seed {seed}: {len(result.groups):,} groups ({trios} trio), forbidden pairs "
              f"{bad} (must be 0), repeats {repeats}{avoidable}, left out "
              f"{dict(reasons) or 0}")  # fmt: skip
    if n <= exact_max:
        print(f"  (exact optimum's own repeats: {best_repeats})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--exact-max", type=int, default=1000)
    parser.add_argument(
        "--history", choices=["random", "own"], nargs="+", default=["random", "own"]
    )
    parser.add_argument("--all-zones", action="store_true")
    args = parser.parse_args()
    print(f"buddy matcher on {machine()}")
    for n in args.sizes:
        for history in args.history:
            report(n, history, args.runs, args.exact_max, args.all_zones)


if __name__ == "__main__":
    main()
