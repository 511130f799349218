"""An offline teacher for the support-ticket example: keyword rules that label tickets, and
templates that write new ones. It stands in for an LLM where none can be reached (tests, the demo);
its accuracy says nothing about an LLM's.

    TEACHER.answer("I was charged twice this month", {})              # 'billing'
    TEACHER.propose(10, seeds, {"sample": 3, "focus": {"labels": ["bug"]}})
"""

from __future__ import annotations

import random
import re

LABELS = ("billing", "bug", "feature_request", "account_access", "how_to", "cancellation")

# word -> weight, per label; the best total wins, ties go to the earlier label
KEYWORDS: dict[str, dict[str, float]] = {
    "billing": {"charged": 3, "charge": 2, "invoice": 3, "invoices": 3, "refund": 3, "billed": 3,
                "billing": 3, "receipt": 3, "payment": 2, "pay": 1, "paid": 1, "card": 1.5,
                "price": 2, "vat": 3, "discount": 2, "seats": 1.5, "bank": 1, "declined": 2,
                "renewal": 1, "$": 1},
    "bug": {"error": 3, "crash": 3, "crashes": 3, "broken": 3, "fails": 3, "blank": 2,
            "doesn't": 1, "does nothing": 3, "stopped": 2, "wrong": 1, "disappear": 2,
            "unreadable": 2, "loops": 2, "bug": 3, "off by": 2, "no results": 2, "500": 2,
            "spinner": 2, "three times": 2, "after the last update": 2, "instead of": 1},
    "feature_request": {"would be great": 4, "please add": 4, "add a": 2, "could you support": 4,
                        "we'd love": 4, "any plans": 4, "would be nice": 4, "wish": 3,
                        "suggestion": 4, "it would help": 4, "let us": 2, "can you let": 3,
                        "option to": 2, "support for": 2, "integration": 2},
    "account_access": {"log in": 3, "login": 2, "sign in": 3, "password": 3, "locked": 3,
                       "two-factor": 3, "2fa": 2, "verification code": 3, "suspended": 3,
                       "email address": 1, "verify": 2, "logged into": 3, "sign-in": 3,
                       "admin left": 3, "username": 2},
    "how_to": {"how do i": 3, "how can i": 3, "where can i": 3, "where do i": 3, "is there a way": 2,
               "what is the difference": 3, "explain": 2, "what's the best way": 3,
               "how to": 2, "which plan": 2},
    "cancellation": {"cancel": 4, "cancelling": 4, "close my account": 4, "delete my account": 4,
                     "delete all my data": 3, "won't renew": 4, "downgrade": 3, "unsubscribe": 4,
                     "terminate": 4, "end the contract": 4, "stop my membership": 4,
                     "stop all payments": 3, "pause my subscription": 3, "shutting down": 2,
                     "delete": 1, "remove our team workspace": 3},
}

TEMPLATES: dict[str, list[str]] = {
    "billing": [
        "I was charged {times} for my {period} plan, please refund the extra {amount}.",
        "Why is my invoice for {month} {amount} when it used to be less?",
        "Can you send a VAT invoice for order {order}? Our {role} needs it.",
        "My card was declined but {amount} still left my account.",
        "We were billed for {n} seats but only {m} people use it.",
        "Please update the card you charge for {company}, the old one expired.",
        "The receipt for {month} lists the wrong company, it should be {company}.",
        "Could we pay the {period} invoice by bank transfer instead?",
    ],
    "bug": [
        "The {feature} button does nothing when I click it in {browser}.",
        "Since the update the {page} shows a blank page.",
        "Uploading a {size} MB file to {page} fails with error 500.",
        "The {app} app crashes when I open the {page}.",
        "Search on the {page} returns no results for {name}.",
        "When I save in {feature}, my changes disappear after a refresh.",
        "Times in the {page} are off by one hour since yesterday.",
        "{feature} stopped working this morning, the spinner never ends.",
    ],
    "feature_request": [
        "It would be great if {feature} could {wish}.",
        "Please add a way to {wish} in the {app} app.",
        "Could you support {integration} for our team?",
        "We'd love to be able to {wish}.",
        "Any plans for a {integration} integration?",
        "Suggestion: let us {wish} from the {page}.",
        "Would be nice if the {page} could {wish}.",
        "I wish {feature} had an option to {wish}.",
    ],
    "account_access": [
        "I can't log in, it says my password is wrong even after a reset.",
        "Since {month} I can't sign in on {browser}, the page says my session expired.",
        "The verification code for {email} never comes, so I can't log in.",
        "Please unlock the account of our {role}, it got locked this morning.",
        "I changed my password on {app} and now the {app} app won't let me in.",
        "Our {role} needs owner access to the {company} workspace, the old owner is gone.",
        "Two-factor keeps rejecting my code on {browser}, I'm locked out.",
        "My account is locked after {n} attempts, when does it unlock?",
        "I lost my phone and can't get the two-factor code for {company}.",
        "The password reset email for {email} never arrives.",
        "Someone logged into my account from {place}, please help.",
        "I get 'account suspended' when I try to sign in on {browser}.",
        "Please move my login from {email} to my new email address.",
        "Our admin left {company} and nobody can sign in as an owner now.",
    ],
    "how_to": [
        "How do I {task} in {feature}?",
        "Where can I find the setting to {task}?",
        "How can I {task} for my team?",
        "Is there a way to {task} without losing data?",
        "What is the difference between {feature} and {page}?",
        "Can you explain how to {task}?",
        "Where do I go to {task}?",
        "What's the best way to {task} with a client?",
    ],
    "cancellation": [
        "Please cancel our {period} subscription, we are moving to {integration}.",
        "How do I close my account and delete all my data?",
        "We won't renew in {month}, make sure we are not charged again.",
        "I'd like to downgrade {company} to the free plan.",
        "Cancel my trial before it becomes a paid {period} plan.",
        "Please terminate our plan at the end of {month}.",
        "How do I unsubscribe from the {plan} plan?",
        "Delete our workspace and stop all payments for {company}.",
        "We're switching to {integration} in {month}, so please end our {plan} plan.",
        "Please don't renew {company}'s {period} plan, we no longer need it.",
        "How can I cancel the {plan} plan for our {role} without losing the invoices?",
        "Our team of {n} is leaving the tool, please close the {company} account.",
        "I want to stop paying for {plan} after {month}, how do I cancel?",
        "Please end the free trial for {email}, we decided against it.",
    ],
}

SLOTS: dict[str, list[str]] = {
    "times": ["twice", "three times", "two times"], "period": ["monthly", "yearly", "annual"],
    "amount": ["$19", "$49", "€30", "$120", "$9.99"], "month": ["January", "March", "June",
                                                           "October", "December"],
    "order": ["4471", "88213", "10932", "5530"], "role": ["accountant", "finance team", "auditor"],
    "n": ["5", "12", "20", "8"], "m": ["3", "9", "15", "6"],
    "company": ["Brightline", "Acme Corp", "Northwind", "Kestrel Labs", "Blue Harbor"],
    "feature": ["export", "the calendar", "the report builder", "comments", "the import tool",
                "templates", "the kanban board"],
    "browser": ["Chrome", "Firefox", "Safari", "Edge"],
    "page": ["dashboard", "settings page", "project list", "timeline", "reports page",
             "inbox"],
    "size": ["12", "25", "50"], "app": ["mobile", "desktop", "iPad", "Android"],
    "name": ["Zoë", "José", "O'Brien", "Müller"],
    "wish": ["export to Excel", "set recurring reminders", "filter by assignee",
             "share a read-only link", "import from Trello", "group tasks by label",
             "schedule a weekly email"],
    "integration": ["Slack", "Zapier", "Okta single sign-on", "Microsoft Teams", "Salesforce"],
    "email": ["anna@example.com", "ops@northwind.io", "me@kestrel.dev"],
    "place": ["Brazil", "another country", "a city I've never been to"],
    "task": ["invite a new member", "change the time zone", "duplicate a board",
             "connect my Google Calendar", "turn off email notifications",
             "add a custom field", "move a project to another workspace"],
    "plan": ["Pro", "Team", "Business"],
}


class SupportTicketTeacher:
    """Keyword rules for support tickets; templates for new ones."""

    def answer(self, input: str, context: dict) -> str:
        text = input.lower()
        totals = {label: sum(w for word, w in words.items() if _contains(text, word))
                  for label, words in KEYWORDS.items()}
        best = max(LABELS, key=lambda label: totals[label])
        return best if totals[best] > 0 else "how_to"

    def propose(self, n: int, seeds: list[dict], context: dict) -> list[dict]:
        rng = random.Random(int(context.get("sample", 0)))
        labels = _wanted(context) or list(LABELS)
        mode = context.get("augmentation")
        pairs = []
        for _ in range(n):
            # an augmentation rewrites its seed: another text of the seed's label
            label = str(seeds[0]["output"]) if mode and seeds else rng.choice(labels)
            text = _fill(rng.choice(TEMPLATES.get(label, TEMPLATES["how_to"])), rng)
            pairs.append({"input": text, "output": label,
                          "difficulty": rng.choice(["easy", "medium", "hard"])})
        return pairs


def _contains(text: str, word: str) -> bool:
    if not word[0].isalnum():
        return word in text
    return re.search(rf"(?<![\w]){re.escape(word)}(?![\w])", text) is not None


def _wanted(context: dict) -> list[str]:
    focus = context.get("focus") or {}
    wanted = focus.get("labels") or focus.get("needs") or []
    return [label for label in wanted if label in LABELS]


OPENINGS = ("", "", "", "Hi, ", "Hello team, ", "Hi there! ", "Quick question: ", "Urgent: ",
            "Good morning, ")
CLOSINGS = ("", "", "", " Thanks!", " Thank you.", " Cheers", " Any help appreciated.",
            " This is blocking us.", " Please get back to me soon.")


def _fill(template: str, rng: random.Random) -> str:
    text = re.sub(r"\{(\w+)\}", lambda m: rng.choice(SLOTS[m.group(1)]), template)
    return f"{rng.choice(OPENINGS)}{text}{rng.choice(CLOSINGS)}"


TEACHER = SupportTicketTeacher()
