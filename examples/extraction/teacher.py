"""An offline teacher for the contact-card example: regular expressions and rules of thumb that
pull the sender's contact card out of a text, and templates that write new texts together with
their cards. It stands in for an LLM where none can be reached (tests, the demo); its accuracy
says nothing about an LLM's.

    TEACHER.answer("Best,\\nAna Lima\\nBuyer, Lumo Ltd\\nana@lumo.co.uk\\nLeeds, UK", {})
    # '{"name": "Ana Lima", "title": "Buyer", "company": "Lumo Ltd", ...}'
    TEACHER.propose(10, seeds, {"sample": 3, "focus": {"needs": ["phones[].number"]}})
    TEACHER.propose(4, [seed], {"sample": 1, "augmentation": "complexity"})
"""

from __future__ import annotations

import json
import random
import re
import unicodedata
import zlib
from dataclasses import dataclass
from typing import Any

# -- reading a text ---------------------------------------------------------------------------------
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
NUMBER = re.compile(r"\+?\(?\d[\d ().-]*\d")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
PROSE = 100  # characters from which a line is read as prose, a sentence at a time
SEPARATORS = re.compile(r"\s+(?:\||·|•|/|–|—|-)\s+")
COMMA = re.compile(r",\s+(?!(?:Ltd|Inc|LLC|LLP|GmbH|Co|Corp|S\.A|S\.L|B\.V|AG|AB|AS)\b)")

CLOSINGS = {
    "best", "best regards", "kind regards", "regards", "warm regards", "warmest regards", "warmly",
    "cheers", "thanks", "thank you", "many thanks", "thanks again", "thanks and regards", "thx",
    "ta", "sincerely", "yours sincerely", "yours faithfully", "best wishes", "with best wishes",
    "with warm regards", "all the best", "speak soon", "talk soon", "take care", "xo", "xx",
    "--", "—", "-", "un saludo", "saludos", "cordialement", "freundliche grüsse",
    "mit freundlichen grüßen", "viele grüße", "mvh", "med vänliga hälsningar", "met vriendelijke groet",
    "groetjes", "abraços", "cumprimentos", "distinti saluti", "cordiali saluti",
}
CLOSING_WORDS = ("thanks", "thank", "regards", "best", "cheers", "kind", "warm", "yours", "many",
                 "with", "all")
GREETINGS = {"hi", "hello", "hey", "dear", "morning", "good", "hei", "hej", "hallo", "guten",
             "bonjour", "hola", "ciao", "thanks", "thank", "re", "fwd", "sent"}
PARTICLES = {"van", "de", "der", "den", "da", "das", "do", "dos", "du", "von", "del", "della",
             "di", "le", "la", "bin", "binti", "al", "el", "ten", "ter"}

LABELS = {
    "mobile": {"m", "mob", "mobile", "cell", "cel", "c", "mobil", "handy", "móvil", "cellphone",
               "whatsapp", "gsm"},
    "fax": {"f", "fax", "telefax"},
    "office": {"t", "tel", "tél", "telephone", "phone", "ph", "p", "o", "office", "direct", "d",
               "dd", "w", "work", "büro", "switchboard", "landline", "main"},
}
NOT_PHONES = {"ticket", "ref", "reference", "order", "case", "invoice", "booking", "account",
              "sku", "po", "tracking", "iban", "vat", "old", "former", "previous"}

TITLE_WORDS = {
    "manager", "director", "engineer", "officer", "head", "lead", "consultant", "analyst",
    "coordinator", "founder", "co-founder", "ceo", "cto", "cfo", "coo", "cmo", "vp", "president",
    "partner", "designer", "specialist", "associate", "architect", "advisor", "adviser",
    "accountant", "editor", "researcher", "scientist", "lecturer", "professor", "buyer",
    "representative", "administrator", "developer", "supervisor", "planner", "executive",
    "counsel", "paralegal", "secretary", "owner", "assistant", "translator", "master",
    "technician", "therapist", "physiotherapist", "controller", "handler", "agent", "recruiter",
    "chef", "producer", "strategist", "intern", "nurse", "principal", "trainer", "photographer",
    "writer", "copywriter", "librarian", "surveyor", "pharmacist", "curator", "fellow", "clerk",
    "receptionist", "chair", "treasurer", "brewer", "baker", "instructor", "tutor",
}
SUFFIXES = {
    "Ltd", "Ltd.", "Limited", "Inc", "Inc.", "LLC", "LLP", "LP", "PLC", "plc", "GmbH", "AG", "SA",
    "S.A.", "S.L.", "SARL", "SAS", "B.V.", "BV", "N.V.", "AB", "AS", "ASA", "Oy", "ApS", "A/S",
    "K.K.", "Pty", "Pvt", "Ltda", "Ltda.", "S.r.l.", "S.p.A.", "Co.", "Corp", "Corp.", "Company",
    "Group", "Holdings", "Partners", "Associates", "Consulting", "Solutions", "Systems", "Studios",
    "Labs", "Analytics", "Media", "Press", "Clinic", "Hospital", "University", "College",
    "Institute", "Association", "Foundation", "Trust", "Bank", "Insurance", "Logistics",
    "Shipping", "Freight", "Transport", "Foods", "Hotels", "Winery", "Bakery", "Architects",
    "Software", "Networks", "Robotics", "Energy", "Pharma", "Trading", "Services", "Agency", "KG",
    "Lda.", "DAC",
}
MULTI_SUFFIXES = ("sp. z o.o.", "S.A. de C.V.", "(Pty) Ltd", "Co., Ltd.")

CITIES = (
    "London", "Leeds", "Manchester", "Bristol", "Birmingham", "Nottingham", "Brighton", "York",
    "Edinburgh", "Glasgow", "Cardiff", "Belfast", "Plymouth", "Dublin", "Cork", "Galway",
    "New York", "San Francisco", "Chicago", "Boston", "Seattle", "Austin", "Denver", "Portland",
    "Atlanta", "Philadelphia", "Miami", "Toronto", "Vancouver", "Montreal", "Calgary", "Sydney",
    "Melbourne", "Brisbane", "Perth", "Adelaide", "Auckland", "Wellington", "Christchurch",
    "Cape Town", "Johannesburg", "Durban", "Nairobi", "Mombasa", "Lagos", "Abuja", "Accra",
    "Cairo", "Mumbai", "Bangalore", "Pune", "Delhi", "Chennai", "Berlin", "Munich", "München",
    "Hamburg", "Cologne", "Köln", "Frankfurt", "Vienna", "Wien", "Graz", "Zurich", "Zürich",
    "Geneva", "Basel", "Paris", "Lyon", "Marseille", "Bordeaux", "Nantes", "Amsterdam",
    "Rotterdam", "Utrecht", "Eindhoven", "Madrid", "Barcelona", "Valencia", "Seville", "Lisbon",
    "Porto", "Milan", "Rome", "Turin", "Bologna", "Stockholm", "Gothenburg", "Malmö", "Lund",
    "Oslo", "Bergen", "Copenhagen", "Aarhus", "Helsinki", "Warsaw", "Kraków", "Gdańsk", "Prague",
    "Athens", "Beirut", "Dubai", "Tokyo", "Osaka", "Kyoto", "São Paulo", "Rio de Janeiro",
    "Santiago", "Mexico City", "Guadalajara", "Monterrey",
)
COUNTRIES = (
    "United Kingdom", "UK", "U.K.", "England", "Scotland", "Wales", "Northern Ireland", "Ireland",
    "USA", "U.S.A.", "US", "United States", "Canada", "Australia", "New Zealand", "NZ", "South Africa",
    "Kenya", "Nigeria", "Ghana", "Egypt", "India", "Germany", "Deutschland", "Austria",
    "Österreich", "Switzerland", "Schweiz", "France", "Belgium", "The Netherlands", "Netherlands",
    "Nederland", "Spain", "España", "Portugal", "Italy", "Italia", "Sweden", "Norway", "Denmark",
    "Finland", "Iceland", "Poland", "Czech Republic", "Greece", "Turkey", "Lebanon", "UAE",
    "United Arab Emirates", "Japan", "China", "Hong Kong", "Singapore", "Brazil", "Brasil",
    "Argentina", "Chile", "Colombia", "Peru", "Mexico", "México",
)


def _alternation(words: tuple[str, ...]) -> re.Pattern[str]:
    ordered = sorted(set(words), key=len, reverse=True)  # the longest name wins at a position
    return re.compile(r"(?<![\w.])(?:" + "|".join(re.escape(w) for w in ordered) + r")(?![\w])")


CITY_RE, COUNTRY_RE = _alternation(CITIES), _alternation(COUNTRIES)
INTRO = re.compile(r"\b(?:it's|it is|this is|my name is|I'm|I am) ((?:[A-Z][\w'-]+ ){1,2}[A-Z][\w'-]+)"
                   r"(?:,? (?:from|at|of|with) ([A-Z][\w&'.-]*(?: (?:&|[A-Z][\w&'.-]*))*))?")


@dataclass
class _Card:
    name: str | None = None
    title: str | None = None
    company: str | None = None
    email: str | None = None


class ContactTeacher:
    """Rules for reading a contact card out of a text; templates for writing new texts."""

    # -- answering -------------------------------------------------------------------------------
    def answer(self, input: str, context: dict) -> str:
        lines = [line.strip() for line in input.strip().splitlines()]
        block = _signature(lines)
        card = _Card()
        phones: list[dict[str, str]] = []
        seen_name = False
        for line in block:
            if not line or line.lower().startswith(("sent from", "www.", "http")):
                continue
            for piece in _sentences(line):
                for segment in SEPARATORS.split(piece):
                    seen_name = _read_segment(segment, card, phones, seen_name)
        if card.name is None:
            intro = INTRO.search(" ".join(block))
            if intro:
                card.name = intro.group(1)
                card.company = card.company or intro.group(2)
        if card.email is None:
            header = next((line for line in lines if line.lower().startswith("from:")), "")
            found = EMAIL.search(header)
            card.email = found.group(0) if found else None
        contact = {"name": card.name or "", "title": card.title, "company": card.company,
                   "email": card.email, "phones": phones, "address": _address(block, card)}
        return json.dumps(contact, ensure_ascii=False)

    # -- proposing -------------------------------------------------------------------------------
    def propose(self, n: int, seeds: list[dict], context: dict) -> list[dict]:
        mode = context.get("augmentation")
        needs = _needs(context)
        base = _seed_contact(seeds[0]) if mode in ("paraphrase", "entities", "complexity") and seeds else None
        rng = _call_rng(context, seeds if base else [], mode, needs)
        pairs: list[dict] = []
        for _ in range(n):
            if base is None:
                contact = _new_contact(rng, needs)
                difficulty = rng.choices(("easy", "medium", "hard"), (35, 40, 25))[0]
            elif mode == "entities":
                contact = _new_contact(rng, needs, shape=base)
                difficulty = str(seeds[0].get("difficulty") or "medium")
            elif mode == "complexity":
                contact, difficulty = base, "hard"
            else:  # paraphrase: the same card in another layout, always with some prose around it
                contact = base
                difficulty = "hard" if seeds[0].get("difficulty") == "hard" else "medium"
            text, contact = _render(contact, difficulty, rng, keep_name=base is not None)
            pairs.append({"input": text, "output": contact, "difficulty": difficulty})
        return pairs


# -- reading helpers ----------------------------------------------------------------------------------
def _is_closing(line: str) -> bool:
    plain = line.lower().rstrip(",.! ")
    if plain in CLOSINGS:
        return True
    words = plain.split()
    return bool(words) and words[0] in CLOSING_WORDS and len(words) <= 4 and line.endswith(",")


def _has_contact(lines: list[str]) -> bool:
    return any(EMAIL.search(line) or _numbers(line) for line in lines)


def _signature(lines: list[str]) -> list[str]:
    """The lines that hold the sender's card: after the last closing line; else the last
    paragraph with an email or a phone; else the whole text."""
    closings = [i for i, line in enumerate(lines) if _is_closing(line)]
    if closings and any(lines[closings[-1] + 1:]):
        return lines[closings[-1] + 1:]
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if line:
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    for paragraph in reversed(paragraphs):
        if _has_contact(paragraph):
            return paragraph
    return lines


def _sentences(line: str) -> list[str]:
    """A long line of prose as its sentences, each without its final full stop (unless that
    stop ends a legal form such as Ltd.); a short line as it is."""
    if len(line) < PROSE:
        return [line]
    sentences = []
    for sentence in SENTENCE_END.split(line):
        last = sentence.split()[-1] if sentence.split() else ""
        if sentence.endswith((".", "!", "?")) and last not in SUFFIXES:
            sentence = sentence[:-1]
        sentences.append(sentence)
    return sentences


def _numbers(text: str) -> list[re.Match[str]]:
    found = []
    for match in NUMBER.finditer(text):
        digits = sum(ch.isdigit() for ch in match.group(0))
        if 7 <= digits <= 15 and not DATE.match(match.group(0)) and "@" not in _around(text, match):
            found.append(match)
    return found


def _around(text: str, match: re.Match[str]) -> str:
    start = text.rfind(" ", 0, match.start()) + 1
    end = text.find(" ", match.end())
    return text[start: end if end != -1 else len(text)]


def _phone(segment: str, match: re.Match[str], is_place: bool) -> dict[str, str] | None:
    number = match.group(0)
    if number.startswith("(") and ")" not in number:
        number = number[1:]
    before = re.findall(r"[^\W\d_]+", segment[: match.start()].lower())[-3:]
    after = re.match(r"\s*\((\w+)\)", segment[match.end():])
    if any(word in NOT_PHONES for word in before):
        return None
    words = ([after.group(1).lower()] if after else []) + before[::-1]
    for word in words:
        for kind, labels in LABELS.items():
            if word in labels:
                return {"kind": kind, "number": number}
    return None if is_place else {"kind": "office", "number": number}  # a postcode, likely


def _words(text: str) -> list[str]:
    return re.findall(r"[\w-]+", text.lower())


def _has_suffix(part: str) -> bool:
    """Whether a part ends like a company name ("... Ltd", "... Logistics", "... S.A. de C.V.")."""
    tokens = part.split()
    return len(tokens) > 1 and (tokens[-1] in SUFFIXES or part.endswith(MULTI_SUFFIXES))


def _is_title(part: str) -> bool:
    return len(part.split()) <= 9 and any(w in TITLE_WORDS for w in _words(part))


def _is_name(part: str) -> bool:
    words = part.split()
    if not 2 <= len(words) <= 4 or words[0].lower() in GREETINGS:
        return False
    if _is_title(part) or _has_suffix(part) or CITY_RE.match(part) or COUNTRY_RE.match(part):
        return False
    return all(w in PARTICLES or (w[0].isupper() and re.fullmatch(r"[\w'’.-]+", w)) for w in words)


def _is_prose(part: str) -> bool:
    """Whether a part reads like a sentence, a label or a handle rather than a name."""
    return (len(part.split()) > 6 or part.endswith(("!", "?")) or ":" in part or "@" in part
            or not part[:1].isupper() or part.lower().startswith(("www", "instagram", "linkedin")))


def _read_segment(segment: str, card: _Card, phones: list[dict[str, str]], seen_name: bool) -> bool:
    """Classify one piece of a signature line; returns whether the name has been seen."""
    email = EMAIL.search(segment)
    if email and card.email is None:
        card.email = email.group(0)
    is_place = bool(CITY_RE.search(segment) or COUNTRY_RE.search(segment))
    numbers = _numbers(segment)
    for match in numbers:
        phone = _phone(segment, match, is_place)
        if phone:
            phones.append(phone)
    if email or (numbers and not is_place):
        return seen_name
    for part in COMMA.split(segment):
        part = part.strip()
        if not part:
            continue
        if card.title is None and " at " in part and _is_title(_split_at(part)[0]):
            card.title, company = _split_at(part)  # "Engineer at Acme"
            card.company = card.company or company
        elif _has_suffix(part):
            card.company = card.company or part
        elif card.title is None and _is_title(part):
            card.title = part
        elif card.name is None and _is_name(part):
            card.name, seen_name = part, True
        elif is_place:
            continue
        elif seen_name and card.company is None and not _is_prose(part) and not _is_title(part):
            card.company = part  # an unexplained short line below the name: the company
    return seen_name


def _split_at(part: str) -> tuple[str, str]:
    """'Engineer at Acme' -> ('Engineer', 'Acme'); a part without ' at ' is all title."""
    title, _, company = part.partition(" at ") if " at " in part else part.partition(" @ ")
    return title.strip(), company.strip()


def _address(block: list[str], card: _Card) -> dict[str, str | None] | None:
    """City and country from the first signature line naming them (a line with both wins)."""
    best: tuple[int, str | None, str | None] | None = None
    for line in block:
        text = line
        for value in (card.company, card.email):
            if value:
                text = text.replace(value, " ")
        countries = list(COUNTRY_RE.finditer(text))
        country = countries[-1] if countries else None
        cities = [m for m in CITY_RE.finditer(text)
                  if not country or m.end() <= country.start() or m.start() >= country.end()]
        city = cities[0].group(0) if cities else None
        if country and not city:
            # "Somewhere, Country": the part before the country is taken for the city
            head = text[: country.start()].rstrip(" ,")
            parts = [p.strip() for p in head.split(",")]
            if head and len(parts[-1].split()) <= 3 and not _is_title(parts[-1]):
                city = parts[-1] or None
        if city or country:
            rank = 2 if city and country else 1
            if best is None or rank > best[0]:
                best = (rank, city, country.group(0) if country else None)
    return {"city": best[1], "country": best[2]} if best else None


# -- writing texts --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Country:
    names: tuple[str, ...]
    cities: tuple[str, ...]  # "City" or "City|Region"
    office: tuple[str, ...]  # phone patterns; '#' is a digit
    mobile: tuple[str, ...]
    tld: str
    legal: tuple[str, ...]
    streets: tuple[str, ...]
    postcode: str  # '#' a digit, 'A' a letter, '@' the region
    continental: bool  # "Street 12, 1234 City" rather than "12 Street, City 1234"


COUNTRY_TABLE: tuple[Country, ...] = (
    Country(("United Kingdom", "UK", "England"),
            ("London", "Leeds", "Manchester", "Bristol", "Birmingham", "Nottingham", "Brighton", "York"),
            ("+44 20 7946 0###", "020 7946 0###", "+44 113 496 0###", "0161 496 0###",
             "+44 117 496 0###"), ("+44 7700 900###", "07700 900###"), "co.uk",
            ("Ltd", "Ltd", "LLP", "Limited", ""), ("Mill Lane", "Station Road", "King Street", "Wharf Road"),
            "AA# #AA", False),
    Country(("USA", "United States", "US"),
            ("New York|NY", "Chicago|IL", "Seattle|WA", "Boston|MA", "Denver|CO", "Austin|TX",
             "San Francisco|CA", "Portland|OR", "Atlanta|GA", "Philadelphia|PA"),
            ("(212) 555-01##", "+1 312 555 01##", "206.555.01##", "+1 (415) 555-01##", "617-555-01##"),
            ("(646) 555-01##", "+1 303 555 01##", "512.555.01##"), "com",
            ("Inc.", "LLC", "Inc", "Corp.", ""),
            ("Pine Street", "Market Street", "Elm Avenue", "Harbor Boulevard"), "@ #####", False),
    Country(("Canada",), ("Toronto|ON", "Vancouver|BC", "Montreal|QC", "Calgary|AB"),
            ("+1 416 555 01##", "(604) 555-01##", "514-555-01##"), ("+1 647 555 01##", "(778) 555-01##"),
            "ca", ("Inc.", "Ltd.", ""), ("Queen Street West", "Front Street", "Granville Street"),
            "@ A#A #A#", False),
    Country(("Australia",), ("Sydney|NSW", "Melbourne|VIC", "Brisbane|QLD", "Perth|WA", "Adelaide|SA"),
            ("+61 2 5550 ####", "(02) 5550 ####", "+61 3 7010 ####"), ("0491 570 1##", "+61 491 570 1##"),
            "com.au", ("Pty Ltd", "Pty Ltd", ""), ("George Street", "Collins Street", "Bay Road"),
            "@ ####", False),
    Country(("Ireland",), ("Dublin", "Cork", "Galway"), ("+353 1 555 0###", "01 555 0###"),
            ("+353 87 555 0###", "087 555 0###"), "ie", ("Ltd", "DAC", ""),
            ("Harcourt Street", "Quay Street"), "A## A#A#", False),
    Country(("New Zealand", "NZ"), ("Auckland", "Wellington", "Christchurch"),
            ("+64 9 555 0###", "(04) 555 0###"), ("+64 21 555 0###", "021 555 0###"), "co.nz",
            ("Ltd", ""), ("Lambton Quay", "Queen Street"), "####", False),
    Country(("South Africa",), ("Cape Town", "Johannesburg", "Durban"),
            ("+27 21 555 0###", "021 555 0###"), ("+27 82 555 0###", "082 555 0###"), "co.za",
            ("(Pty) Ltd", ""), ("Bree Street", "Long Street", "Jan Smuts Avenue"), "####", False),
    Country(("Kenya",), ("Nairobi", "Mombasa"), ("+254 20 555 0###",), ("+254 722 555 ###",),
            "co.ke", ("Ltd", ""), ("Moi Avenue", "Ngong Road"), "#####", False),
    Country(("Nigeria",), ("Lagos", "Abuja"), ("+234 1 555 0###",), ("+234 803 555 0###",), "ng",
            ("Ltd", "Limited", ""), ("Adeola Odeku Street", "Broad Street"), "######", False),
    Country(("India",), ("Mumbai", "Bangalore", "Pune", "Chennai"), ("+91 22 5555 0###", "+91 80 5555 0###"),
            ("+91 98555 0####",), "in", ("Pvt Ltd", "Ltd", ""), ("MG Road", "Linking Road"),
            "######", False),
    Country(("Germany", "Deutschland"), ("Berlin", "Hamburg", "Munich", "München", "Cologne", "Frankfurt"),
            ("+49 30 5550 ####", "030 5550 ####", "+49 40 5550 ####", "+49 89 5550 ####"),
            ("+49 171 555 ####", "0171 555 ####", "+49 151 5550 ####"), "de",
            ("GmbH", "AG", "GmbH & Co. KG", ""), ("Hauptstraße", "Lindenweg", "Hafenstraße"), "#####", True),
    Country(("Austria", "Österreich"), ("Vienna", "Wien", "Graz"), ("+43 1 555 0###",),
            ("+43 664 555 0###",), "at", ("GmbH", ""), ("Mariahilfer Straße", "Ringstraße"), "####", True),
    Country(("Switzerland", "Schweiz"), ("Zurich", "Zürich", "Geneva", "Basel"),
            ("+41 44 555 0###", "+41 22 555 0###"), ("+41 79 555 0# ##",), "ch", ("AG", "SA", "GmbH", ""),
            ("Bahnhofstrasse", "Seestrasse"), "####", True),
    Country(("France",), ("Paris", "Lyon", "Marseille", "Bordeaux", "Nantes"),
            ("+33 1 99 00 ## ##", "01 99 00 ## ##"), ("+33 6 39 98 ## ##", "06 39 98 ## ##"), "fr",
            ("SARL", "SAS", "SA", ""), ("rue de la République", "avenue Victor Hugo"), "#####", True),
    Country(("The Netherlands", "Netherlands"), ("Amsterdam", "Rotterdam", "Utrecht", "Eindhoven"),
            ("+31 20 555 0###", "020 555 0###"), ("+31 6 5555 ####", "06 5555 ####"), "nl",
            ("B.V.", "BV", ""), ("Keizersgracht", "Stationsplein"), "#### AA", True),
    Country(("Spain", "España"), ("Madrid", "Barcelona", "Valencia", "Seville"),
            ("+34 91 555 0###", "+34 93 555 0###"), ("+34 612 555 0##", "+34 699 555 0##"), "es",
            ("S.L.", "S.A.", ""), ("Calle Mayor", "Gran Vía"), "#####", True),
    Country(("Portugal",), ("Lisbon", "Porto"), ("+351 21 555 0###",), ("+351 912 555 0##",), "pt",
            ("Lda.", "S.A.", ""), ("Rua Augusta", "Avenida da Liberdade"), "####-###", True),
    Country(("Italy", "Italia"), ("Milan", "Rome", "Turin", "Bologna"),
            ("+39 02 5555 0###", "+39 06 5555 0###"), ("+39 345 555 0###",), "it",
            ("S.r.l.", "S.p.A.", ""), ("Via Roma", "Corso Italia"), "#####", True),
    Country(("Sweden",), ("Stockholm", "Gothenburg", "Malmö"), ("+46 8 555 0## ##",),
            ("+46 70 555 ## ##",), "se", ("AB", ""), ("Drottninggatan", "Storgatan"), "### ##", True),
    Country(("Norway",), ("Oslo", "Bergen"), ("+47 22 55 5# ##",), ("+47 915 55 0##",), "no",
            ("AS", "ASA", ""), ("Karl Johans gate", "Strandgaten"), "####", True),
    Country(("Denmark",), ("Copenhagen", "Aarhus"), ("+45 32 55 5# ##",), ("+45 20 55 5# ##",), "dk",
            ("ApS", "A/S", ""), ("Vesterbrogade", "Strøget"), "####", True),
    Country(("Poland",), ("Warsaw", "Kraków", "Gdańsk"), ("+48 22 555 0# ##",), ("+48 601 555 0##",),
            "pl", ("sp. z o.o.", "S.A.", ""), ("ul. Marszałkowska", "ul. Floriańska"), "##-###", True),
    Country(("Japan",), ("Tokyo", "Osaka", "Kyoto"), ("+81 3 5555 0###", "+81 6 5555 0###"),
            ("+81 90 5555 0###",), "co.jp", ("K.K.", "Co., Ltd.", ""), ("Chuo-dori",), "###-####", False),
    Country(("Brazil", "Brasil"), ("São Paulo", "Rio de Janeiro"), ("+55 11 5555-0###", "+55 21 5555-0###"),
            ("+55 11 95555-0###",), "com.br", ("Ltda.", "S.A.", ""), ("Avenida Paulista", "Rua Oscar Freire"),
            "#####-###", True),
    Country(("Mexico", "México"), ("Mexico City", "Guadalajara", "Monterrey"), ("+52 55 5555 0###",),
            ("+52 1 55 5555 0###",), "com.mx", ("S.A. de C.V.", ""), ("Avenida Reforma", "Calle Madero"),
            "#####", True),
)

FIRST_NAMES = (
    "Hannah", "Marcus", "Aiko", "Diego", "Olivia", "Samuel", "Chloé", "Liam", "Nadia", "Ingrid",
    "Tomás", "Grace", "Pieter", "Anjali", "Erik", "Mia", "Robert", "Sofia", "Kwame", "Laura",
    "Jonas", "Fiona", "Daniel", "Emma", "Hiroshi", "Priya", "Ben", "Ahmed", "Zoe", "Katarzyna",
    "Lena", "Oluwaseun", "Isabel", "Tariq", "Megan", "Stefan", "Ravi", "Jeroen", "Luca", "Nathan",
    "Georgia", "Carmen", "Felix", "Margaret", "Yusuf", "Aoife", "Owen", "Bella", "Rebecca", "Jake",
    "Martina", "Sarah", "Rui", "Charlotte", "Tomasz", "Helen", "Jennifer", "Sigrid", "Camille",
    "Yara", "Annika", "Chidi", "Sunniva", "Mette", "Lukas", "Ollie", "Tobias", "Marisol", "Søren",
    "Amara", "Mateo", "Leilani", "Noor", "Elif", "Kenji", "Thandiwe", "Paulo", "Freya", "Dmitri",
    "Ana", "Wei", "Aleksander", "Ines", "Omar", "Julia", "Rohan", "Claire", "Mateus", "Hugo",
)
LAST_NAMES = (
    "Whitcombe", "Feld", "Tanabe", "Marín", "Brandt", "Adeyemi", "Bernard", "O'Connell", "Rahman",
    "Solberg", "Hallworth", "Costa", "Liu", "van Dijk", "Mehta", "Lindqvist", "Thompson", "Kline",
    "Rossi", "Mensah", "Jiménez", "Becker", "MacLeod", "Okafor", "Novak", "Yamada", "Natarajan",
    "Carter", "El-Sayed", "Papadopoulos", "Wójcik", "Hoffmann", "Bello", "Fontaine", "Aziz",
    "Price", "Gruber", "Shankar", "de Vries", "Moretti", "Brooks", "Wren", "Ortega", "Wagner",
    "Ellison", "Karim", "Brennan", "Pritchard", "Santos", "Stein", "Morrison", "Quiroga",
    "Lindgren", "Carvalho", "Reyes", "Nowak", "Ashdown", "Tremblay", "Hansen", "Arnaud", "Haddad",
    "Schulz", "Berg", "Lund", "Meier", "Grant", "Reinholt", "Vega", "Idowu", "Kowalczyk", "Oyelaran",
    "Achterberg", "Nakamura", "Fairweather", "Delacroix", "Mbeki", "Sorensen", "Castellanos",
    "Petrov", "Greenhalgh", "Iyer", "Laurent", "Okoro", "Halvorsen", "Dubois", "Keller", "Ferreira",
)
TITLES = (
    "Account Manager", "Senior Account Manager", "Head of Operations", "Operations Manager",
    "Marketing Director", "Software Engineer", "Senior Software Engineer", "Data Analyst",
    "Product Designer", "Product Manager", "Sales Director", "Sales Representative",
    "Procurement Officer", "Finance Director", "Chief Executive Officer", "Founder",
    "Co-Founder & CTO", "Office Manager", "Project Coordinator", "Logistics Coordinator",
    "HR Business Partner", "Talent Acquisition Specialist", "Customer Success Manager",
    "Legal Counsel", "Senior Associate", "Partner", "Research Scientist", "Quality Engineer",
    "Site Manager", "Export Manager", "Purchasing Manager", "Communications Officer",
    "Executive Assistant", "Studio Manager", "Creative Director", "UX Researcher",
    "Business Development Manager", "Regional Sales Manager", "Practice Manager", "Editor",
    "Chief Financial Officer", "Supply Chain Analyst", "Events Coordinator", "Technical Lead",
    "Field Service Engineer", "Managing Director", "Paralegal", "Client Services Director",
    "Head of Procurement", "Warehouse Supervisor", "Brand Strategist", "Head Brewer",
)
STEMS = (
    "Brightfen", "Oakhaven", "Larkspur", "Silverbirch", "Kestrelmoor", "Bluecairn", "Tidewell",
    "Northmere", "Ambergate", "Foxglove", "Greywater", "Hollowbrook", "Ironleaf", "Juniper Row",
    "Kingfisher Bay", "Lanternfield", "Marrowdale", "Nettlecombe", "Pebblestone", "Quarrybank",
    "Redfern", "Saltmarsh", "Thornbury Vale", "Umberfield", "Velvetash", "Willowmere", "Yarrowby",
    "Alderpoint", "Copperline", "Driftmoor", "Elmstead", "Fairwind", "Glasswing", "Harrowfield",
    "Inkberry", "Jadewell", "Kindlewood", "Lowbridge", "Moonrake", "Nightjar", "Oxbow Lane",
    "Pinecrest", "Quillfeather", "Rookhaven", "Sandpiper", "Tallowmere", "Upland Reach",
)
INDUSTRIES = (
    "Logistics", "Analytics", "Foods", "Design", "Engineering", "Dental", "Legal", "Media",
    "Robotics", "Textiles", "Software", "Energy", "Travel", "Ceramics", "Coffee Roasters",
    "Architects", "Consulting", "Health", "Marine", "Print", "Pharma", "Insurance", "Freight",
    "Studios", "Labs", "Systems", "Hotels", "Brewing", "Outdoor", "Furniture",
)
TRADES = ("design", "translations", "photo", "consulting", "audio", "studio", "editing")

OFFICE_LABELS = ("T: ", "Tel: ", "Tel. ", "Phone: ", "Office: ", "Direct: ", "O: ", "P: ", "Ph: ",
                 "tel ", "Telephone: ", "D: ", "T ", "Direct line: ", "Work: ", "")
MOBILE_LABELS = ("M: ", "Mob: ", "Mobile: ", "Cell: ", "mob ", "C: ", "M ", "Mobile ", "m. ", "Cell ")
FAX_LABELS = ("F: ", "Fax: ", "Fax ", "F ", "fax. ")
EMAIL_LABELS = ("", "", "", "E: ", "Email: ", "e. ", "Mail: ")

GREETING_LINES = ("Hi {r},", "Hello {r},", "Dear {r},", "Hey {r},", "Good morning {r},", "Hi all,",
                  "Hello team,", "Dear colleagues,", "Morning {r},", "{r},")
RECIPIENTS = ("Jordan", "Marta", "Akash", "Ms Tan", "Mr Okoye", "Sam", "Priyanka", "Lars", "Fatima",
              "Tom", "Ana", "team", "Dr Lindholm", "Kofi", "Ingrid", "Carla", "Mei", "Oskar")
BODIES = (
    "Thanks for sending the revised quote over. I'll share it with our finance team today.",
    "Just confirming our meeting on {day} at {time}. I've booked the small meeting room.",
    "Please find the signed contract attached. Let me know if you need anything else.",
    "The samples arrived this morning, thank you! They look great.",
    "Following up on our call: the proposal is attached, with the timeline on page two.",
    "Could you send over the updated price list when you get a chance?",
    "We're happy to go ahead with the second option. Invoice to follow.",
    "I'll be out of office until {day}. For anything urgent, please call my mobile.",
    "Attached are the minutes from {day}'s workshop. Shout if I missed anything.",
    "Great to meet you at the conference last week. I'd love to continue the conversation.",
    "The delivery is scheduled for {day} morning; the driver will call ahead.",
    "Thanks for the quick turnaround on the drawings. The client signed them off.",
    "Can we move our call to {time}? Something came up on my side.",
    "I've reviewed the draft and left a few comments in the margin.",
    "Welcome aboard! I'll be your main contact during onboarding.",
    "Our office will be closed on {day} for the public holiday.",
    "Sorry for the slow reply, it's been a busy week here.",
    "Quick reminder that the survey closes on {day}. It takes five minutes.",
    "We've received your order and it will ship within two working days.",
    "Here is the summary of the figures you asked for.",
    "The venue can host up to 80 guests; catering options are in the brochure.",
    "Happy to help with the introduction. I've copied in the right people.",
)
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "the 14th", "next Tuesday", "the 3rd")
TIMES = ("9am", "10:30", "2pm", "3pm", "4:15pm", "noon")
CLOSING_LINES = ("Best,", "Best regards,", "Kind regards,", "Regards,", "Thanks,", "Many thanks,",
                 "Cheers,", "Warm regards,", "All the best,", "Thank you,", "Best wishes,",
                 "Yours sincerely,", "Kind regards", "Cheers", "Thanks!", "--", "Sincerely,")
TOPICS = ("Looking for a good accountant", "Recommendations for a freight forwarder",
          "Anyone used a label printer for shipping?", "Best CRM for a small team?",
          "Coworking space recommendations", "Tips for exporting to the EU",
          "Who does your bookkeeping?", "Advice on hiring a first developer",
          "Reliable courier for fragile items?", "Trade fair this spring: worth it?")
FORUM_BODIES = ("We switched last year and haven't looked back. Happy to share more if you DM me.",
                "I had the same problem. What worked for us was asking for a trial month first.",
                "Strongly recommend getting three quotes before you sign anything.",
                "We ran a small pilot first; it saved us a lot of money.",
                "Feel free to get in touch, I'm always happy to compare notes.")
REF_LINES = ("Ticket #{ref}", "Your reference: {ref}", "Order no. {ref}", "Case number {ref}",
             "Booking ref {ref}", "Invoice {ref}")
REF_SENTENCES = ("Your ticket {ref} has been updated.",
                 "Please quote reference {ref} in any reply.",
                 "Your order {ref} is on its way.",
                 "I've logged this under case {ref}.",
                 "The invoice number is {ref}.")


def _call_rng(context: dict, seeds: list[dict], mode: Any, needs: list[str]) -> random.Random:
    key = json.dumps([mode, needs, [str(s.get("input", ""))[:200] for s in seeds]], ensure_ascii=False)
    return random.Random(int(context.get("sample", 0) or 0) * 1_000_003 + zlib.crc32(key.encode()))


def _needs(context: dict) -> list[str]:
    focus = context.get("focus") or {}
    needs = focus.get("needs") if isinstance(focus, dict) else None
    return [str(n) for n in needs] if isinstance(needs, list) else []


def _seed_contact(seed: dict) -> dict | None:
    output = seed.get("output")
    if isinstance(output, str):
        try:
            output = json.loads(output)
        except ValueError:
            return None
    if not isinstance(output, dict) or not output.get("name"):
        return None
    address = output.get("address") or None
    return {"name": output["name"], "title": output.get("title"), "company": output.get("company"),
            "email": output.get("email"),
            "phones": [{"kind": p["kind"], "number": p["number"]} for p in output.get("phones") or []],
            "address": {"city": address.get("city"), "country": address.get("country")} if address else None}


def _digits(pattern: str, rng: random.Random) -> str:
    return re.sub("#", lambda _: str(rng.randrange(10)), pattern)


def _ascii(text: str) -> str:
    text = text.translate(str.maketrans({"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "ß": "ss", "æ": "ae"}))
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _new_contact(rng: random.Random, needs: list[str], shape: dict | None = None) -> dict:
    """A contact with invented values; `shape` (a seed's contact) fixes which fields are filled."""
    country = rng.choice(COUNTRY_TABLE)
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    want = {field.split("[")[0].split(".")[0] for field in needs}

    def present(field: str, chance: float) -> bool:
        if shape is not None:
            return bool(shape.get(field))
        return field in want or rng.random() < chance

    stem = rng.choice(STEMS)
    company = None
    if present("company", 0.85):
        legal = rng.choice(country.legal)
        company = f"{stem} {rng.choice(INDUSTRIES)}" + (f" {legal}" if legal else "")
    email = None
    if present("email", 0.85):
        given, family = _ascii(first), _ascii(last)
        local = rng.choice((f"{given}.{family}", f"{given[0]}.{family}", given, f"{given}{family[0]}",
                            f"{given}_{family}"))
        domain = _ascii(stem) if company else f"{_ascii(last)}-{rng.choice(TRADES)}"
        email = f"{local}@{domain}.{country.tld}"
    if shape is not None:
        kinds = [p["kind"] for p in shape.get("phones") or []]
    else:
        count = rng.choices((0, 1, 2, 3), (15, 45, 32, 8))[0]
        if count == 0 and "phones" in want:
            count = 1
        kinds = [rng.choices(("office", "mobile"), (55, 45))[0] for _ in range(count)]
        if count == 3:
            kinds[-1] = "fax"
    phones = [{"kind": kind,
               "number": _digits(rng.choice(country.mobile if kind == "mobile" else country.office), rng)}
              for kind in kinds]
    if shape is not None:
        has_city = bool((shape.get("address") or {}).get("city"))
        has_country = bool((shape.get("address") or {}).get("country"))
    else:
        has_city = "address" in want or rng.random() < 0.85
        has_country = rng.random() < 0.85 if has_city else rng.random() < 0.5
        has_city = has_city or any(n.startswith("address.city") for n in needs)
        has_country = has_country or any(n.startswith("address.country") for n in needs)
    city = rng.choice(country.cities).partition("|")[0] if has_city else None
    address = ({"city": city, "country": rng.choice(country.names) if has_country else None}
               if has_city or has_country else None)
    return {"name": f"{first} {last}", "title": rng.choice(TITLES) if present("title", 0.85) else None,
            "company": company, "email": email, "phones": phones, "address": address,
            "_country": country}


def _country_of(contact: dict) -> Country | None:
    country = contact.get("_country")
    if isinstance(country, Country):
        return country
    address = contact.get("address") or {}
    for entry in COUNTRY_TABLE:
        cities = {c.partition("|")[0] for c in entry.cities}
        if address.get("country") in entry.names or address.get("city") in cities:
            return entry
    return None


def _phone_line(phone: dict, rng: random.Random) -> str:
    if rng.random() < 0.12 and phone["kind"] != "fax":
        return f"{phone['number']} ({'mobile' if phone['kind'] == 'mobile' else 'office'})"
    labels = {"mobile": MOBILE_LABELS, "fax": FAX_LABELS}.get(phone["kind"], OFFICE_LABELS)
    return rng.choice(labels) + phone["number"]


def _region(city: str | None, contact: dict) -> str:
    country = _country_of(contact)
    if city and country:
        for entry in country.cities:
            name, _, region = entry.partition("|")
            if name == city:
                return region
    return ""


def _place_line(contact: dict, rng: random.Random, street: bool = False) -> str | None:
    address = contact.get("address")
    if not address:
        return None
    city, country_name = address.get("city"), address.get("country")
    region = _region(city, contact)
    country = _country_of(contact)
    if street and city and country:
        code = re.sub("A", lambda _: rng.choice("ABCDEHJKLMNPRSTW"), _digits(country.postcode, rng))
        code = code.replace("@", region or "")
        number, road = str(rng.randint(2, 240)), rng.choice(country.streets)
        tail = f", {country_name}" if country_name else ""
        if country.continental:
            return f"{road} {number}, {code} {city}{tail}"
        return f"{number} {road}, {city} {code.strip()}{tail}"
    if city and country_name:
        if region and rng.random() < 0.4:
            return rng.choice((f"{city}, {region}, {country_name}", f"{city} {region}, {country_name}"))
        return f"{city}, {country_name}"
    if city:
        return f"{city}, {region}" if region and rng.random() < 0.5 else city
    return country_name


def _role_lines(contact: dict, rng: random.Random) -> list[str]:
    title, company = contact.get("title"), contact.get("company")
    if title and company:
        return rng.choice(([title, company], [title, company], [f"{title} | {company}"],
                           [f"{title}, {company}"], [f"{title} at {company}"], [f"{title} – {company}"]))
    return [value for value in (title, company) if value]


def _block(contact: dict, rng: random.Random, street: bool = False) -> list[str]:
    """A signature block: name, role, phones, email and place, in one of several orders."""
    phones = [_phone_line(p, rng) for p in contact["phones"]]
    if len(phones) > 1 and rng.random() < 0.35:
        phones = [rng.choice((" | ", " · ", " / ")).join(phones)]
    email = [rng.choice(EMAIL_LABELS) + contact["email"]] if contact.get("email") else []
    place = _place_line(contact, rng, street)
    places = [place] if place else []
    roles = _role_lines(contact, rng)
    order = rng.choice((
        roles + phones + email + places, roles + email + phones + places,
        roles + places + phones + email, email + phones + roles + places,
        roles + email + places + phones,
    ))
    return [contact["name"]] + order


def _oneline(contact: dict, rng: random.Random) -> str:
    parts = [contact["name"]] + _role_lines(contact, rng)
    parts = [p.replace(" | ", ", ") for p in parts]
    parts += [_phone_line(p, rng) for p in contact["phones"]]
    if contact.get("email"):
        parts.append(contact["email"])
    place = _place_line(contact, rng)
    if place:
        parts.append(place)
    return rng.choice((" | ", " · ")).join(parts)


def _intro(contact: dict, rng: random.Random) -> str:
    name, title, company = contact["name"], contact.get("title"), contact.get("company")
    if title and company:
        who = rng.choice((f"this is {name}, {title} at {company}", f"it's {name}, {title} at {company}"))
    elif company:
        who = rng.choice((f"it's {name} from {company}", f"this is {name} from {company}"))
    elif title:
        who = f"this is {name} ({title})"
    else:
        who = f"it's {name}"
    stop = "" if who.endswith(".") else "."
    sentences = [f"{rng.choice(('Hi', 'Hello', 'Hey'))} {rng.choice(RECIPIENTS)}, {who}{stop}",
                 rng.choice(("We spoke at the trade fair last week.", "We met briefly at the launch event.",
                             "I'm following up on your enquiry.", "Sorry I missed your call earlier."))]
    previous = None
    for phone in contact["phones"]:  # in the card's order; a second number of a kind joins the first
        if phone["kind"] == previous:
            sentences[-1] = f"{sentences[-1][:-1]} or {phone['number']}."
        else:
            sentences.append({"mobile": "My mobile is {}.", "fax": "Fax: {}."}
                             .get(phone["kind"], "The office number is {}.").format(phone["number"]))
        previous = phone["kind"]
    if contact.get("email"):
        sentences.append(rng.choice(("You can also email me at {e}.", "Email works too: {e}.",
                                     "Or write to {e}.")).format(e=contact["email"]))
    place = _place_line(contact, rng)
    if place:
        sentences.append(f"We're based in {place}.")
    sentences.append(rng.choice(("Talk soon!", "Looking forward to hearing from you.", "Thanks!")))
    return " ".join(sentences)


def _fill(template: str, rng: random.Random) -> str:
    return template.format(r=rng.choice(RECIPIENTS), day=rng.choice(DAYS), time=rng.choice(TIMES))


def _other_person(rng: random.Random, contact: dict) -> tuple[str, str, str]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    while f"{first} {last}" == contact["name"]:
        first = rng.choice(FIRST_NAMES)
    domain = (contact.get("email") or "").partition("@")[2] or f"{_ascii(rng.choice(STEMS))}.com"
    country = _country_of(contact) or rng.choice(COUNTRY_TABLE)
    phone = _digits(rng.choice(country.office), rng)
    return f"{first} {last}", f"{_ascii(first)}.{_ascii(last)}@{domain}", phone


def _distractor(contact: dict, rng: random.Random) -> tuple[str, str]:
    """Text that looks like a field of the card but is not: (a line on top, a sentence in the body);
    the card stays as it is."""
    other, other_email, other_phone = _other_person(rng, contact)
    ref = _digits(rng.choice(("#### #### ###", "### ### ####", "########", "#### ####-##")), rng)
    kinds = ["colleague", "reference", "cc", "behalf", "old"]
    if contact.get("email"):
        kinds.append("header")
    kind = rng.choice(kinds)
    if kind == "colleague":
        return "", rng.choice((
            f"While I'm away, my colleague {other} ({other_email}) will look after your account.",
            f"For invoices please contact {other} on {other_phone}.",
            f"I've copied {other} ({other_email}), who will handle the paperwork."))
    if kind == "reference":
        if rng.random() < 0.5:
            return rng.choice(REF_LINES).format(ref=ref), ""
        return "", rng.choice(REF_SENTENCES).format(ref=ref)
    if kind == "cc":
        return f"Cc: {other} <{other_email}>", ""
    if kind == "behalf":
        return "", f"I'm writing on behalf of {other}, who asked me to follow up."
    if kind == "old":
        old = _digits(rng.choice((_country_of(contact) or rng.choice(COUNTRY_TABLE)).mobile), rng)
        return "", f"Note that my old number ({old}) no longer works, please use the one below."
    first, _, last = contact["name"].partition(" ")
    return f"From: {last}, {first} <{contact['email']}>", ""


def _render(contact: dict, difficulty: str, rng: random.Random, keep_name: bool) -> tuple[str, dict]:
    """The text for a contact, and the contact as the text writes it."""
    contact = dict(contact)
    hard = difficulty == "hard"
    # a hard text gives a full street address (reduced to city and country), a distractor, or both
    street = (hard and bool((contact.get("address") or {}).get("city")) and _country_of(contact) is not None
              and rng.random() < 0.3)
    if difficulty == "easy":
        layout = "block"
    else:
        layout = rng.choices(("email", "oneline", "card", "intro", "forum"), (45, 15, 12, 12, 16))[0]
    if layout == "card" and not keep_name and rng.random() < 0.3:
        contact["name"] = contact["name"].upper()
    top, body = _distractor(contact, rng) if hard and (not street or rng.random() < 0.5) else ("", "")
    if layout == "intro" and (top or body):
        layout = "email"
    if layout == "block":
        closing = rng.choice(("",) + CLOSING_LINES)
        lines = ([closing] if closing else []) + _block(contact, rng, street)
    elif layout == "card":
        block = _block(contact, rng, street)
        if contact.get("company") and contact["company"] in block[1:] and rng.random() < 0.6:
            block.remove(contact["company"])
            block.insert(0, contact["company"])
        lines = block
    elif layout == "oneline":
        message = _fill(rng.choice(BODIES), rng)
        lines = [message, rng.choice(("—", "--", "Thanks,", "Cheers,", "Best,")), _oneline(contact, rng)]
    elif layout == "intro":
        lines = [_intro(contact, rng)]
    elif layout == "forum":
        lines = [f"Re: {rng.choice(TOPICS)}", "", rng.choice(FORUM_BODIES), ""] + _block(contact, rng, street)
    else:
        greeting = _fill(rng.choice(GREETING_LINES), rng)
        message = " ".join(_fill(b, rng) for b in rng.sample(BODIES, rng.choice((1, 1, 2))))
        lines = [greeting, message, rng.choice(CLOSING_LINES)] + _block(contact, rng, street)
    if body:
        insert_at = 2 if layout in ("email", "forum") else 1 if layout == "oneline" else 0
        lines.insert(insert_at, body)
    if top:
        lines.insert(0, top)
    contact.pop("_country", None)
    return "\n".join(lines), contact


TEACHER = ContactTeacher()
