"""Realistic feed documents built from the seed papers, for tests, fixtures, demos and benchmarks.

    python tests/support/feedgen.py seed ../shared/seed-page.txt   # (re)build tests/data/seed_papers.json
    python tests/support/feedgen.py samples                        # (re)write the demo feeds and fixtures

The seed page has titles and abstracts only; arXiv ids, authors, categories and upvotes are
synthetic (deterministic from the title) and say so in seed_papers.json.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DIR = ROOT / "digest" / "sample_data"
FIXTURE_DIR = ROOT / "tests" / "data" / "feeds"
PAPERS_JSON = ROOT / "tests" / "data" / "seed_papers.json"

FIRST = [
    "Wei",
    "Ana",
    "Rahul",
    "Sofia",
    "Kenji",
    "Amara",
    "Lukas",
    "Mei",
    "Omar",
    "Elena",
    "Tomás",
    "Priya",
    "Jonas",
    "Yuki",
    "Fatima",
    "Daniel",
    "Chen",
    "Ingrid",
    "Mateo",
    "Aisha",
    "Noah",
    "Hana",
    "Arjun",
    "Léa",
    "Samuel",
    "Zeynep",
    "Ivan",
    "Nadia",
    "Kwame",
    "Julia",
]
LAST = [
    "Zhang",
    "Silva",
    "Gupta",
    "Rossi",
    "Tanaka",
    "Okafor",
    "Müller",
    "Li",
    "Haddad",
    "Petrova",
    "García",
    "Iyer",
    "Berg",
    "Sato",
    "Rahman",
    "Cohen",
    "Wang",
    "Larsen",
    "Fernández",
    "Bello",
    "Smith",
    "Kim",
    "Nair",
    "Dubois",
    "Adeyemi",
    "Yilmaz",
    "Novak",
    "Haddad",
    "Mensah",
    "Schmidt",
    "Liu",
    "Moreau",
    "Park",
    "Costa",
    "Chowdhury",
    "Ito",
]
ANNOUNCE_BREAK = " \n"  # arXiv really does leave a space before the line break
CATEGORY_RULES = [
    (r"federated", ["cs.LG", "cs.DC"]),
    (r"image|vision|cnn|convolution|chromosome|diffusion", ["cs.CV", "cs.LG"]),
    (r"language model|llm|nlp|code generation|legal|instruction", ["cs.CL", "cs.LG"]),
    (r"graph", ["cs.LG", "cs.SI"]),
    (r"fairness|equitable", ["cs.LG", "cs.CY"]),
    (r"policy gradient|regret|optimi[sz]ation", ["cs.LG", "math.OC"]),
    (r"cluster|bayesian", ["stat.ML", "cs.LG"]),
]


# --- seed page -> papers.json -----------------------------------------------------------------


def read_seed_page(path: Path) -> list[dict]:
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    start = next(i for i, line in enumerate(lines) if re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}", line))
    body = [line for line in lines[start + 1 :] if line]
    pairs = zip(body[0::2], body[1::2], strict=False)
    return [synthesize(i, title, abstract) for i, (title, abstract) in enumerate(pairs)]


def synthesize(index: int, title: str, abstract: str) -> dict:
    rng = random.Random(hashlib.sha1(title.encode()).hexdigest())
    authors = [f"{rng.choice(FIRST)} {rng.choice(LAST)}" for _ in range(rng.randint(2, 7))]
    categories = next(
        (c for pattern, c in CATEGORY_RULES if re.search(pattern, title + abstract, re.I)),
        ["cs.LG", "stat.ML"],
    )
    return {
        "arxiv_id": f"2403.{5100 + index * 37:05d}",
        "version": rng.choice([1, 1, 1, 2]),
        "title": title,
        "abstract": abstract,
        "authors": list(dict.fromkeys(authors)),
        "categories": categories,
        "upvotes": int(rng.paretovariate(1.2) * 3),
    }


def load_papers() -> list[dict]:
    return json.loads(PAPERS_JSON.read_text(encoding="utf-8"))["papers"]


def synthetic_papers(count: int, *, seed: int = 7) -> list[dict]:
    """`count` distinct papers whose text is recombined from the seed abstracts' sentences."""
    base = load_papers()
    sentences = [s for p in base for s in re.split(r"(?<=[.!?])\s+", p["abstract"]) if len(s) > 30]
    rng = random.Random(seed)
    papers = []
    for i in range(count):
        model = base[i % len(base)]
        papers.append(
            {
                **model,
                "arxiv_id": f"{2400 + i // 90000:04d}.{10000 + i % 90000:05d}",
                "title": model["title"] if i < len(base) else f"{model['title']} ({i})",
                "abstract": " ".join(rng.sample(sentences, rng.randint(5, 9))),
                "upvotes": int(rng.paretovariate(1.2) * 3),
            }
        )
    return papers


# --- renderers ------------------------------------------------------------------------------------


def arxiv_rss(
    papers: list[dict],
    *,
    category: str = "cs.LG",
    day: datetime | None = None,
    announce_types: tuple[str, ...] = ("new",),
) -> str:
    day = day or datetime(2024, 3, 11, tzinfo=UTC)
    stamp = format_datetime(day)
    items = []
    for i, p in enumerate(papers):
        announce = announce_types[i % len(announce_types)]
        items.append(f"""    <item>
      <title>{escape(p["title"])}</title>
      <link>https://arxiv.org/abs/{p["arxiv_id"]}</link>
      <description>arXiv:{p["arxiv_id"]}v{p["version"]} Announce Type: {announce}{ANNOUNCE_BREAK}Abstract: {escape(p["abstract"])}</description>
      <guid isPermaLink="false">oai:arXiv.org:{p["arxiv_id"]}v{p["version"]}</guid>
{"".join(f"      <category>{escape(c)}</category>{chr(10)}" for c in p["categories"])}      <pubDate>{stamp}</pubDate>
      <arxiv:announce_type>{announce}</arxiv:announce_type>
      <dc:rights>http://creativecommons.org/licenses/by/4.0/</dc:rights>
      <dc:creator>{escape(", ".join(p["authors"]))}</dc:creator>
    </item>""")
    return f"""<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom" xmlns:content="http://purl.org/rss/1.0/modules/content/" version="2.0">
  <channel>
    <title>{category} updates on arXiv.org</title>
    <link>http://rss.arxiv.org/rss/{category}</link>
    <description>{category} updates on the arXiv.org e-print archive.</description>
    <atom:link href="http://rss.arxiv.org/rss/{category}" rel="self" type="application/rss+xml"/>
    <docs>http://www.rssboard.org/rss-specification</docs>
    <language>en-us</language>
    <lastBuildDate>{stamp}</lastBuildDate>
    <managingEditor>rss-help@arxiv.org</managingEditor>
    <pubDate>{stamp}</pubDate>
    <skipDays>
      <day>Sunday</day>
      <day>Saturday</day>
    </skipDays>
{chr(10).join(items)}
  </channel>
</rss>
"""


def arxiv_api(papers: list[dict], *, query: str = "cat:cs.LG") -> str:
    entries = []
    for i, p in enumerate(papers):
        published = datetime(2024, 3, 8, tzinfo=UTC) - timedelta(hours=7 * i)
        authors = "".join(
            f"\n    <author>\n      <name>{escape(a)}</name>\n    </author>" for a in p["authors"]
        )
        cats = "".join(
            f'\n    <category term="{c}" scheme="http://arxiv.org/schemas/atom"/>'
            for c in p["categories"]
        )
        entries.append(f"""  <entry>
    <id>http://arxiv.org/abs/{p["arxiv_id"]}v{p["version"]}</id>
    <updated>{published.isoformat().replace("+00:00", "Z")}</updated>
    <published>{published.isoformat().replace("+00:00", "Z")}</published>
    <title>{escape(p["title"])}</title>
    <summary>  {escape(p["abstract"])}
</summary>{authors}
    <arxiv:comment xmlns:arxiv="http://arxiv.org/schemas/atom">12 pages, 4 figures</arxiv:comment>
    <link href="http://arxiv.org/abs/{p["arxiv_id"]}v{p["version"]}" rel="alternate" type="text/html"/>
    <link title="pdf" href="http://arxiv.org/pdf/{p["arxiv_id"]}v{p["version"]}" rel="related" type="application/pdf"/>
    <arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term="{p["categories"][0]}" scheme="http://arxiv.org/schemas/atom"/>{cats}
  </entry>""")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <link href="http://arxiv.org/api/query?search_query%3D{escape(query)}%26id_list%3D%26start%3D0%26max_results%3D{len(papers)}" rel="self" type="application/atom+xml"/>
  <title type="html">ArXiv Query: search_query={escape(query)}&amp;id_list=&amp;start=0&amp;max_results={len(papers)}</title>
  <id>http://arxiv.org/api/cHxbiOdZaP56ODnBPIenZhzg5f8</id>
  <updated>2024-03-11T00:00:00-04:00</updated>
  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">{len(papers)}</opensearch:totalResults>
  <opensearch:startIndex xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">0</opensearch:startIndex>
  <opensearch:itemsPerPage xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">{len(papers)}</opensearch:itemsPerPage>
{chr(10).join(entries)}
</feed>
"""


def hf_daily(papers: list[dict], *, day: datetime | None = None) -> str:
    day = day or datetime(2024, 3, 11, 13, 0, tzinfo=UTC)
    items = []
    for i, p in enumerate(papers):
        digest = hashlib.sha1(p["arxiv_id"].encode()).hexdigest()
        items.append(
            {
                "paper": {
                    "id": p["arxiv_id"],
                    "authors": [
                        {"_id": digest[:24], "name": a, "hidden": False} for a in p["authors"]
                    ],
                    "publishedAt": (day - timedelta(days=3, hours=i))
                    .isoformat()
                    .replace("+00:00", ".000Z"),
                    "submittedOnDailyAt": day.isoformat().replace("+00:00", ".000Z"),
                    "title": p["title"],
                    "summary": p["abstract"],
                    "upvotes": p["upvotes"],
                    "discussionId": digest[:24],
                },
                "publishedAt": (day - timedelta(days=3, hours=i))
                .isoformat()
                .replace("+00:00", ".000Z"),
                "title": p["title"],
                "thumbnail": f"https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/{p['arxiv_id']}.png",
                "numComments": i % 4,
                "submittedBy": {
                    "_id": digest[-24:],
                    "fullname": "AK",
                    "name": "akhaliq",
                    "type": "user",
                },
                "isAuthorParticipating": False,
            }
        )
    return json.dumps(items, ensure_ascii=False, indent=1) + "\n"


def rss2(items: list[dict], *, title: str = "Journal of Machine Learning Research: latest") -> str:
    rendered = []
    for item in items:
        rendered.append(f"""    <item>
      <title>{escape(item["title"])}</title>
      <link>{escape(item["link"])}</link>
      <guid>{escape(item.get("guid", item["link"]))}</guid>
      <description>{escape(item["abstract"])}</description>
      <dc:creator>{escape(", ".join(item["authors"]))}</dc:creator>
      <pubDate>{item.get("pubDate", "Fri, 08 Mar 2024 09:30:00 GMT")}</pubDate>
    </item>""")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel>
    <title>{escape(title)}</title>
    <link>https://jmlr.example.org/</link>
    <description>Recently published papers</description>
{chr(10).join(rendered)}
  </channel>
</rss>
"""


def atom(items: list[dict], *, title: str = "ML Lab blog: papers") -> str:
    rendered = []
    for item in items:
        authors = "".join(f"<author><name>{escape(a)}</name></author>" for a in item["authors"])
        rendered.append(f"""  <entry>
    <title type="html">{escape(item["title"])}</title>
    <link rel="alternate" href={quoteattr(item["link"])}/>
    <id>{escape(item.get("guid", item["link"]))}</id>
    <updated>2024-03-09T12:00:00Z</updated>
    {authors}
    <summary type="html">{escape(item["abstract"])}</summary>
  </entry>""")
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>{escape(title)}</title>
  <id>tag:lab.example.org,2024:papers</id>
  <updated>2024-03-09T12:00:00Z</updated>
  <link rel="self" href="https://lab.example.org/papers.atom"/>
{chr(10).join(rendered)}
</feed>
"""


# --- files ----------------------------------------------------------------------------------------


def write_samples() -> None:
    papers = load_papers()
    announce = ("new", "new", "new", "cross", "new", "replace")
    (SAMPLE_DIR / "arxiv-cs-lg.xml").write_text(
        arxiv_rss(papers[:45], announce_types=announce), "utf-8"
    )
    (SAMPLE_DIR / "hf-daily.json").write_text(hf_daily(papers[30:]), "utf-8")
    FIXTURE_DIR.mkdir(parents=True, exist_ok=True)
    (FIXTURE_DIR / "arxiv-rss.xml").write_text(
        arxiv_rss(papers[:12], announce_types=announce), "utf-8"
    )
    (FIXTURE_DIR / "arxiv-api.xml").write_text(arxiv_api(papers[10:18]), "utf-8")
    (FIXTURE_DIR / "hf-daily.json").write_text(hf_daily(papers[8:14]), "utf-8")
    journal = [
        {
            "title": p["title"],
            "abstract": p["abstract"],
            "authors": p["authors"],
            "link": f"https://doi.org/10.5555/jmlr.2024.{i:04d}?utm_source=rss",
        }
        for i, p in enumerate(papers[40:45])
    ]
    (FIXTURE_DIR / "generic-rss.xml").write_text(rss2(journal), "utf-8")
    blog = [
        {
            "title": p["title"],
            "abstract": p["abstract"],
            "authors": p["authors"][:2],
            "link": f"http://www.arxiv.org/pdf/{p['arxiv_id']}v1.pdf"
            if i % 2
            else f"https://lab.example.org/posts/{p['arxiv_id']}/",
        }
        for i, p in enumerate(papers[0:4])
    ]
    (FIXTURE_DIR / "generic-atom.xml").write_text(atom(blog), "utf-8")


def main(argv: list[str]) -> None:
    if argv[:1] == ["seed"]:
        papers = read_seed_page(Path(argv[1]))
        note = (
            "Titles and abstracts from the seed papers page; arXiv ids, authors, "
            "categories and upvotes are synthetic."
        )
        PAPERS_JSON.write_text(
            json.dumps({"note": note, "papers": papers}, ensure_ascii=False, indent=1) + "\n",
            "utf-8",
        )
        print(f"wrote {len(papers)} papers to {PAPERS_JSON}")
    elif argv[:1] == ["samples"]:
        write_samples()
        print(f"wrote samples to {SAMPLE_DIR} and {FIXTURE_DIR}")
    else:
        print(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
