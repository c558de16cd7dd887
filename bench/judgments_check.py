"""Check tests/data/judgments.json against the corpus it judges, and report on each case.

    python bench/judgments_check.py [--keywords]

The corpus is every paper of tests/data/seed_papers.json, digest/sample_data/ and
tests/data/feeds/, parsed with the project's readers and keyed as they key it. The check
fails (exit 1) when a key is not in the corpus, a case breaks the rules of the file's
`about` (interest cases: no seeds; seed cases: 1-3 seeds, no interest; 3-12 relevant;
seeds not relevant) or an alias is wrong. The report gives, per case, how many papers are
relevant, from how many sources, and how many of the interest's words its relevant titles
(and abstracts) share: judged paraphrases should share few, and rare ones least of all.
With --keywords it also runs each case's keywords through the keyword matcher (the tests'
naive oracle) over the whole corpus: recall and precision of the keyword-only baseline.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from digest.ingest.identifiers import canonical_key, parse_arxiv_id  # noqa: E402
from digest.ingest.readers import parse  # noqa: E402
from digest.matching.text import stem, words  # noqa: E402

JUDGMENTS = ROOT / "tests" / "data" / "judgments.json"
SEED_PAPERS = ROOT / "tests" / "data" / "seed_papers.json"
FEEDS = [
    *sorted((ROOT / "digest" / "sample_data").glob("*.*")),
    *sorted((ROOT / "tests" / "data" / "feeds").glob("*.*")),
]
MIN_INTEREST_CASES, MIN_SEED_CASES = 12, 6
MIN_RELEVANT, MAX_RELEVANT = 3, 12
# A title word used by at most this many corpus titles counts as distinctive.
RARE_TITLE_WORD = 3
STOPWORDS = frozenset(
    {
        "a",
        "about",
        "after",
        "all",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "before",
        "but",
        "by",
        "can",
        "do",
        "does",
        "each",
        "for",
        "from",
        "how",
        "in",
        "into",
        "is",
        "it",
        "its",
        "may",
        "must",
        "no",
        "not",
        "of",
        "on",
        "one",
        "or",
        "other",
        "our",
        "so",
        "such",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "to",
        "up",
        "very",
        "what",
        "when",
        "which",
        "while",
        "who",
        "with",
        "without",
        "you",
        "your",
    }
)


def load_corpus() -> dict[str, dict]:
    """key -> {title, abstract, sources}: every paper of every file, as the readers key it."""
    corpus: dict[str, dict] = {}

    def add(key: str, title: str, abstract: str, source: str) -> None:
        entry = corpus.setdefault(key, {"title": title, "abstract": abstract, "sources": []})
        if source not in entry["sources"]:
            entry["sources"].append(source)

    for paper in json.loads(SEED_PAPERS.read_text("utf-8"))["papers"]:
        key = canonical_key(arxiv=parse_arxiv_id(paper["arxiv_id"]))
        add(key, paper["title"], paper["abstract"], SEED_PAPERS.name)
    for path in FEEDS:
        for paper in parse(path.read_bytes()).papers:
            add(paper.key, paper.title, paper.abstract, f"{path.parent.name}/{path.name}")
    return corpus


def content_stems(text: str) -> dict[str, str]:
    return {stem(w): w for w in words(text) if w not in STOPWORDS and len(w) > 1}


def check(doc: dict, corpus: dict[str, dict]) -> list[str]:
    errors: list[str] = []
    aliases: dict[str, str] = doc.get("aliases", {})
    for alias, key in aliases.items():
        for k in (alias, key):
            if k not in corpus:
                errors.append(f"aliases: {k} is not in the corpus")
        if alias in corpus and key in corpus and corpus[alias]["title"] != corpus[key]["title"]:
            errors.append(f"aliases: {alias} and {key} have different titles")
    # Papers under more than one key that `aliases` does not name.
    by_title: dict[str, set[str]] = defaultdict(set)
    for key, entry in corpus.items():
        by_title[" ".join(entry["title"].lower().split())].add(key)
    for keys in by_title.values():
        if len(keys) > 1 and not (keys - {aliases.get(k, k) for k in keys}) <= set(aliases):
            errors.append(f"aliases: {sorted(keys)} share a title but are not all aliased")
    families: dict[str, set[str]] = defaultdict(set)
    for key in corpus:
        families[aliases.get(key, key)].add(key)

    names = Counter(case["name"] for case in doc["cases"])
    errors += [f"case name {name!r} is used {n} times" for name, n in names.items() if n > 1]
    kinds = Counter()
    for case in doc["cases"]:
        name, seeds, relevant = case["name"], case["seeds"], case["relevant"]
        where = f"{name}:"
        for key in [*seeds, *relevant]:
            if key not in corpus:
                errors.append(f"{where} {key} is not in the corpus")
        if len(set(relevant)) != len(relevant):
            errors.append(f"{where} a relevant key is listed twice")
        if seeds:
            kinds["seed"] += 1
            if case["interest"]:
                errors.append(f"{where} a seed case has no interest")
            if not 1 <= len(seeds) <= 3:
                errors.append(f"{where} {len(seeds)} seeds (1-3)")
        else:
            kinds["interest"] += 1
            if not case["interest"].strip():
                errors.append(f"{where} an interest case needs an interest")
        if not case.get("keywords", "").strip():
            errors.append(f"{where} no keywords")
        seed_family = {k for s in seeds for k in families[aliases.get(s, s)]}
        if seed_family & set(relevant):
            errors.append(f"{where} seeds (or their aliases) listed as relevant")
        if not MIN_RELEVANT <= len(relevant) <= MAX_RELEVANT:
            errors.append(f"{where} {len(relevant)} relevant ({MIN_RELEVANT}-{MAX_RELEVANT})")
        for key in relevant:
            missing = families[aliases.get(key, key)] - set(relevant) - seed_family
            if missing:
                errors.append(f"{where} {key} is relevant but its alias {sorted(missing)} is not")
    if kinds["interest"] < MIN_INTEREST_CASES:
        errors.append(f"{kinds['interest']} interest cases (at least {MIN_INTEREST_CASES})")
    if kinds["seed"] < MIN_SEED_CASES:
        errors.append(f"{kinds['seed']} seed cases (at least {MIN_SEED_CASES})")
    return errors


def keyword_baseline(
    case: dict, corpus: dict[str, dict], keys: list[str], aliases: dict[str, str]
) -> tuple[int, int]:
    """(relevant found, papers returned) by the keyword matcher over the whole corpus."""
    from digest.matching.index import PaperText
    from digest.matching.query import parse_query
    from tests.support.naive import naive_select, prepare

    papers = [
        PaperText(id=i, title=corpus[k]["title"], abstract=corpus[k]["abstract"])
        for i, k in enumerate(keys)
    ]
    prepared = [prepare(p) for p in papers]
    hits = naive_select(parse_query(case["keywords"]), prepared, [0.0] * len(papers), len(papers))
    seed_papers = {aliases.get(s, s) for s in case["seeds"]}
    seeds = {k for k in keys if aliases.get(k, k) in seed_papers}
    returned = {keys[i] for _, i in hits} - seeds
    return len(returned & set(case["relevant"])), len(returned)


def report(doc: dict, corpus: dict[str, dict], *, with_keywords: bool) -> None:
    aliases = doc.get("aliases", {})
    title_df = Counter(
        s for k, e in corpus.items() if k not in aliases for s in content_stems(e["title"])
    )
    keys = list(corpus)
    header = (
        f"{'case':46} {'kind':8} {'rel':>3} {'pap':>3} {'src':>3}  "
        f"{'title overlap':32} abstract overlap"
    )
    if with_keywords:
        header += "   keywords: found/returned"
    print(header)
    for case in doc["cases"]:
        relevant = case["relevant"]
        distinct = {aliases.get(k, k) for k in relevant}
        sources = {src for k in relevant for src in corpus.get(k, {}).get("sources", ())}
        kind = "seed" if case["seeds"] else "interest"
        line = f"{case['name']:46} {kind:8} {len(relevant):3} {len(distinct):3} {len(sources):3}  "
        if case["interest"]:
            interest = content_stems(case["interest"])
            titles = {s for k in relevant for s in content_stems(corpus[k]["title"])}
            abstracts = {s for k in relevant for s in content_stems(corpus[k]["abstract"])}
            in_titles, in_abstracts = titles & interest.keys(), abstracts & interest.keys()
            rare = sorted(interest[s] for s in in_titles if title_df[s] <= RARE_TITLE_WORD)
            title_part = (
                f"{len(in_titles)}/{len(interest)} {sorted(interest[s] for s in in_titles)}"
            )
            if rare:
                title_part += f" rare: {rare}"
            line += f"{title_part:32} {len(in_abstracts)}/{len(interest)}"
        else:
            line += f"{'(seed case)':32} -"
        if with_keywords:
            try:
                found, returned = keyword_baseline(case, corpus, keys, aliases)
                line += f"   {found}/{len(relevant)} found, {returned} returned"
            except Exception as error:  # the matcher is being built; the check must not need it
                line += f"   (keyword matcher unavailable: {error})"
        print(line)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keywords", action="store_true", help="also run the keyword baseline")
    args = parser.parse_args(argv)
    doc = json.loads(JUDGMENTS.read_text("utf-8"))
    corpus = load_corpus()
    distinct = len(corpus) - len(doc.get("aliases", {}))
    print(f"corpus: {len(corpus)} keys, {distinct} distinct papers, {len(doc['cases'])} cases\n")
    report(doc, corpus, with_keywords=args.keywords)
    errors = check(doc, corpus)
    for error in errors:
        print("ERROR", error)
    print("\nok" if not errors else f"\n{len(errors)} problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
