"""A client of gerec's HTTP service, with nothing but the standard library.

Start the service first (after `gerec run`, which builds the index):
    gerec serve --index refined-sasrec --api-key secret          # http://127.0.0.1:8000, docs at /docs
Then:
    python examples/http_client.py http://127.0.0.1:8000 --api-key secret --user 1
"""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any


class Client:
    """GET/POST JSON with the API key header; a 4xx answer raises with the service's message."""

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 10.0) -> None:
        self.url, self.timeout = url.rstrip("/"), timeout
        self.headers = {"Content-Type": "application/json", **({"X-API-Key": api_key} if api_key else {})}

    def call(self, path: str, params: dict[str, Any] | None = None, body: dict[str, Any] | None = None) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path + query, data=data, headers=self.headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as err:
            raise RuntimeError(f"{path}: HTTP {err.code}: {json.loads(err.read()).get('detail')}") from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", nargs="?", default="http://127.0.0.1:8000")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--user", type=int, default=1)
    args = parser.parse_args()
    client = Client(args.url, args.api_key)

    health = client.call("/readyz")
    print(f"service up: {health['items']} items, {health['kind']} index, attributes: {', '.join(health['attributes'])}")

    answer = client.call("/recommend", {"user_id": args.user, "k": 3})
    print(f"top 3 for user {args.user}:")
    for item in answer["items"]:
        reasons = ", ".join(f"{r['attribute']} {r['contribution']:+.2f}" for r in item["reasons"])
        print(f"  {item['item_id']:>5} {item['title']}: {reasons or 'latent part only'}")

    first = answer["items"][0]["item_id"]
    why = client.call("/explain", {"user_id": args.user, "item_id": first})
    top = max(why["attributes"].items(), key=lambda kv: kv[1])
    print(f"explain {first}: score {why['score']:.3f} = attributes {sum(why['attributes'].values()):+.3f} "
          f"(largest: {top[0]} {top[1]:+.3f}) + latent {why['latent']:+.3f}")

    like = client.call("/similar", {"item_id": first, "k": 2})
    print(f"like {like['title']}: " + "; ".join(f"{i['title']} (shares {', '.join(i['shared']) or 'nothing'})"
                                                for i in like["items"]))

    new_user = client.call("/recommend", body={"history": [first], "k": 2})  # POST: a history, no user id
    print("a new user who liked it: " + "; ".join(i["title"] for i in new_user["items"]))
    attribute = health["attributes"][0]
    steered = client.call("/recommend", body={"user_id": args.user, "k": 3, "steer": {attribute: 1.0}})
    print(f"more {attribute}: " + "; ".join(i["title"] for i in steered["items"]))
    try:
        client.call("/similar", {"item_id": 10**9})
    except RuntimeError as err:
        print(f"unknown item → {err}")


if __name__ == "__main__":
    main()
