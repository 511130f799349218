"""An offline teacher and judge for the ticket-summary example: one-sentence summaries of short
customer-support tickets. They stand in for LLMs where none can be reached (tests, the demo);
their scores say nothing about an LLM's.

    TEACHER.answer("I was charged twice for order 48213.", {})
    # 'The customer was charged twice for order 48213 and wants one payment refunded.'
    TEACHER.propose(10, seeds, {"sample": 3})
    JUDGE.judge({"kind": "score", "input": ticket, "answer": summary, ...})
    # {'score': 5, 'reason': 'faithful, complete, one sentence'}

The teacher reads a ticket with keyword rules (what the issue is; the order number, product,
amount and plan it names) and writes the summary from a template per issue; it writes new
tickets from templates with invented details. The judge grades a summary against its ticket
with rules of thumb for the rubric's points: off topic (few of its words in the ticket), a fact
changed (a number or a name the ticket does not have), not one full sentence, the issue left out.
"""

from __future__ import annotations

import json
import random
import re
import zlib
from typing import Any

ORDER = re.compile(r"(?:order|#)\D{0,12}?(\d{5})\b", re.IGNORECASE)
AMOUNT = re.compile(r"\$\d+(?:\.\d{2})?")
NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
WORD = re.compile(r"[a-z][a-z']+")

PRODUCTS = (
    "wireless earbuds", "standing desk", "coffee grinder", "yoga mat", "backpack", "desk lamp",
    "air fryer", "phone case", "hiking boots", "electric kettle", "office chair",
    "Bluetooth speaker", "smart watch", "blender", "rain jacket", "toaster", "monitor stand",
    "water bottle", "keyboard", "sleeping bag", "frying pan", "bike helmet", "webcam", "duvet",
)
PLANS = ("Premium", "Family", "Pro", "Basic", "Team", "monthly", "annual", "Plus", "Student")
DEVICES = ("iPhone 13", "iPhone 15", "Pixel 8", "Samsung S23", "Android 14", "iPad", "Windows laptop",
           "MacBook")

# the issue of a ticket: the first rule whose words occur (most specific first)
ISSUES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("double_charge", ("charged twice", "billed twice", "two charges", "double charge",
                       "charged two times", "duplicate charge", "charged me twice")),
    ("wrong_item", ("wrong item", "instead of", "got a size", "different model", "not what i ordered",
                    "sent me the wrong", "wrong colour", "wrong size")),
    ("address", ("delivery address", "change the address", "update the address", "moved",
                 "flat number", "address on order", "address for order")),
    ("damaged", ("broken", "damaged", "cracked", "crushed", "torn", "tear ", "scratched", "doesn't work",
                 "does not work", "stopped working", "missing")),
    ("late", ("where is my order", "hasn't arrived", "has not arrived", "not arrived", "still waiting",
              "hasn't shipped", "late", "tracking", "never arrived", "waiting for")),
    ("refund", ("refund", "money back", "return it", "send it back")),
    ("login", ("log in", "login", "password", "locked", "sign in", "2fa")),
    ("cancel", ("cancel", "unsubscribe", "stop the")),
    ("crash", ("crash", "freez", "logs me out", "error", "reloads", "doesn't load", "won't open")),
    ("invoice", ("invoice", "receipt", "vat")),
    ("feature", ("would be great", "could you add", "any chance", "feature", "would love",
                 "please add", "request:")),
)
ISSUE_WORDS = {  # words a summary of each issue is expected to use (stems)
    "double_charge": ("charg", "twice", "bill", "double", "duplic"),
    "wrong_item": ("wrong", "instead", "receiv", "sent"),
    "damaged": ("broken", "damag", "crack", "torn", "tear", "scratch", "work", "missing", "fault",
                "arriv", "replac", "refund"),
    "late": ("arriv", "late", "ship", "track", "wait", "deliver", "where"),
    "refund": ("refund", "return", "money"),
    "login": ("log", "password", "lock", "account", "sign"),
    "cancel": ("cancel", "stop", "unsubscrib"),
    "crash": ("crash", "freez", "close", "logs", "reload", "error", "load"),
    "address": ("address", "move"),
    "invoice": ("invoice", "receipt"),
    "feature": ("ask", "add", "feature", "request", "would"),
}
STOP = {"the", "and", "for", "from", "with", "that", "this", "their", "they", "them", "wants",
        "want", "customer", "customer's", "asks", "about", "after", "before", "into", "when",
        "whether", "what", "have", "has", "been", "only", "still", "also", "there", "which",
        "would", "like", "because", "even", "every", "than", "then", "will", "were", "does",
        "order", "orders", "needs", "need", "since", "although"}


_ISSUE_RES = tuple((name, re.compile("|".join(rf"\b{re.escape(w.strip())}" for w in words)))
                   for name, words in ISSUES)


def issue_of(text: str) -> str | None:
    low = text.lower()
    return next((name for name, pattern in _ISSUE_RES if pattern.search(low)), None)


def _stems(text: str) -> set[str]:
    return {w[:5] for w in WORD.findall(text.lower()) if len(w) >= 4 and w not in STOP}


# -- the teacher ---------------------------------------------------------------------------------
class TicketTeacher:
    """Keyword rules that summarise a ticket; templates that write new tickets with summaries."""

    def answer(self, input: str, context: dict) -> str:
        return summarise(input)

    def propose(self, n: int, seeds: list[dict], context: dict) -> list[dict]:
        key = json.dumps([context.get("augmentation"), [str(s.get("input", ""))[:200] for s in seeds]])
        rng = random.Random(int(context.get("sample", 0) or 0) * 1_000_003 + zlib.crc32(key.encode()))
        wanted = issue_of(str(seeds[0].get("input", ""))) if context.get("augmentation") and seeds else None
        pairs = []
        for _ in range(n):
            issue = wanted or rng.choice([name for name, _ in ISSUES])
            ticket, details = _ticket(issue, rng)
            pairs.append({"input": ticket, "output": _summary(issue, details),
                          "difficulty": details["difficulty"]})
        return pairs


def _details(text: str) -> dict[str, Any]:
    low = text.lower()
    order = ORDER.search(text)
    product = next((p for p in PRODUCTS if p.lower() in low), None)
    amount = AMOUNT.search(text)
    plan = next((p for p in PLANS if re.search(rf"\b{p}\b", text)), None)
    device = next((d for d in DEVICES if d in text), None)
    return {"order": order.group(1) if order else None, "product": product,
            "amount": amount.group(0) if amount else None, "plan": plan, "device": device,
            "refund": any(w in low for w in ("refund", "money back")),
            "difficulty": "medium"}


def summarise(text: str) -> str:
    issue = issue_of(text)
    if issue is None:
        return _fallback(text)
    return _summary(issue, _details(text)) or _fallback(text)


def _fallback(text: str) -> str:
    """The ticket's first real sentence, reported."""
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]
    body = [s for s in sentences if not re.match(r"^(hi|hello|hey|dear|good morning|thanks|best|"
                                                 r"regards)\b", s, re.IGNORECASE)] or sentences
    first = body[0].rstrip(".!?") if body else "nothing"
    first = re.sub(r"^(?:please|can you|could you)\s+", "", first, flags=re.IGNORECASE)
    first = re.sub(r"\b(I|me)\b", "they", re.sub(r"\bmy\b", "their", first, flags=re.IGNORECASE))
    return f"The customer writes that {first[:1].lower()}{first[1:]}."


def _summary(issue: str, d: dict[str, Any]) -> str:
    order = f" for order {d['order']}" if d["order"] else ""
    source = f" from order {d['order']}" if d["order"] else ""
    thing = d["product"] or "item"
    if issue == "double_charge":
        amount = f" {d['amount']}" if d["amount"] else ""
        return f"The customer was charged{amount} twice{order} and wants one payment refunded."
    if issue == "wrong_item":
        wanted = f" and wants the {d['product']} sent" if d["product"] else ""
        return f"The customer received the wrong item{order}{wanted}."
    if issue == "damaged":
        remedy = "a refund" if d["refund"] else "a replacement"
        return f"The {thing}{source} arrived damaged and the customer wants {remedy}."
    if issue == "late":
        what = f"The {d['product']}{source}" if d["product"] else (
            f"Order {d['order']}" if d["order"] else "The customer's order")
        return f"{what} has not arrived and the customer wants to know where it is."
    if issue == "refund":
        return f"The customer wants a refund for the {thing}{source}."
    if issue == "login":
        return "The customer cannot log in to their account."
    if issue == "cancel":
        plan = f"{d['plan']} " if d["plan"] else ""
        return f"The customer wants to cancel their {plan}subscription."
    if issue == "crash":
        device = f" on their {d['device']}" if d["device"] else ""
        return f"The app crashes or freezes for the customer{device}."
    if issue == "address":
        return f"The customer wants to change the delivery address{order}."
    if issue == "invoice":
        return f"The customer needs an invoice{order}."
    if issue == "feature" and d.get("feature"):  # a ticket of ours names its feature
        return f"The customer asks for {d['feature']} in the app."
    return ""  # a real ticket's feature request: the fallback reports it


# -- new tickets ------------------------------------------------------------------------------------
GREETINGS = ("", "", "Hi, ", "Hello, ", "Hi there, ", "Good morning, ", "Hey, ", "Dear support, ")
SIGNOFFS = ("", "", "", " Thanks.", " Thanks, {name}", " Best, {name}", " Regards, {name}",
            " Cheers, {name}", " Thank you!")
NAMES = ("Priya", "Leo", "Marta", "Sam", "Dana", "Henrik", "Aiko", "Tom", "Grace", "Omar", "Ines",
         "Kwame", "Sofia", "Lars", "Mei", "Jonas", "Ravi", "Clara", "Felix", "Noor")
ASIDES = ("I've been a customer for years.", "This is the second time this has happened.",
          "I need this sorted quickly.", "Hope you can help.", "Not happy about this.",
          "My bank says both payments went through.", "I've checked my spam folder.",
          "I tried again this morning.", "The website said 5-7 days.")
TEMPLATES: dict[str, tuple[str, ...]] = {
    "double_charge": ("I was charged twice for order {order}.", "My card shows two charges of {amount} "
                      "for order {order}.", "I was billed twice for the {product} (order {order}).",
                      "You charged me twice for order {order}, {amount} each time."),
    "wrong_item": ("I ordered a {product} but you sent me the wrong item. Order {order}.",
                   "Order {order} came with a {other} instead of the {product}.",
                   "The package for order {order} has the wrong item in it, I wanted the {product}."),
    "damaged": ("The {product} from order {order} arrived broken.", "My {product} (order {order}) "
                "arrived damaged, the box was crushed.", "The {product} in order {order} is "
                "cracked.", "Order {order}: the {product} doesn't work out of the box."),
    "late": ("Where is my order? Order {order} still hasn't arrived.", "My {product} (order {order}) "
             "has not arrived yet.", "Order {order} is late and the tracking hasn't updated.",
             "I'm still waiting for order {order}, the {product}."),
    "refund": ("I'd like a refund for the {product} from order {order}.", "Can I return the {product} "
               "(order {order}) and get my money back?", "Please refund order {order}, the "
               "{product} is not what I expected."),
    "login": ("I can't log in to my account.", "My password doesn't work even after a reset.",
              "My account is locked and I can't log in.", "The password reset email never arrives."),
    "cancel": ("Please cancel my {plan} subscription.", "I want to cancel my {plan} plan.",
               "How do I cancel the {plan} subscription?"),
    "crash": ("The app crashes when I open it on my {device}.", "The app freezes on my {device} "
              "every time I upload a photo.", "Since the update the app crashes on my {device}."),
    "address": ("Can you change the delivery address for order {order}?", "I moved, please update the "
                "address on order {order}.", "The address on order {order} is wrong, can I change it?"),
    "invoice": ("Could I get an invoice for order {order}?", "Please send me an invoice for order "
                "{order}.", "I need a VAT receipt and an invoice for order {order}."),
    "feature": ("It would be great if the app had {feature}.", "Could you add {feature}?",
                "Any chance of {feature} in the app?"),
}
FEATURES = ("a dark mode", "CSV export", "offline mode", "shared lists", "a widget",
            "recurring reminders", "a calendar view", "tags for notes")


def _ticket(issue: str, rng: random.Random) -> tuple[str, dict[str, Any]]:
    product, other = rng.sample(PRODUCTS, 2)
    d = {"order": f"{rng.randrange(10_000, 100_000)}", "product": product, "other": other,
         "amount": f"${rng.randrange(5, 300)}.{rng.randrange(100):02d}", "plan": rng.choice(PLANS),
         "device": rng.choice(DEVICES), "feature": rng.choice(FEATURES), "name": rng.choice(NAMES)}
    body = rng.choice(TEMPLATES[issue]).format(**d)
    asides = rng.sample(ASIDES, rng.choice((0, 0, 1, 2)))
    text = (rng.choice(GREETINGS) + " ".join([body, *asides]) + rng.choice(SIGNOFFS).format(**d)).strip()
    found = _details(text)  # what the ticket actually names decides the summary
    found["difficulty"] = ("easy", "medium", "hard")[min(2, len(asides))]
    found["feature"] = d["feature"]
    return text, found


# -- the judge --------------------------------------------------------------------------------------
class TicketJudge:
    """Rules of thumb for the rubric: faithful, complete, one sentence, on topic."""

    def judge(self, request: dict) -> dict:
        if request.get("kind") == "pairwise":
            a = grade(request["input"], request["first"])
            b = grade(request["input"], request["second"])
            winner = "A" if a[0] > b[0] else "B" if b[0] > a[0] else "tie"
            return {"winner": winner, "reason": f"A: {a[1]}; B: {b[1]}"}
        score, reason = grade(request["input"], request["answer"])
        if request.get("kind") == "pass_fail":
            return {"pass": score >= 4, "reason": reason}
        return {"score": score, "reason": reason}


def grade(ticket: str, summary: str) -> tuple[int, str]:
    text = " ".join(summary.split())
    if not text:
        return 1, "empty"
    issue = issue_of(ticket)
    words = {w for w in WORD.findall(text.lower()) if len(w) >= 4 and w not in STOP}
    seen, usual = _stems(ticket), ISSUE_WORDS[issue] if issue else ()
    on_topic = [w for w in words if w[:5] in seen or w.startswith(usual)]
    if not words:
        return 1, "says nothing: no word of it is a word of the ticket"
    if len(on_topic) / len(words) < 0.4:
        return 1, "off topic: most of its words are not in the ticket"
    numbers = {n.replace(",", ".") for n in NUMBER.findall(ticket)}
    invented = [n for n in NUMBER.findall(text) if n.replace(",", ".") not in numbers]
    if invented:
        return 2, f"changes a fact: {invented[0]} is not in the ticket"
    names = [w for w in re.findall(r"(?<=[\s,(])[A-Z][\w'-]+", text) if w.lower() not in ticket.lower()]
    if names:
        return 2, f"changes a fact: {names[0]} is not in the ticket"
    if len(text.split()) < 5 or not text.endswith("."):
        return 2, "not a full sentence (cut short)"
    if re.search(r"[.!?]\s+[A-Z]", text) or len(text.split()) > 35:
        return 3, "more than one sentence, or too long"
    if issue and not any(w.startswith(ISSUE_WORDS[issue]) for w in WORD.findall(text.lower())):
        return 4, f"may leave out the issue ({issue.replace('_', ' ')})"
    return 5, "faithful, complete, one sentence"


TEACHER = TicketTeacher()
JUDGE = TicketJudge()
