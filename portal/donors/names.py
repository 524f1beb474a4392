"""Names and contact details folded for duplicate matching: accents, case and punctuation dropped, and common
English short forms of first names mapped to the full name ("Bob Smith" and "Robert Smith" are the same name).
In the nickname list each line is the full name and the short forms that point to it; short forms that belong
to several names (Alex, Chris, Sam...) point to the one listed first."""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache


_GROUPS = """
alexander: alex, alec, sandy, xander
alexandra: alexa, lexi, sandra
andrew: andy, drew
anthony: tony, ant
barbara: barb, babs
benjamin: ben, benny, benji
catherine: cath, cathy, kate, katie, kit, kathryn, katherine, kathy
charles: charlie, chas, chuck
christopher: chris, kit, topher
daniel: dan, danny
david: dave, davy
deborah: deb, debbie, debby
edward: ed, eddie, ned, ted, teddy
elizabeth: liz, lizzie, beth, betty, eliza, libby, bess
frederick: fred, freddie
gregory: greg
harold: harry, hal
henry: hank
isabel: izzy, bella, isabella
james: jim, jimmy, jamie
jennifer: jen, jenny
john: jack, johnny, jon
jonathan: jonny
joseph: joe, joey
josephine: jo, josie
katharine: kay
lawrence: larry, laurie
margaret: maggie, meg, peggy, marge, margie, greta
matthew: matt
michael: mike, mick, mikey
nicholas: nick, nicky
patricia: pat, patty, trish, tricia
patrick: paddy
peter: pete
philip: phil, pip
rebecca: becky, becca
richard: rick, ricky, dick, rich, richie
robert: bob, bobby, rob, robbie, bert
samuel: sam, sammy
stephen: steve, stevie, steven
susan: sue, susie, suzanne
theodore: theo
thomas: tom, tommy
timothy: tim, timmy
victoria: vicky, tori
william: will, bill, billy, liam, willie
"""


def _parse() -> dict[str, str]:
    canonical: dict[str, str] = {}
    for line in _GROUPS.strip().splitlines():
        full, shorts = line.split(":")
        for short in shorts.split(","):
            canonical.setdefault(short.strip(), full.strip())
    return canonical


NICKNAMES: dict[str, str] = _parse()


_NOT_LETTERS = re.compile(r"[^a-z0-9]+")
_SPACES = re.compile(r"\s+")
_NOT_DIGITS = re.compile(r"\D")


@lru_cache(maxsize=50_000)  # names repeat: an import of 100k donors folds a few thousand distinct ones
def fold(text: str | None) -> str:
    """Lower case, accents dropped, punctuation and extra spaces gone: "  O'Brién " -> "o brien"."""
    text = text or ""
    if text.isascii():
        plain = text.lower()
    else:
        decomposed = unicodedata.normalize("NFKD", text)
        plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    return _NOT_LETTERS.sub(" ", plain).strip()


def _canonical(name: str) -> str:
    return NICKNAMES.get(name, name)


def match_key(kind: str, first_name: str, last_name: str, organisation_name: str = "") -> str:
    """The blocking key: names that may be the same person's share it (order, nicknames, accents aside)."""
    if kind == "organisation":
        name = fold(organisation_name)
        return f"org {name}" if name else ""
    parts = sorted(part for part in (_canonical(fold(first_name)), _canonical(fold(last_name))) if part)
    return " ".join(parts)


def postcode_key(postcode: str | None) -> str:
    return _SPACES.sub("", postcode or "").upper()


def phone_key(phone: str | None) -> str:
    """The last nine digits: 07700 900123, +44 7700 900123 and (07700) 900-123 are one number."""
    digits = _NOT_DIGITS.sub("", phone or "")
    return digits[-9:] if len(digits) >= 7 else ""
