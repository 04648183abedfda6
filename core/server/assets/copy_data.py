"""Adapter v2's additions to ``tools_data.py``: values that can only be copied, and
structured-response tools shaped like LangChain's ``ToolStrategy``.

Pure Python, imported by ``train_tools_lora.py`` for recipe 2 (:data:`MIX_V2`). The held-out
evaluation measured adapter v1 calling the fitting tool but with the arguments rewritten; the
domains here draw made-up ids, handles, names and domain names, so an argument is right only
when it is copied verbatim from the question. ``strategy_tool`` is the schema tool that
``create_agent(..., response_format=ToolStrategy(Schema))`` offers (PascalCase class name,
docstring, pydantic titles), which the agent must call after the real tool's result.
"""

from __future__ import annotations

import random
from typing import Any

from tools_data import CITY, DOMAINS, REPORT_NAMES, Domain, Mix, _a


def _codes(rng: random.Random, count: int) -> list[str]:
    """Made-up ids (letters and digits) that the model can only copy, never guess."""
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(1, 3)))
            + str(rng.randint(1, 99999)) for _ in range(count)]

_POOL_RNG = random.Random(7)
CODES = _codes(_POOL_RNG, 40)
HANDLES = [rng_word + str(_POOL_RNG.randint(1, 999)) for rng_word in
           ["pixel", "river", "nova", "tango", "blue_fox", "zed", "marta", "kofi", "sunny",
            "orbit", "lemon", "vik"]]
RESTAURANTS = ["Chez Lulu", "Blue Lotus", "Il Forno", "Taco Loco", "Sakura House", "The Oak",
               "Casa Mia", "Spice Route"]
SITES = ["example.org", "myshop.io", "news-daily.com", "acme42.net", "petclub.dev",
         "weatherly.app", "bookworm.co"]
TRAINS = ["ICE 571", "TGV 8012", "IC 2290", "RE 17", "EC 9", "Eurostar 9014"]

COPY_DOMAINS = [
    Domain(("order_status", "order", "track_order"), "Get the status of a shop order",
           (_a("order_id order_number id", "string", CODES, "the order id"),),
           ("What is the status of order {0}?", "Where is my order {0}?",
            "Has order {0} shipped yet?"),
           "Order {0} shipped {n} hours ago."),
    Domain(("user_profile", "account", "user_info"), "Look up a user account by username",
           (_a("username user handle", "string", HANDLES, "the username"),),
           ("Show me the profile of user {0}.", "Who is the user {0}?",
            "Look up the account {0}."),
           "User {0} joined {n} months ago."),
    Domain(("hotel", "hotel_price", "book_hotel"), "Find a hotel price for some nights",
           (CITY, _a("nights num_nights stay", "integer", [1, 2, 3, 4, 6, 9], "how many nights")),
           ("How much is a hotel in {0} for {1} nights?",
            "Book a hotel in {0} for {1} nights."),
           "A hotel in {0} for {1} nights costs {n}0 USD."),
    Domain(("table", "restaurant_booking", "reserve_table"), "Reserve a table at a restaurant",
           (_a("restaurant venue place_name", "string", RESTAURANTS, "the restaurant"),
            _a("people guests party_size", "integer", [2, 3, 4, 5, 8], "how many people")),
           ("Reserve a table at {0} for {1} people.", "Book {0} for {1} guests tonight."),
           "Table for {1} at {0} booked for 8 pm."),
    Domain(("domain_info", "whois", "site_status"), "Check whether a website is up",
           (_a("domain site url", "string", SITES, "the domain name"),),
           ("Is {0} up right now?", "Check the website {0}.", "Is the site {0} down?"),
           "{0} is up, answering in {n}0 ms."),
    Domain(("train", "train_times", "train_schedule"), "Get the departure time of a train",
           (_a("train train_number number", "string", TRAINS, "the train number"),),
           ("When does train {0} leave?", "What time does the {0} depart?"),
           "Train {0} departs at {n}:05 from platform 3."),
    Domain(("invoice", "invoice_total", "bill"), "Get the total of an invoice",
           (_a("invoice_id invoice number", "string", CODES[::-1], "the invoice id"),),
           ("What is the total of invoice {0}?", "How much is bill {0}?"),
           "Invoice {0} totals {n}5 USD."),
]


def strategy_tool(rng: random.Random, domain: Domain) -> tuple[dict[str, Any], str, str]:
    """A structured-response tool as LangChain's ``ToolStrategy`` adds it (the schema's class
    name, its docstring, its fields with pydantic titles): the agent's last step calls it with
    the tool's result."""
    noun = "".join(w.title() for w in rng.choice(domain.nouns).split("_"))
    key = domain.args[0].names[0]
    field = rng.choice(["summary", "answer", "report", "details", "text"])
    props = {name: {"title": name.title(), "type": "string"}
             for name in (key, field)}
    if domain.args[0].kind == "integer":
        props[key]["type"] = "integer"
    name = noun + rng.choice(REPORT_NAMES)
    about = rng.choice([f"The {noun.lower()} report for the user.", f"The final {noun.lower()} "
                        "answer for the user.", f"{noun} information to return.", ""])
    fn: dict[str, Any] = {"name": name, "description": about, "parameters": {
        "properties": props, "required": [key, field], "type": "object"}}
    return {"type": "function", "function": fn}, name, field


MIX_V2 = Mix(domains=tuple(DOMAINS + COPY_DOMAINS), report_rate=0.5, report_share=0.9,
             focus=True, report_tool=strategy_tool)
"""Recipe 2: more copy-only arguments, and half the groups end in a ToolStrategy-like tool."""
