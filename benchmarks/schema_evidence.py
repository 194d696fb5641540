"""Does each attribute of a richer schema mean what its name says? Evidence per dataset.

Scores a dataset's items with a schema and holds every attribute that has a label against it
(ROC-AUC of the item scores for a yes/no label, Spearman over items for a number):
* ML-100K (``movies-extended``): genre flags (humor ↔ Comedy, war ↔ War, ...); era ↔ release
  year, acclaim ↔ mean rating, mature audience ↔ mean age of the film's raters (films with at
  least 5 ratings for the last two, so a mean is a mean), mainstream reach ↔ log number of
  ratings. Labels from the original files in ../shared/data/ml-100k (ratings and ages are not
  imported by gerec).
* Amazon Games (``games-extended``) and Amazon Beauty (``beauty-extended``): the files carry no
  categories, so yes/no labels are title keywords and franchise or brand names, written down
  here before any item was scored (a title matching the pattern is a positive, every other
  item a negative; for retro and luxury only items matching one of two opposed lists count);
  mainstream reach ↔ log number of *training* events of the item. A keyword label shows that an
  axis follows its name where the title says it outright; a franchise or brand label needs what
  the encoder knows about the name.
Attributes without a label are listed as such.

Run: python benchmarks/schema_evidence.py [--dataset ml-100k] [--schema movies-extended] [--threads 2]
Adds the run to benchmarks/results/schema_evidence.json (keyed dataset@schema) and prints the table.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import torch
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

import gerec
from gerec import Workspace
from gerec.artifacts import read_json, write_json

sys.path.insert(0, str(Path(__file__).parent))
from import_speed import DATASETS  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "schema_evidence.json"
DEFAULT_SCHEMA = {"ml-100k": "movies-extended", "amazon-games": "games-extended", "amazon-beauty": "beauty-extended"}
GENRES = {"humor": ["Comedy"], "darkness": ["Horror", "Thriller"], "family friendliness": ["Children's", "Animation"],
          "romance": ["Romance"], "action intensity": ["Action"], "suspense": ["Thriller", "Mystery"],
          "war": ["War"], "science fiction": ["Sci-Fi"], "crime": ["Crime"], "western": ["Western"],
          "musical": ["Musical"], "documentary": ["Documentary"], "adventure": ["Adventure"], "fantasy": ["Fantasy"]}
MIN_RATINGS = 5  # for per-film means (acclaim, audience age)
# Yes/no labels from the product text: attribute -> (label name, pattern), case-insensitive, on word bounds.
KEYWORDS: dict[str, dict[str, tuple[str, str]]] = {
    "amazon-games": {
        "accessory": ("accessory words", r"controller|cable|charger|charging|headset|adapter|case|stand|battery|"
                                          r"skin|mount|keyboard|mouse|memory card|screen protector|steering wheel"),
        "sports and racing": ("sports / racing names", r"NBA|NFL|FIFA|Madden|MLB|NHL|racing|golf|tennis|soccer|football|"
                                                      r"baseball|hockey|Forza|Gran Turismo|Need for Speed|skate|"
                                                      r"snowboard|WWE|boxing|Mario Kart|Burnout"),
        "family friendliness": ("children's franchises", r"Disney|LEGO|Mario|Pokemon|Kirby|Skylanders|Sesame|Barbie|"
                                                         r"Nickelodeon|Dora|Kids|Yoshi|Sonic|Spongebob|Pixar"),
        "shooter": ("shooter franchises", r"Call of Duty|Battlefield|Halo|Gears of War|Doom|Counter-Strike|shooter|"
                                          r"sniper|Far Cry|Borderlands|Destiny|Medal of Honor|Ghost Recon|Rainbow Six|"
                                          r"Killzone|Crysis|Titanfall|Wolfenstein|Bioshock"),
        "horror": ("horror franchises", r"Resident Evil|Silent Hill|Dead Space|Alien|Evil Within|Outlast|zombies?|"
                                        r"horror|Fatal Frame|Until Dawn|Dead Rising|Left 4 Dead|Amnesia"),
        "role-playing": ("role-playing franchises", r"Final Fantasy|Dragon Quest|Dragon Age|Elder Scrolls|Skyrim|"
                                                    r"Dark Souls|Demon's Souls|RPG|Kingdom Hearts|Fable|Witcher|Diablo|"
                                                    r"Persona|Tales of|Fallout|Mass Effect|Baldur's Gate"),
        "fighting": ("fighting franchises", r"Street Fighter|Tekken|Mortal Kombat|Soul ?Calibur|Smash Bros|"
                                            r"Dead or Alive|BlazBlue|Injustice|fighting|King of Fighters|"
                                            r"Virtua Fighter|Marvel vs|Guilty Gear"),
        "music and rhythm": ("music game names", r"Guitar Hero|Rock Band|Just Dance|Dance Dance|DJ Hero|karaoke|"
                                                  r"SingStar|rhythm|guitar|drum kit|Dance Central"),
        "puzzle": ("puzzle words", r"puzzle|Tetris|Bejeweled|hidden object|mahjong|brain|sudoku|crossword|"
                                   r"Mystery Case Files|Professor Layton|Portal"),
        "strategy": ("strategy franchises", r"Civilization|Total War|StarCraft|Command (&|&amp;|and) Conquer|strategy|"
                                            r"tactics|XCOM|Age of Empires|Warhammer|Company of Heroes|Europa"),
        "simulation": ("simulation words", r"Sims|simulator|simulation|tycoon|flight|farming|SimCity|Harvest Moon|"
                                           r"Animal Crossing|Roller ?Coaster"),
        "platformer": ("platformer franchises", r"Super Mario|Sonic|Crash Bandicoot|Spyro|Rayman|Donkey Kong|"
                                                r"Ratchet|Jak and Daxter|Sly Cooper|Banjo|LittleBigPlanet|Mega Man"),
        "mature audience": ("mature-rated franchises", r"Grand Theft Auto|GTA|Mortal Kombat|Resident Evil|Call of Duty|"
                                                       r"God of War|Gears of War|Dead Space|Manhunt|Bayonetta|"
                                                       r"Saints Row|Hitman|Mature"),
    },
    "amazon-beauty": {
        "skincare": ("skincare words", r"cream|serum|moisturizer|cleanser|facial|face|toner|mask|skin"),
        "makeup": ("makeup words", r"mascara|eyeshadow|lipstick|foundation|palette|concealer|eyeliner|blush|"
                                   r"makeup|bronzer|primer|gloss"),
        "hair care": ("hair words", r"shampoo|conditioner|hair|curl"),
        "nail care": ("nail words", r"nail|polish|lacquer|opi|manicure|cuticle|gelish"),
        "fragrance": ("fragrance words", r"perfume|eau|cologne|fragrance|parfum|toilette|edt|edp"),
        "natural ingredients": ("natural-ingredient words", r"natural|organic|argan|shea|tea tree|coconut|aloe|jojoba|"
                                                           r"botanical|herbal|henna"),
        "tools and devices": ("tool words", r"brush|brushes|dryer|iron|straightener|tweezers?|clippers?|tools?|"
                                            r"device|mirror|sharpener|sponge|comb"),
        "men's grooming": ("men's words", r"men|mens|shave|shaving|razor|beard|aftershave|axe"),
        "anti-aging": ("anti-aging words", r"anti aging|antiaging|anti wrinkle|wrinkles?|retinol|firming|collagen|"
                                           r"age defying|ageless"),
        "acne treatment": ("acne words", r"acne|blemish|pimple|salicylic|benzoyl|blackheads?|proactiv"),
        "sun protection": ("sun words", r"spf|sunscreen|sunblock|sun protection"),
        "body and bath": ("body / bath words", r"body|bath|shower|soap|scrub|wash"),
        "eye makeup": ("eye words", r"mascara|eyeliner|eyeshadow|brow|lash|lashes|eye"),
        "lips": ("lip words", r"lip|lipstick|gloss|balm"),
        "hair color": ("hair-dye words", r"dye|henna|hair colou?r|haircolor|bleach|root"),
        "hair styling": ("styling words", r"styling|hairspray|hair spray|mousse|pomade|flat iron|curling|"
                                          r"straightener|wax|gel"),
        "hydration": ("moisturizing words", r"moisturi[sz]ing|moisturi[sz]er|hydrating|hydration|moisture|butter"),
        "professional salon": ("salon words", r"professional|salon|pro"),
    },
}
# Opposed name lists: only items that match one of them are labelled (positive: the first).
OPPOSED: dict[str, dict[str, tuple[str, str, str]]] = {
    "amazon-games": {
        "retro": ("older vs current platforms", r"PS2|PlayStation 2|PS1|PSOne|GameCube|Nintendo 64|N64|Game ?Boy|GBA|"
                                                r"Dreamcast|Super Nintendo|SNES|NES|Sega Genesis|Saturn|Atari",
                  r"PS4|PlayStation 4|Xbox One|Nintendo Switch"),
    },
    "amazon-beauty": {
        "luxury": ("prestige vs drugstore brands", r"chanel|dior|lancome|estee lauder|clinique|shiseido|la mer|guerlain|"
                                                   r"givenchy|ysl|tom ford|sisley|clarins|kiehls?|bobbi brown|nars|"
                                                   r"urban decay|too faced|benefit|smashbox|laura mercier|"
                                                   r"elizabeth arden|philosophy|peter thomas roth|bare ?minerals",
                   r"loreal|revlon|maybelline|neutrogena|olay|nivea|covergirl|garnier|suave|dove|st ives|aveeno|"
                   r"jergens|pantene|herbal essences|elf|wet n wild|sally hansen|clean clear|vaseline"),
    },
}


def _matches(texts: list[str], pattern: str) -> np.ndarray:
    rx = re.compile(rf"\b(?:{pattern})\b", re.IGNORECASE)
    return np.array([bool(rx.search(t)) for t in texts])


def movielens_labels(ws: Workspace, data: Path) -> dict[str, tuple[str, np.ndarray]]:
    """attribute -> (label, values per dense item id 1..n): genre flags, release year, log ratings,
    mean rating, mean rater age."""
    con = duckdb.connect()
    con.read_parquet(str(ws.id_map_path)).create_view("ids")
    con.read_parquet(str(ws.items_path)).create_view("items")
    con.read_csv(str(data / "u.data"), sep="\t", header=False,
                 names=["user", "item", "rating", "ts"], dtype=["VARCHAR", "VARCHAR", "INTEGER", "BIGINT"]).create_view("r")
    con.read_csv(str(data / "u.user"), sep="|", header=False,
                 names=["user", "age", "gender", "occupation", "zip"], dtype=["VARCHAR", "INTEGER", "VARCHAR", "VARCHAR",
                                                                            "VARCHAR"]).create_view("u")
    table = con.sql("""
        SELECT i.item_id, i.title, i.text, count(r.rating) AS n, avg(r.rating) AS rating, avg(u.age) AS age
        FROM items i JOIN ids m ON m.kind = 'item' AND m.id = i.item_id
        LEFT JOIN r ON r.item = m.original_id LEFT JOIN u ON u.user = r.user
        GROUP BY ALL ORDER BY i.item_id""").to_arrow_table()
    genres = [t.split("Genres:")[-1] for t in table["text"].to_pylist()]
    out = {name: ("/".join(gs), np.array([any(g in t for g in gs) for t in genres])) for name, gs in GENRES.items()}
    years = [re.search(r"\((\d{4})\)", t) for t in table["title"].to_pylist()]
    n = table["n"].to_numpy().astype(float)
    enough = n >= MIN_RATINGS
    out |= {"era": ("year", np.array([float(y.group(1)) if y else np.nan for y in years])),
            "mainstream reach": ("log ratings", np.log1p(n)),
            "acclaim": ("mean rating", np.where(enough, table["rating"].to_numpy(zero_copy_only=False), np.nan)),
            "mature audience": ("mean rater age", np.where(enough, table["age"].to_numpy(zero_copy_only=False), np.nan))}
    return out


def amazon_labels(ws: Workspace, dataset: str) -> dict[str, tuple[str, np.ndarray]]:
    """attribute -> (label, values per dense item id 1..n): keyword and name flags (NaN where an
    opposed pair leaves an item unlabelled), log training events."""
    con = duckdb.connect()
    con.read_parquet(str(ws.items_path)).create_view("items")
    con.read_parquet(str(ws.interactions_path)).create_view("events")
    table = con.sql("""
        SELECT i.item_id, i.text, count(e.item_id) AS n FROM items i
        LEFT JOIN events e ON e.item_id = i.item_id AND e.split = 'train'
        GROUP BY ALL ORDER BY i.item_id""").to_arrow_table()
    texts = table["text"].to_pylist()
    out = {name: (label, _matches(texts, pattern)) for name, (label, pattern) in KEYWORDS[dataset].items()}
    for name, (label, positive, negative) in OPPOSED[dataset].items():
        pos, neg = _matches(texts, positive), _matches(texts, negative)
        out[name] = (label, np.where(pos & ~neg, 1.0, np.where(neg & ~pos, 0.0, np.nan)))
    out["mainstream reach"] = ("log training events", np.log1p(table["n"].to_numpy().astype(float)))
    return out


def evidence(scores: dict[str, np.ndarray], labels: dict[str, tuple[str, np.ndarray]]) -> dict[str, dict[str, object]]:
    """ROC-AUC for a yes/no label (NaN = unlabelled), Spearman for a number, per attribute."""
    out: dict[str, dict[str, object]] = {}
    for name, s in scores.items():
        if name not in labels:
            out[name] = {"label": None, "measure": None, "value": None}
            continue
        label, y = labels[name]
        ok = ~np.isnan(y.astype(float))
        binary = set(np.unique(y[ok]).tolist()) <= {0, 1}
        if binary:
            value = roc_auc_score(y[ok].astype(bool), s[ok])
            out[name] = {"label": label, "measure": "ROC-AUC", "value": round(float(value), 3),
                         "positives": int(y[ok].astype(bool).sum()), "items": int(ok.sum())}
        else:
            out[name] = {"label": label, "measure": "Spearman", "value": round(float(spearmanr(s[ok], y[ok]).statistic), 3),
                         "items": int(ok.sum())}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="ml-100k", choices=sorted(DATASETS))
    parser.add_argument("--schema", help="default: the dataset's extended schema")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    schema = args.schema or DEFAULT_SCHEMA[args.dataset]
    torch.set_num_threads(args.threads)
    fmt, path, items = DATASETS[args.dataset]
    ws = Workspace.resolve(tempfile.mkdtemp(prefix="gerec-evidence-"))
    gerec.import_data(ws, fmt, path, items=items)
    manifest = gerec.score(ws, schema, show_progress=False)
    table = pq.read_table(ws.item_attributes_path)
    scores = {name: table[name].to_numpy() for name in manifest["attributes"]}
    labels = movielens_labels(ws, Path(path)) if args.dataset == "ml-100k" else amazon_labels(ws, args.dataset)
    found = evidence(scores, labels)
    runs = read_json(RESULTS)["runs"] if RESULTS.exists() else {}
    runs[f"{args.dataset}@{schema}"] = {
        "schema": schema, "dataset": args.dataset, "attributes": found, "score_seconds": manifest["seconds"],
        "command": f"python benchmarks/schema_evidence.py --dataset {args.dataset} --schema {schema}",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores", "threads": args.threads,
        "date": time.strftime("%Y-%m-%d")}
    write_json(RESULTS, {"runs": runs})
    print(f"{schema} on {args.dataset} ({len(found)} attributes, scored in {manifest['seconds']:.0f} s)")
    for name, e in found.items():
        value = f"{e['measure']} {e['value']:.3f} vs {e['label']}" if e["value"] is not None else "no label in the data"
        print(f"  {name:<22}{value}")


if __name__ == "__main__":
    main()
