"""A closed-loop HTTP load generator: ``concurrency`` clients, each sending its next request as
soon as the previous answer arrives, until ``requests`` have been answered.

Run as its own process (asyncio + aiohttp, one thread), so the load generator's own Python
work does not share a GIL with the measuring script; on a 2-core box it still shares the
cores with the server, and the figures say so. Prints one JSON object: per-request latency
percentiles, requests/s, errors, and how many answers carried each ``X-Index-Version``
(a hot index swap in the middle of the run shows as two versions and no errors).

Run: python benchmarks/loadgen.py --url http://127.0.0.1:8000 --users 1000 --requests 10000 --concurrency 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter

import numpy as np


async def run(url: str, users: np.ndarray, concurrency: int, swap_at: int | None, swap_file: str | None) -> dict:
    import aiohttp

    latencies = np.zeros(len(users))
    statuses: Counter[int] = Counter()
    versions: Counter[str] = Counter()
    errors: list[str] = []
    cursor = iter(range(len(users)))

    async def client(session: aiohttp.ClientSession) -> None:
        for i in cursor:
            if swap_at is not None and i == swap_at and swap_file:
                open(swap_file, "w").close()  # tells the driver to swap the index now
            started = time.perf_counter()
            try:
                async with session.get(f"{url}/recommend", params={"user_id": int(users[i]), "k": 10}) as response:
                    body = await response.json()
                    statuses[response.status] += 1
                    versions[response.headers.get("X-Index-Version", "")] += 1
                    if response.status != 200 or len(body["items"]) != 10:
                        errors.append(f"{response.status}: {str(body)[:200]}")
            except (aiohttp.ClientError, asyncio.TimeoutError) as err:
                statuses[0] += 1
                errors.append(repr(err))
            latencies[i] = (time.perf_counter() - started) * 1000

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(concurrency)))
        wall = time.perf_counter() - started
    pct = {f"p{q}_ms": round(float(np.percentile(latencies, q)), 2) for q in (50, 90, 99, 99.9)}
    return {"concurrency": concurrency, "requests": len(users), "errors": len(errors), **pct,
            "max_ms": round(float(latencies.max()), 2), "requests_per_second": round(len(users) / wall, 1),
            "statuses": {str(k): v for k, v in sorted(statuses.items())}, "index_versions": dict(versions),
            "first_errors": errors[:3], "latencies_ms": [round(x, 3) for x in latencies.tolist()]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--users", type=int, required=True, help="known users are 1..users")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--swap-at", type=int, default=None, help="request number at which to signal a swap")
    parser.add_argument("--swap-file", default=None, help="file created to signal the swap")
    args = parser.parse_args()
    users = np.random.default_rng(args.seed).integers(1, args.users + 1, args.requests)
    print(json.dumps(asyncio.run(run(args.url, users, args.concurrency, args.swap_at, args.swap_file))))


if __name__ == "__main__":
    main()
