"""An offline teacher for the smart-home example: rules that turn a request into a call of one of
the eight tools in tools.json, and templates that write new requests. It stands in for an LLM
where none can be reached (tests, the demo); its accuracy says nothing about an LLM's.

    TEACHER.answer("turn off the kitchen lights", {})
    # {'name': 'set_light', 'arguments': {'room': 'kitchen', 'on': False}}
    TEACHER.propose(10, seeds, {"sample": 3, "focus": {"tools": ["lock_door"]}})
"""

from __future__ import annotations

import random
import re
from typing import Any

ROOMS = ("kitchen", "living room", "bedroom", "bathroom", "office", "hallway", "garden")
HEATED = ROOMS[:-1]
MUSIC_ROOMS = ("kitchen", "living room", "bedroom", "bathroom", "office", "garden")
DOORS = ("front", "back", "garage")
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december")
NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "ten": 10, "fifteen": 15,
           "twenty": 20, "thirty": 30, "forty": 40, "forty-five": 45, "sixty": 60, "ninety": 90,
           "a couple of": 2, "a few": 3, "an": 1, "a": 1, "half an": 0.5, "half a": 0.5}

# word -> weight, per tool; the best total wins, nothing above 0 means no tool
KEYWORDS: dict[str, dict[str, float]] = {
    "set_light": {"light": 3, "lights": 3, "lamp": 3, "lamps": 3, "dim": 2, "brighter": 2,
                  "too dark": 3, "brightness": 2},
    "set_thermostat": {"degrees": 3, "°": 3, "thermostat": 4, "heating": 3, "warmer": 2,
                       "temperature": 3, "too cold": 2, "heat": 2},
    "lock_door": {"lock": 4, "unlock": 4, "locked": 3, "door": 1},
    "set_timer": {"timer": 4, "countdown": 4, "count down": 4},
    "play_music": {"play": 3, "music": 3, "song": 2, "songs": 2, "album": 2, "put on some": 3,
                   "listen to": 3, "hear": 2},
    "get_weather": {"weather": 4, "forecast": 4, "rain": 3, "umbrella": 3, "sunny": 2,
                    "hot in": 2, "cold in": 2, "snow": 2},
    "add_to_shopping_list": {"shopping list": 5, "grocery list": 5, "groceries": 3,
                             "out of": 2, "we need": 2, "to the list": 3, "buy": 1},
    "create_event": {"calendar": 4, "schedule": 3, "appointment": 3, "meeting": 2, "book": 2,
                     "event": 2, "diary": 3, "remind me on": 3},
}
OUT_OF_REACH = ("flight", "taxi", "pizza", "joke", "capital of", "translate", "email",
                "text ", "call ")
VERBS = ("turn", "switch", "lock", "unlock", "set", "play", "start", "put", "add", "what",
         "will", "make", "dim", "schedule", "book")


def _word_hits(text: str, words: dict[str, float]) -> float:
    return sum(w for k, w in words.items() if re.search(rf"(?<!\w){re.escape(k)}(?!\w)", text))


def choose_tool(text: str) -> str | None:
    t = text.lower()
    scores = {tool: _word_hits(t, words) for tool, words in KEYWORDS.items()}
    if any(w in t for w in OUT_OF_REACH) and max(scores.values()) < 3:
        return None
    best = max(scores, key=lambda k: scores[k])
    return best if scores[best] >= 2 else None


# -- arguments -------------------------------------------------------------------------------------
def _room(t: str, rooms: tuple[str, ...]) -> str | None:
    synonyms = {"lounge": "living room", "study": "office", "hall": "hallway", "yard": "garden",
                "bath": "bathroom"}
    found = [(t.find(r), r) for r in rooms if r in t]
    found += [(t.find(k), v) for k, v in synonyms.items()
              if re.search(rf"\b{k}\b", t) and v in rooms]
    return min(found)[1] if found else None


def _number(t: str, after: str = "", before: str = "") -> float | None:
    m = re.search(rf"{after}\s*(\d+(?:\.\d+)?)\s*{before}", t)
    return float(m.group(1)) if m else None


def _int(x: float | None) -> int | float | None:
    return None if x is None else int(x) if float(x).is_integer() else x


def _on(t: str) -> bool:
    off = re.search(r"\b(off|out|kill|shut)\b", t) is not None
    return not off


def light_args(t: str) -> dict:
    args: dict[str, Any] = {"room": _room(t, ROOMS) or "living room", "on": _on(t)}
    level = _number(t, r"(?:to|at)", r"(?:%|percent)")
    if level is not None:
        args["brightness"], args["on"] = int(level), True
    return args


def thermostat_args(t: str) -> dict:
    value = _number(t, "", r"(?:°|degrees|deg\b)") or _number(t, r"\bto\b") or 21
    args: dict[str, Any] = {"room": _room(t, HEATED) or "living room", "temperature": _int(value)}
    if "fahrenheit" in t or "°f" in t:
        args["unit"] = "fahrenheit"
    return args


def door_args(t: str) -> dict:
    door = next((d for d in DOORS if d in t), "front")
    return {"door": door, "locked": not re.search(r"\bunlock|\bopen\b|let .* in\b", t)}


def _minutes(t: str) -> int | None:
    m = re.search(r"(\d+|" + "|".join(map(re.escape, NUMBERS)) + r")[\s-]*(hours?|hrs?|minutes?|"
                  r"mins?)\b", t)
    if not m:
        return None
    count = float(m.group(1)) if m.group(1).isdigit() else NUMBERS[m.group(1)]
    return int(count * 60 if m.group(2).startswith("h") else count)


def timer_args(text: str, t: str) -> dict:
    args: dict[str, Any] = {"minutes": _minutes(t) or 1}
    m = re.search(r"\bfor (?:the |my )?([a-z][a-z ]+?)(?:[.!?]|$| in \d| please)", t)
    if m and not re.match(r"\d|(?:an?|one|two|three|half) ", m.group(1)) and "minute" not in m.group(1):
        args["label"] = m.group(1).strip()
    return args


def music_args(text: str, t: str) -> dict:
    m = re.search(r"(?:play|put on|listen to|hear)\s+(?:some\s+)?(.+?)(?=\s+(?:in the|on the|at "
                  r"volume|at \d|louder|please|,)|[.!?]?$)", text, re.IGNORECASE)
    query = m.group(1).strip() if m else "music"
    args: dict[str, Any] = {"query": query}
    room = _room(t, MUSIC_ROOMS)
    if room and f"in the {room}" in t or room and f"on the {room}" in t:
        args["room"] = room
    volume = _number(t, r"volume(?: to| at)?") or _number(t, r"at", r"(?:%|percent)")
    if volume is not None:
        args["volume"] = int(volume)
    return args


def weather_args(text: str, t: str) -> dict:
    m = re.search(r"\b(?:in|for|at)\s+([A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*)", text)
    args: dict[str, Any] = {"city": m.group(1) if m else "here"}
    if "tomorrow" in t:
        args["day"] = "tomorrow"
    return args


def list_args(text: str, t: str) -> dict:
    m = re.search(r"(?:add|put|buy|out of|need|get)\s+(?:some\s+)?(.+?)(?:\s+(?:to|on|onto) "
                  r"(?:the|my|our) (?:shopping |grocery )?list|[.!?]?$)", text, re.IGNORECASE)
    body = m.group(1) if m else text
    body = re.sub(r"^(?:more|some)\s+", "", body.strip(), flags=re.IGNORECASE)
    items = [i.strip(" .") for i in re.split(r",\s*(?:and\s+)?|\s+and\s+", body) if i.strip(" .")]
    return {"items": items or [body]}


def _date(t: str) -> str | None:
    if m := re.search(r"\b(\d{4})-(\d{2})-(\d{2})\b", t):
        return m.group(0)
    month = "|".join(MONTHS)
    if m := re.search(rf"\b(\d{{1,2}})(?:st|nd|rd|th)? ({month}),? (\d{{4}})", t):
        return f"{m.group(3)}-{MONTHS.index(m.group(2)) + 1:02d}-{int(m.group(1)):02d}"
    if m := re.search(rf"\b({month}) (\d{{1,2}})(?:st|nd|rd|th)?,? (\d{{4}})", t):
        return f"{m.group(3)}-{MONTHS.index(m.group(1)) + 1:02d}-{int(m.group(2)):02d}"
    return None


def _time(t: str) -> str | None:
    if m := re.search(r"\b(\d{1,2}):(\d{2})\s*(am|pm)?\b", t):
        hour = int(m.group(1)) + (12 if m.group(3) == "pm" and int(m.group(1)) < 12 else 0)
        return f"{hour:02d}:{m.group(2)}"
    if m := re.search(r"\b(\d{1,2})\s*(am|pm)\b", t):
        hour = int(m.group(1)) % 12 + (12 if m.group(2) == "pm" else 0)
        return f"{hour:02d}:00"
    if "noon" in t:
        return "12:00"
    return None


def event_args(text: str, t: str) -> dict:
    m = re.search(r"(?:put|schedule|book|add)\s+(?:an?\s+|my\s+)?(?:\d+[- ]minutes?\s+)?(.+?)\s+"
                  r"(?:in(?:to)? my calendar\s+)?(?:on|for)\s+(?:\d|the|" + "|".join(MONTHS) + r")",
                  text, re.IGNORECASE)
    title = m.group(1).strip() if m else "event"
    title = re.sub(r"\s+(?:in(?:to)?|to) my (?:calendar|diary)$", "", title, flags=re.IGNORECASE)
    args: dict[str, Any] = {"title": title, "date": _date(t) or "2027-01-01"}
    if (time := _time(t)) is not None:
        args["time"] = time
    if d := re.search(r"(\d+)[- ]minutes?|for (\d+) min|(an|one|two) hours?\b", t):
        minutes = int(d.group(1) or d.group(2) or 0) or {"an": 60, "one": 60, "two": 120}[d.group(3)]
        args["duration_minutes"] = minutes
    return args


def arguments(tool: str, text: str) -> dict:
    t = text.lower()
    return {"set_light": lambda: light_args(t), "set_thermostat": lambda: thermostat_args(t),
            "lock_door": lambda: door_args(t), "set_timer": lambda: timer_args(text, t),
            "play_music": lambda: music_args(text, t), "get_weather": lambda: weather_args(text, t),
            "add_to_shopping_list": lambda: list_args(text, t),
            "create_event": lambda: event_args(text, t)}[tool]()


def _parts(text: str) -> list[str]:
    verbs = "|".join(VERBS)
    pieces = re.split(rf",?\s+and (?:also |then )?(?=(?:{verbs})\b)|;\s*|\.\s+(?=[A-Z])", text)
    return [p for p in pieces if p.strip()]


def answer_calls(text: str) -> Any:
    parts = _parts(text)
    calls = []
    for part in parts if len(parts) > 1 else [text]:
        tool = choose_tool(part)
        if tool is not None:
            calls.append({"name": tool, "arguments": arguments(tool, part)})
    if not calls:
        return {"name": None}
    return calls[0] if len(calls) == 1 else calls


# -- new requests ---------------------------------------------------------------------------------
TITLES = ("dentist appointment", "team meeting", "lunch with Sara", "yoga class", "call with the "
          "bank", "parents' evening", "car service", "piano lesson", "book club", "haircut",
          "project review", "dinner with the Okafors", "vet appointment", "board meeting")
QUERIES = ("jazz", "Miles Davis", "some classical music", "lo-fi beats", "The Beatles", "Daft Punk",
           "Norah Jones", "Bach", "ABBA", "Fleetwood Mac", "Radiohead", "reggae", "Kind of Blue",
           "Nina Simone", "relaxing piano", "80s pop", "Adele", "Bob Marley")
CITIES = ("Paris", "Berlin", "Lisbon", "Tokyo", "Nairobi", "Toronto", "Oslo", "Madrid", "Dublin",
          "Cape Town", "Buenos Aires", "Seoul", "Melbourne", "Chicago", "Warsaw", "Lima")
ITEMS = ("milk", "eggs", "bread", "coffee", "apples", "rice", "butter", "tomatoes", "olive oil",
         "cat food", "toilet paper", "lemons", "cheese", "pasta", "yoghurt", "onions")
LABELS = ("pasta", "laundry", "eggs", "oven", "tea", "pizza", "cake", "rice", "nap")
NO_TOOL = ("Tell me a joke.", "What's the capital of Peru?", "Book me a flight to Rome.",
           "How do I boil an egg?", "Thanks, that's all for now.", "Order a pizza for tonight.",
           "What's 17 times 23?", "Translate good morning into French.", "Call my mum.",
           "Who wrote Pride and Prejudice?", "Send an email to my boss.", "Get me a taxi home.",
           "How tall is Mount Everest?", "Good night!", "What can you do?")


NO_TOOL_PARTS = {
    "Book me a {trip} to {place}{when}.": None, "What's the capital of {country}?": None,
    "Translate '{phrase}' into {language}.": None, "Tell me a {story} about {thing}.": None,
    "Send an email to {person} about {topic}.": None, "Call {person}{when}.": None,
    "Order {food} for {when2}.": None, "Who invented the {thing}?": None,
    "How do I {skill}?": None, "Text {person} that I'm running late.": None,
}
NO_TOOL_SLOTS = {
    "trip": ("flight", "train ticket", "hotel room", "taxi"),
    "place": ("Rome", "Madrid", "the airport", "Vienna", "Kyoto", "the station"),
    "when": ("", " tomorrow", " tonight", " on Friday"),
    "when2": ("tonight", "lunch", "six people", "the weekend"),
    "country": ("Peru", "Canada", "Kenya", "Norway", "Vietnam", "Chile", "Ghana"),
    "phrase": ("good morning", "thank you very much", "where is the station", "happy birthday"),
    "language": ("French", "German", "Japanese", "Spanish", "Swahili"),
    "story": ("joke", "story", "fun fact", "riddle"),
    "thing": ("telephone", "bicycle", "light bulb", "dishwasher", "cats", "the moon"),
    "person": ("my boss", "mum", "the landlord", "Priya", "my dentist", "the school"),
    "topic": ("the invoice", "next week", "the broken heater", "my holiday"),
    "food": ("a pizza", "sushi", "a curry", "burgers"),
    "skill": ("boil an egg", "tie a tie", "fix a puncture", "make bread", "unblock a sink"),
}


def _no_tool(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return rng.choice(NO_TOOL)
    template = rng.choice(list(NO_TOOL_PARTS))
    return template.format(**{k: rng.choice(v) for k, v in NO_TOOL_SLOTS.items()})


def _date_text(rng: random.Random) -> tuple[str, str]:
    year, month, day = rng.choice((2026, 2027)), rng.randint(1, 12), rng.randint(1, 28)
    iso = f"{year}-{month:02d}-{day:02d}"
    name = MONTHS[month - 1].capitalize()
    text = rng.choice((f"{day} {name} {year}", f"{name} {day}, {year}", iso))
    return text, iso


def _time_text(rng: random.Random) -> tuple[str, str]:
    hour, minute = rng.randint(7, 20), rng.choice((0, 0, 15, 30, 45))
    if minute == 0 and rng.random() < 0.6:
        shown = f"{hour % 12 or 12}{'pm' if hour >= 12 else 'am'}"
    else:
        shown = f"{hour:02d}:{minute:02d}"
    return shown, f"{hour:02d}:{minute:02d}"


PREFIXES = ("Please ", "Hey, ", "Could you ", "Can you ", "I need you to ", "OK, ", "Quick: ")
SUFFIXES = (" please", " now", ", thanks", " right away", " when you can", " for me")


def _dress(text: str, rng: random.Random) -> str:
    """The same request put a little differently: a polite opening, a closing word, or neither."""
    roll = rng.random()
    if roll < 0.3:
        text = rng.choice(PREFIXES) + text[0].lower() + text[1:]
    if 0.2 < roll < 0.5:
        end = text[-1] if text[-1] in ".?!" else ""
        text = text.rstrip(".?!") + rng.choice(SUFFIXES) + end
    return text


def make_request(tool: str, rng: random.Random) -> tuple[str, Any]:
    """A request for `tool` (None: one no tool serves) with its call, right by construction."""
    if tool is None:
        return _dress(_no_tool(rng), rng), {"name": None}
    maker = {"set_light": _light, "set_thermostat": _thermostat, "lock_door": _door,
             "set_timer": _timer, "play_music": _music, "get_weather": _weather,
             "add_to_shopping_list": _shopping, "create_event": _event}[tool]
    text, args = maker(rng)
    return _dress(text, rng), {"name": tool, "arguments": args}


def _light(rng: random.Random) -> tuple[str, dict]:
    room, on = rng.choice(ROOMS), rng.random() < 0.5
    word = "on" if on else "off"
    if on and rng.random() < 0.35:
        level = rng.choice((10, 20, 25, 30, 40, 50, 60, 70, 75, 80, 90, 100))
        text = rng.choice((f"Dim the {room} lights to {level}%", f"Set the {room} lights to "
                           f"{level} percent", f"{room.capitalize()} lights at {level}% please"))
        return text, {"room": room, "on": True, "brightness": level}
    text = rng.choice((f"Turn {word} the {room} lights", f"Switch the lights in the {room} {word}",
                       f"{room.capitalize()} lights {word}, please", f"Can you turn the {room} "
                       f"light {word}?", f"Lights {word} in the {room}"))
    return text, {"room": room, "on": on}


def _thermostat(rng: random.Random) -> tuple[str, dict]:
    room = rng.choice(HEATED)
    if rng.random() < 0.25:
        value = rng.randint(60, 78)
        text = rng.choice((f"Set the {room} to {value} degrees Fahrenheit", f"Make the {room} "
                           f"{value}°F"))
        return text, {"room": room, "temperature": value, "unit": "fahrenheit"}
    value = rng.choice((17, 18, 19, 20, 21, 22, 23, 24, 19.5, 20.5, 21.5))
    shown = f"{value:g}"
    text = rng.choice((f"Set the {room} to {shown} degrees", f"Make it {shown}°C in the {room}",
                       f"Thermostat in the {room} to {shown} degrees", f"I'd like the {room} at "
                       f"{shown} degrees", f"Heat the {room} to {shown}°"))
    return text, {"room": room, "temperature": value, "unit": "celsius"}


def _door(rng: random.Random) -> tuple[str, dict]:
    door, locked = rng.choice(DOORS), rng.random() < 0.6
    if locked:
        text = rng.choice((f"Lock the {door} door", f"Make sure the {door} door is locked",
                           f"Lock the {door} door, I'm heading out", f"{door.capitalize()} door: "
                           "lock it", f"Is the {door} door locked? Lock it", f"Lock up the "
                           f"{door} door for the night"))
    else:
        text = rng.choice((f"Unlock the {door} door", f"Unlock the {door} door for the "
                           f"{rng.choice(('cleaner', 'plumber', 'kids', 'delivery', 'guests'))}",
                           f"Open the lock on the {door} door", f"{door.capitalize()} door: "
                           "unlock it"))
    return text, {"door": door, "locked": locked}


def _timer(rng: random.Random) -> tuple[str, dict]:
    minutes = rng.choice((1, 2, 3, 4, 5, 7, 8, 10, 12, 15, 20, 25, 30, 40, 45, 90))
    label = rng.choice(LABELS) if rng.random() < 0.5 else None
    if minutes == 90 or rng.random() < 0.1:
        hours = rng.choice((1, 2))
        minutes, spoken = hours * 60, f"{hours} hour{'s' if hours > 1 else ''}"
    else:
        spoken = f"{minutes} minute{'s' if minutes > 1 else ''}"
    text = rng.choice((f"Set a timer for {spoken}", f"Start a {spoken} countdown",
                       f"Timer, {spoken}"))
    if label:
        text = rng.choice((f"Set a timer for {spoken} for the {label}",
                           f"Start a {spoken} timer for the {label}"))
    return text, {"minutes": minutes, **({"label": label} if label else {})}


def _music(rng: random.Random) -> tuple[str, dict]:
    query = rng.choice(QUERIES)
    args: dict[str, Any] = {"query": query.removeprefix("some ")}
    text = rng.choice((f"Play {query}", f"Put on {query}", f"I want to listen to {query}"))
    if rng.random() < 0.4:
        args["room"] = rng.choice(MUSIC_ROOMS)
        text += f" in the {args['room']}"
    if rng.random() < 0.3:
        args["volume"] = rng.choice((20, 30, 40, 50, 60, 70))
        text += f" at volume {args['volume']}"
    return text, args


def _weather(rng: random.Random) -> tuple[str, dict]:
    city, tomorrow = rng.choice(CITIES), rng.random() < 0.4
    when = " tomorrow" if tomorrow else rng.choice(("", " today"))
    text = rng.choice((f"What's the weather in {city}{when}?", f"Forecast for {city}{when}",
                       f"Will it rain in {city}{when}?", f"Do I need an umbrella in {city}{when}?"))
    return text, {"city": city, "day": "tomorrow" if tomorrow else "today"}


def _shopping(rng: random.Random) -> tuple[str, dict]:
    items = rng.sample(ITEMS, rng.choice((1, 1, 2, 2, 3)))
    shown = items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
    text = rng.choice((f"Add {shown} to the shopping list", f"Put {shown} on my grocery list",
                       f"We're out of {shown}, add it to the shopping list" if len(items) == 1
                       else f"Add {shown} to our shopping list"))
    return text, {"items": items}


def _event(rng: random.Random) -> tuple[str, dict]:
    title = rng.choice(TITLES)
    shown, iso = _date_text(rng)
    args: dict[str, Any] = {"title": title, "date": iso}
    text = rng.choice((f"Put {title} in my calendar on {shown}", f"Schedule {title} on {shown}",
                       f"Book {title} for {shown}"))
    if rng.random() < 0.6:
        when, args["time"] = _time_text(rng)
        text += f" at {when}"
    if rng.random() < 0.3:
        args["duration_minutes"] = rng.choice((30, 45, 90, 120))
        text += f" for {args['duration_minutes']} minutes"
    return text, args


DISTRACTORS = ("I'm about to leave, ", "Quick one: ", "Before the guests come, ", "Hey, ",
               "Sorry to bother you again, ", "When you get a second, ")


class SmartHomeTeacher:
    """Keyword rules and regular expressions for eight smart-home and calendar tools."""

    def answer(self, input: str, context: dict) -> Any:
        return answer_calls(input)

    def propose(self, n: int, seeds: list[dict], context: dict) -> list[dict]:
        rng = random.Random(f"{context.get('sample', 0)}-{context.get('augmentation')}-{n}")
        focus = (context.get("focus") or {}).get("tools") or []
        tools = [t["name"] for t in context.get("tools", [])] or list(KEYWORDS)
        wanted = [None if f == "(no tool)" else f for f in focus] or [*tools, None]
        base = _seed_tool(seeds[0]) if seeds and context.get("augmentation") else None
        out = []
        for _ in range(n):
            tool = base if base != "?" and context.get("augmentation") else rng.choice(wanted)
            text, call = make_request(tool, rng)
            if context.get("augmentation") == "complexity" and tool is not None:
                text = rng.choice(DISTRACTORS) + text[0].lower() + text[1:]
            if tool is not None and rng.random() < 0.1 and not focus:
                other = rng.choice([t for t in tools if t != tool])
                text2, call2 = make_request(other, rng)
                text, call = f"{text} and {text2[0].lower() + text2[1:]}", [call, call2]
            difficulty = "hard" if isinstance(call, list) else rng.choice(("easy", "medium"))
            out.append({"input": text, "output": call, "difficulty": difficulty})
        return out


def _seed_tool(seed: dict) -> str | None:
    import json

    output = seed.get("output")
    try:
        value = json.loads(output) if isinstance(output, str) else output
    except ValueError:
        return "?"
    value = value[0] if isinstance(value, list) and value else value
    return value.get("name") if isinstance(value, dict) else "?"


TEACHER = SmartHomeTeacher()
