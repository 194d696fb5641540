"""A custom attribute schema for a new domain, scored offline with the default encoder.

Run: python examples/custom_schema.py
(Save the schema as YAML to use it from the CLI: gerec guided score --schema wine.yaml)
"""

from __future__ import annotations

import gerec

# Each end of an attribute says what an item *is* there (avoid "no X": encoders read it as X).
WINE = gerec.parse_schema({
    "domain": "wine",
    "attributes": [
        {"name": "body", "description": "How heavy the wine feels.",
         "low": "a light, crisp, watery wine", "high": "a full-bodied, rich, heavy wine"},
        {"name": "sweetness", "description": "How sweet the wine tastes.",
         "low": "a bone-dry wine", "high": "a sweet dessert wine"},
        {"name": "oak", "description": "How much barrel ageing shows.",
         "low": "a fresh, fruity, steel-tank wine", "high": "an oaky, vanilla, barrel-aged wine"},
    ],
}, "wine (inline)")

WINES = [
    "Sauternes 2015. A luscious dessert wine, honeyed and sweet.",
    "Muscadet 2022. Crisp, light and bone dry, with a salty finish.",
    "Napa Cabernet 2018. Full-bodied and rich, aged in new oak with vanilla notes.",
]


def main() -> None:
    scorer = gerec.make_scorer("encoder")  # the offline default; "causal" for a prompted causal LM
    raw = scorer.raw_scores(WINES, WINE).numpy()  # raw phrase contrasts; gerec calibrates them over a catalogue
    for text, row in zip(WINES, raw):
        best = WINE.names[int(row.argmax())]
        print(f"{text[:28]:<30} highest: {best:<10}", "  ".join(f"{n} {v:+.3f}" for n, v in zip(WINE.names, row)))


if __name__ == "__main__":
    main()
