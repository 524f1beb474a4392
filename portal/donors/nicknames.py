"""Common English short forms of first names, for duplicate matching: "Bob Smith" and "Robert Smith" are
the same name. Each line is the full name and the short forms that point to it. Short forms that belong to
several names (Alex, Chris, Sam...) point to the one listed first here."""

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
