"""Synthetic hermes-format conversations that teach SmolLM2 to call tools on its own.

Pure Python (no torch), imported by ``train_tools_lora.py``. The conversations come in groups
that share one system turn (the same tools offered), so training computes that long prefix once
per group. Each assistant turn is learned:

* a tool fits the question -> ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``
  (one to three tools offered, the fitting one among them);
* after the ``tool`` turn -> one short sentence made of the tool's result;
* no tool fits, or none is offered -> a plain answer.

Tool names, argument names and schemas are generated from the word lists below, so the model
learns the format rather than a few names. Held-out domains for evaluation live in the tests.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CITIES = ["Paris", "Rome", "Tokyo", "Berlin", "Madrid", "Cairo", "Lima", "Oslo", "Seoul",
          "Boston", "Denver", "Nairobi", "Dublin", "Vienna", "Toronto", "Sydney", "Mumbai",
          "Lisbon", "Prague", "Chicago", "San Francisco", "Athens", "Hanoi", "Quito"]
COMPANIES = ["Apple", "Tesla", "Intel", "Nvidia", "Amazon", "Google", "Netflix", "Adobe",
             "Oracle", "Boeing", "Nike", "Disney"]
TICKERS = ["AAPL", "TSLA", "INTC", "NVDA", "AMZN", "GOOG", "NFLX", "ADBE", "ORCL", "BA"]
WORDS = ["hello", "thank you", "good morning", "cat", "house", "water", "friend", "book",
         "apple", "goodbye", "tree", "music"]
LANGUAGES = ["french", "spanish", "german", "italian", "japanese", "portuguese"]
PEOPLE = ["Alice", "Bob", "Maria", "John", "Priya", "Chen", "Fatima", "Lucas", "Emma"]
TEAMS = ["Arsenal", "the Lakers", "Real Madrid", "the Yankees", "Juventus", "the Celtics"]
SONGS = ["Yesterday", "Imagine", "Hey Jude", "Bohemian Rhapsody", "Hotel California"]
CONDITIONS = ["sunny", "cloudy", "rainy", "windy", "snowy", "foggy"]
VERBS = ["get", "fetch", "lookup", "find", "check", "query"]


@dataclass(frozen=True)
class Arg:
    """One argument: its name variants, JSON type and where its values come from."""

    names: tuple[str, ...]
    kind: str  # "string", "integer" or "enum"
    pool: tuple[Any, ...]
    about: str


@dataclass(frozen=True)
class Domain:
    """A kind of tool: noun variants, arguments, questions, and how its result reads."""

    nouns: tuple[str, ...]
    about: str
    args: tuple[Arg, ...]
    questions: tuple[str, ...]  # {0}, {1}, {2}: the argument values in order
    result: str  # {0}.. the values, {n} a number, {c} a condition word


def _a(names: str, kind: str, pool: list[Any], about: str) -> Arg:
    return Arg(tuple(names.split()), kind, tuple(pool), about)


CITY = _a("city location city_name place", "string", CITIES, "the city")
DOMAINS = [
    Domain(("weather", "current_weather", "weather_report"), "Get the current weather for a city",
           (CITY,), ("What is the weather in {0}?", "How is the weather in {0} today?",
                     "Is it sunny in {0} right now?", "weather in {0}?",
                     "Tell me the weather in {0}."),
           "It is {n} degrees and {c} in {0}."),
    Domain(("forecast", "weather_forecast"), "Get the weather forecast for the next days",
           (CITY, _a("days num_days", "integer", [2, 3, 5, 7], "number of days")),
           ("What is the forecast for {0} for the next {1} days?",
            "Give me a {1}-day forecast for {0}."),
           "The next {1} days in {0} will be mostly {c}, around {n} degrees."),
    Domain(("stock_price", "share_price", "quote"), "Get the latest stock price of a ticker",
           (_a("ticker symbol", "string", TICKERS, "the stock ticker symbol"),),
           ("What is the stock price of {0}?", "How much is {0} trading at?",
            "Current share price of {0}?"),
           "{0} is trading at {n}.25 USD."),
    Domain(("company_revenue", "revenue"), "Get the yearly revenue of a company",
           (_a("company name", "string", COMPANIES, "the company name"),
            _a("year", "integer", [2019, 2020, 2021, 2022, 2023], "the year")),
           ("What was the revenue of {0} in {1}?", "How much money did {0} make in {1}?"),
           "{0} had a revenue of {n} billion USD in {1}."),
    Domain(("translation", "translate", "translate_text"), "Translate a word or phrase",
           (_a("text word phrase", "string", WORDS, "the text to translate"),
            _a("language target_language lang", "enum", LANGUAGES, "the target language")),
           ("How do you say '{0}' in {1}?", "Translate '{0}' to {1}.",
            "What is '{0}' in {1}?"),
           "In {1}, '{0}' is 'zorbo {n}'."),
    Domain(("time", "local_time", "current_time"), "Get the current local time in a city",
           (CITY,), ("What time is it in {0}?", "What is the local time in {0}?",
                     "Tell me the current time in {0}."),
           "It is {n}:15 in {0}."),
    Domain(("timezone", "time_zone"), "Get the time zone of a city",
           (CITY,), ("Which time zone is {0} in?", "What is the time zone of {0}?"),
           "{0} is in the UTC+{n} time zone."),
    Domain(("email", "send_email"), "Send an email to a person",
           (_a("to recipient person", "string", PEOPLE, "who receives the email"),
            _a("subject topic", "string", ["the meeting", "lunch", "the report", "the trip"],
               "the subject")),
           ("Send an email to {0} about {1}.", "Email {0} about {1}, please.",
            "Please write {0} an email about {1}."),
           "Email to {0} about {1} sent (message id {n})."),
    Domain(("reminder", "set_reminder", "create_reminder"), "Set a reminder in some minutes",
           (_a("task text what", "string", ["call mom", "buy milk", "water the plants",
                                            "take a break"], "what to be reminded of"),
            _a("minutes delay_minutes in_minutes", "integer", [5, 10, 15, 30, 45],
               "in how many minutes")),
           ("Remind me to {0} in {1} minutes.", "Set a reminder to {0} in {1} minutes."),
           "Reminder '{0}' set for {1} minutes from now."),
    Domain(("score", "match_score", "game_result"), "Get the latest score of a team",
           (_a("team team_name club", "string", TEAMS, "the team"),),
           ("What was the score of the last {0} game?", "Did {0} win their last match?",
            "How did {0} do in their last game?"),
           "{0} won their last game {n} to 1."),
    Domain(("lyrics", "song_lyrics"), "Find the first line of a song's lyrics",
           (_a("song title song_title", "string", SONGS, "the song title"),),
           ("What are the lyrics of {0}?", "How does the song {0} start?"),
           "The first line of {0} is 'la la la {n}'."),
    Domain(("exchange", "currency_conversion", "convert_currency"), "Convert money",
           (_a("amount value", "integer", [10, 20, 50, 100, 250], "the amount"),
            _a("currency from_currency", "enum", ["USD", "EUR", "GBP", "JPY"], "the currency"),
            _a("to to_currency target", "enum", ["USD", "EUR", "GBP", "JPY"], "the target")),
           ("How much is {0} {1} in {2}?", "Convert {0} {1} to {2}."),
           "{0} {1} is {n}.40 {2}."),
    Domain(("temperature", "temp"), "Get the temperature in a city in a unit",
           (CITY, _a("unit units scale", "enum", ["celsius", "fahrenheit"], "the unit")),
           ("What is the temperature in {0} in {1}?", "How hot is it in {0}, in {1}?"),
           "It is {n} degrees {1} in {0}."),
    Domain(("news", "headlines", "top_news"), "Get the top news headlines about a topic",
           (_a("topic subject query", "string", ["sports", "science", "politics", "music",
                                                 "technology"], "the topic"),
            _a("limit count max_results", "integer", [1, 2, 3, 5], "how many headlines")),
           ("Give me the top {1} news headlines about {0}.", "What are {1} news about {0}?"),
           "Top {0} headline: 'Big day for {0}, number {n}'."),
    Domain(("distance", "travel_distance"), "Get the distance between two cities",
           (_a("origin from_city start", "string", CITIES, "where from"),
            _a("destination to_city end", "string", CITIES[::-1], "where to")),
           ("How far is {0} from {1}?", "What is the distance from {0} to {1}?"),
           "{0} is {n}00 km from {1}."),
    Domain(("population", "city_population"), "Get the population of a city",
           (CITY,), ("How many people live in {0}?", "What is the population of {0}?"),
           "{0} has about {n} million inhabitants."),
    Domain(("calendar", "events", "agenda"), "List the calendar events of a person on a day",
           (_a("person user name", "string", PEOPLE, "whose calendar"),
            _a("day weekday", "enum", ["monday", "tuesday", "friday", "sunday"], "the day")),
           ("What is on {0}'s calendar on {1}?", "Does {0} have meetings on {1}?"),
           "{0} has {n} meetings on {1}."),
    Domain(("book", "book_author", "author"), "Find the author of a book",
           (_a("title book_title book", "string", ["Dune", "Emma", "Ulysses", "Beloved",
                                                   "Rebecca"], "the book title"),),
           ("Who wrote the book {0}?", "Who is the author of {0}?"),
           "{0} was written by Author Number {n}."),
    Domain(("flight", "flight_price", "airfare"), "Find the cheapest flight price",
           (_a("origin from_city", "string", CITIES, "departure city"),
            _a("destination to_city", "string", CITIES[3:] + CITIES[:3], "arrival city")),
           ("How much is a flight from {0} to {1}?", "Find me a cheap flight from {0} to {1}."),
           "The cheapest flight from {0} to {1} costs {n}9 USD."),
    Domain(("calculator", "calculate", "math"), "Multiply two whole numbers",
           (_a("a x first", "integer", [12, 17, 23, 34, 45], "the first number"),
            _a("b y second", "integer", [3, 6, 7, 8, 9], "the second number")),
           ("What is {0} times {1}?", "Multiply {0} by {1}.", "Compute {0} * {1}."),
           "The result is {n}."),
]

PROSE = [
    ("What is the capital of France?", "The capital of France is Paris."),
    ("Who wrote Hamlet?", "Hamlet was written by William Shakespeare."),
    ("What is two plus two?", "Two plus two is four."),
    ("Tell me a joke.", "Why did the computer go to the doctor? It had a virus."),
    ("What is the largest planet?", "Jupiter is the largest planet in our solar system."),
    ("Explain photosynthesis in one sentence.",
     "Photosynthesis is how plants turn sunlight, water and air into sugar and oxygen."),
    ("Hi there!", "Hello! How can I help you today?"),
    ("What color is the sky?", "The sky is usually blue during the day."),
    ("How many legs does a spider have?", "A spider has eight legs."),
    ("Give me a synonym for happy.", "A synonym for happy is joyful."),
    ("What is the boiling point of water?", "Water boils at 100 degrees Celsius at sea level."),
    ("Who painted the Mona Lisa?", "Leonardo da Vinci painted the Mona Lisa."),
    ("Thanks for your help!", "You are welcome!"),
    ("Write a haiku about the sea.", "Waves fold into foam, / salt wind carries gull voices, / "
     "the tide keeps its time."),
    ("What does a bee make?", "Bees make honey."),
    ("Name a primary color.", "Red is a primary color."),
]


def _schema(rng: random.Random, domain: Domain) -> tuple[dict[str, Any], list[str]]:
    """One tool's OpenAI function spec, in one of the shapes LangChain/LlamaIndex send."""
    noun = rng.choice(domain.nouns)
    style = rng.random()
    name = noun if "_" in noun and style < 0.3 else f"{rng.choice(VERBS)}_{noun}"
    if style > 0.9:
        name = name.split("_")[0] + "".join(w.title() for w in name.split("_")[1:])
    arg_names = [rng.choice(a.names) for a in domain.args]
    props: dict[str, Any] = {}
    for arg, arg_name in zip(domain.args, arg_names, strict=True):
        prop: dict[str, Any] = {"type": "integer" if arg.kind == "integer" else "string"}
        if arg.kind == "enum":
            prop["enum"] = list(arg.pool)
        if rng.random() < 0.5:
            prop["description"] = arg.about.capitalize() + "."
        elif rng.random() < 0.5:
            prop["title"] = arg_name.replace("_", " ").title()
        props[arg_name] = prop
    params: dict[str, Any] = {"properties": props, "required": arg_names, "type": "object"}
    if rng.random() < 0.5:
        params["additionalProperties"] = False
    fn: dict[str, Any] = {"name": name, "description": domain.about + ".", "parameters": params}
    if rng.random() < 0.4:
        fn["strict"] = True
    return {"type": "function", "function": fn}, arg_names


def _values(rng: random.Random, domain: Domain) -> list[Any]:
    return [rng.choice(a.pool) for a in domain.args]


def _call(rng: random.Random, domain: Domain, name: str,
          arg_names: list[str]) -> tuple[list[dict[str, Any]], list[Any]]:
    """A question that the tool fits, and the assistant turn that calls it."""
    values = _values(rng, domain)
    question = rng.choice(domain.questions).format(*values)
    call = {"id": f"call_{rng.randrange(10**6)}", "type": "function",
            "function": {"name": name,
                         "arguments": json.dumps(dict(zip(arg_names, values, strict=True)))}}
    return [{"role": "user", "content": question},
            {"role": "assistant", "content": "", "tool_calls": [call]}], values


def _answered(rng: random.Random, domain: Domain, name: str,
              arg_names: list[str]) -> list[dict[str, Any]]:
    """A tool call, the tool's result, and one sentence made of that result."""
    messages, values = _call(rng, domain, name, arg_names)
    result = domain.result.format(*values, n=rng.randrange(2, 40), c=rng.choice(CONDITIONS))
    content = json.dumps({"result": result}) if rng.random() < 0.25 else result
    messages.append({"role": "tool", "tool_call_id": messages[1]["tool_calls"][0]["id"],
                     "content": content})
    messages.append({"role": "assistant", "content": result})
    return messages


REPORT_NAMES = ["Report", "Answer", "Result", "Summary", "Response"]


def _report_tool(rng: random.Random, domain: Domain) -> tuple[dict[str, Any], str, str]:
    """A structured-response tool like LangChain's ``ToolStrategy`` adds (a schema's class name,
    its fields): the agent's last step is to call it with the result."""
    noun = rng.choice(domain.nouns).split("_")[-1].title()
    key = domain.args[0].names[0]
    field = rng.choice(["summary", "answer", "report", "details"])
    props = {key: {"type": "integer" if domain.args[0].kind == "integer" else "string"},
             field: {"type": "string"}}
    name = noun + rng.choice(REPORT_NAMES)
    return {"type": "function", "function": {
        "name": name, "description": f"The final {noun.lower()} answer for the user.",
        "parameters": {"properties": props, "required": [key, field], "type": "object"}}}, \
        name, field


def _reported(rng: random.Random, domain: Domain, name: str, arg_names: list[str],
              report: tuple[dict[str, Any], str, str]) -> list[dict[str, Any]]:
    """Like ``_answered``, but the last turn calls the structured-response tool."""
    messages = _answered(rng, domain, name, arg_names)
    result = messages.pop()["content"]
    key = domain.args[0].names[0]
    value = json.loads(messages[1]["tool_calls"][0]["function"]["arguments"])[arg_names[0]]
    call = {"id": f"call_{rng.randrange(10**6)}", "type": "function",
            "function": {"name": report[1], "arguments": json.dumps({key: value,
                                                                     report[2]: result})}}
    messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
    return messages


def _prose(rng: random.Random) -> list[dict[str, Any]]:
    question, answer = rng.choice(PROSE)
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


@dataclass(frozen=True)
class Mix:
    """How a recipe draws its groups; the defaults are adapter v1's."""

    domains: tuple[Domain, ...] = tuple(DOMAINS)
    report_rate: float = 0.3  # the share of groups that offer a structured-response tool
    report_share: float = 0.85  # below it, a round trip on the first domain ends in that tool
    focus: bool = False  # in those groups, every other conversation is on the first domain
    report_tool: Callable[[random.Random, Domain], tuple[dict[str, Any], str, str]] = _report_tool


def group(rng: random.Random, size: int, mix: Mix = Mix()) -> dict[str, Any]:
    """One to three tools offered, and ``size`` conversations that share that system turn.

    Mostly a question that one of the tools fits (the call, sometimes followed by the tool's
    result and the answer made of it), and some questions that none fits (prose).
    """
    domains = rng.sample(list(mix.domains), rng.choice([1, 2, 2, 3]))
    tools, specs = [], []
    for domain in domains:
        tool, arg_names = _schema(rng, domain)
        tools.append(tool)
        specs.append((domain, tool["function"]["name"], arg_names))
    report = mix.report_tool(rng, domains[0]) if rng.random() < mix.report_rate else None
    if report is not None:
        tools.insert(rng.randrange(len(tools) + 1), report[0])
    convs = []
    for i in range(size):
        domain, name, arg_names = specs[0 if mix.focus and report and i % 2 else i % len(specs)]
        kind = rng.random()
        if kind < 0.45:
            convs.append(_call(rng, domain, name, arg_names)[0])
        elif kind < mix.report_share and report is not None and domain is domains[0]:
            convs.append(_reported(rng, domain, name, arg_names, report))
        elif kind < 0.85:
            convs.append(_answered(rng, domain, name, arg_names))
        else:
            convs.append(_prose(rng))
    return {"tools": tools, "convs": convs}


def groups(seed: int = 0, count: int = 14, size: int = 8, plain: int = 1,
           mix: Mix = Mix()) -> list[dict[str, Any]]:
    """The training set: ``count`` groups with tools and ``plain`` without (prose only)."""
    rng = random.Random(seed)
    out = [group(rng, size, mix) for _ in range(count)]
    out += [{"tools": [], "convs": [_prose(rng) for _ in range(size)]} for _ in range(plain)]
    rng.shuffle(out)
    return out
