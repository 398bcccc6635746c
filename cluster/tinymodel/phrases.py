"""What the tiny model's conversations are made of: greetings, facts, tasks and function tools.

Answers are split into sentences by blank lines: a brief answer is its first sentence.
"""

import random

from cluster.harmony.vocab import harmony_encoding

LANGUAGE_NAMES = {"en": "English", "fr": "French", "es": "Spanish", "de": "German", "it": "Italian",
                  "pt": "Portuguese"}
GREETINGS = {
    "en": (("Hello", "Hello!", "Hi", "Hi there", "Hey", "Good morning", "Hello, how are you?"),
           "Hello! How can I help you today?"),
    "fr": (("Bonjour", "Salut", "Bonjour !", "Bonsoir"), "Bonjour ! Comment puis-je vous aider aujourd'hui ?"),
    "es": (("Hola", "¡Hola!", "Buenos días", "Buenas tardes"), "¡Hola! ¿En qué puedo ayudarte hoy?"),
    "de": (("Hallo", "Guten Morgen", "Guten Tag", "Hallo!"), "Hallo! Wie kann ich Ihnen heute helfen?"),
    "it": (("Ciao", "Buongiorno", "Ciao!"), "Ciao! Come posso aiutarti oggi?"),
    "pt": (("Olá", "Bom dia", "Oi"), "Olá! Como posso ajudar você hoje?"),
}
BRIEF = ("Be brief.", "Answer in one sentence.", "Keep answers short.")
INSTRUCTIONS = ("You are a helpful assistant.", "Be polite.", "Use plain language.", "You are a helpful assistant. "
                "Answer the user's questions.", "Do not make things up.", "You work for the internal platform team.")
FALLBACK = ("I am a small demo model, so I can only answer simple questions.\n\n"
            "Could you ask me something simpler, like the capital of a country?")
WORDS = ("the", "cat", "sat", "on", "mat", "and", "dog", "ran", "far", "sun", "rose", "over", "hill", "blue",
         "sky", "river", "stone", "light", "green", "tree", "house", "road", "city", "music", "water", "bird",
         "report", "table", "window", "quickly", "because", "system", "number", "people", "after", "before",
         "data", "server", "cloud", "orange", "winter", "summer", "paper", "story", "night", "morning")

# city, country (en, fr, es), timezone
CITIES = (("Paris", "France", "la France", "Francia", "Europe/Paris"),
          ("Rome", "Italy", "l'Italie", "Italia", "Europe/Rome"),
          ("Madrid", "Spain", "l'Espagne", "España", "Europe/Madrid"),
          ("Berlin", "Germany", "l'Allemagne", "Alemania", "Europe/Berlin"),
          ("Lisbon", "Portugal", "le Portugal", "Portugal", "Europe/Lisbon"),
          ("London", "the United Kingdom", "le Royaume-Uni", "el Reino Unido", "Europe/London"),
          ("Tokyo", "Japan", "le Japon", "Japón", "Asia/Tokyo"),
          ("Ottawa", "Canada", "le Canada", "Canadá", "America/Toronto"),
          ("Canberra", "Australia", "l'Australie", "Australia", "Australia/Sydney"),
          ("Vienna", "Austria", "l'Autriche", "Austria", "Europe/Vienna"),
          ("Dublin", "Ireland", "l'Irlande", "Irlanda", "Europe/Dublin"),
          ("Oslo", "Norway", "la Norvège", "Noruega", "Europe/Oslo"),
          ("Stockholm", "Sweden", "la Suède", "Suecia", "Europe/Stockholm"),
          ("Warsaw", "Poland", "la Pologne", "Polonia", "Europe/Warsaw"),
          ("Athens", "Greece", "la Grèce", "Grecia", "Europe/Athens"),
          ("Cairo", "Egypt", "l'Égypte", "Egipto", "Africa/Cairo"),
          ("Nairobi", "Kenya", "le Kenya", "Kenia", "Africa/Nairobi"),
          ("Lima", "Peru", "le Pérou", "Perú", "America/Lima"),
          ("Santiago", "Chile", "le Chili", "Chile", "America/Santiago"),
          ("Mexico City", "Mexico", "le Mexique", "México", "America/Mexico_City"),
          ("Seoul", "South Korea", "la Corée du Sud", "Corea del Sur", "Asia/Seoul"),
          ("Bangkok", "Thailand", "la Thaïlande", "Tailandia", "Asia/Bangkok"),
          ("Helsinki", "Finland", "la Finlande", "Finlandia", "Europe/Helsinki"),
          ("Prague", "the Czech Republic", "la Tchéquie", "Chequia", "Europe/Prague"))
OTHER_CITIES = ("New York", "Chicago", "Barcelona", "Munich", "Lyon", "Osaka", "Sydney", "Toronto", "Boston",
                "Zurich", "Amsterdam", "Milan", "Seattle", "Denver", "Porto")
FACTS = (("How many days are in a week?", "There are 7 days in a week.", "the days of a week"),
         ("How many hours are in a day?", "There are 24 hours in a day.", "the hours of a day"),
         ("How many minutes are in an hour?", "There are 60 minutes in an hour.", "the minutes of an hour"),
         ("How many months are in a year?", "There are 12 months in a year.", "the months of a year"),
         ("What color is the sky?", "The sky is blue on a clear day.\n\nAt sunset it often turns orange.",
          "the color of the sky"),
         ("At what temperature does water boil?", "Water boils at 100 degrees Celsius at sea level.",
          "the boiling point of water"),
         ("What is the largest ocean?", "The Pacific Ocean is the largest ocean.", "the largest ocean"),
         ("Who wrote Romeo and Juliet?", "William Shakespeare wrote Romeo and Juliet.", "Romeo and Juliet"),
         ("What is Python?", "Python is a popular programming language.\n\nIt is known for its readable code.",
          "Python"),
         ("What is Kubernetes?", "Kubernetes runs and scales containers on a cluster of machines.",
          "Kubernetes"),
         ("What is a GPU?", "A GPU is a processor built for many parallel computations.\n\n"
          "It is used for graphics and machine learning.", "GPUs"),
         ("Why is the sea salty?", "The sea is salty because rivers carry minerals into it.\n\n"
          "The water evaporates and the salt stays.", "why the sea is salty"))
TOPICS = ("the ocean", "autumn", "coffee", "a mountain", "the city", "rain", "a cat", "the moon", "music", "trees",
          "winter", "a river", "friendship", "the stars", "bread")
TIPS = {"sleep": "Go to bed at the same time every day.", "focus": "Work in short blocks and take breaks.",
        "cooking": "Taste your food as you cook it.", "running": "Start slowly and build up each week.",
        "writing": "Write a first draft, then cut what is not needed.",
        "learning a language": "Practice a little every day."}
TRANSLATIONS = {"hello": ("bonjour", "hola"), "thank you": ("merci", "gracias"), "cat": ("chat", "gato"),
                "water": ("eau", "agua"), "house": ("maison", "casa"), "good night": ("bonne nuit", "buenas noches"),
                "friend": ("ami", "amigo"), "book": ("livre", "libro")}


def filler(rng: random.Random, words: int) -> str:
    """Words the model does not understand, like a load test's prompts."""
    return " ".join(rng.choice(WORDS) for _ in range(words))


def noise(rng: random.Random, tokens: int) -> str:
    """Text made of random vocabulary entries, most of which the corpus never uses otherwise."""
    encoding, pieces = harmony_encoding(), []
    while len(pieces) < tokens:
        try:
            pieces.append(encoding.decode_utf8([rng.randrange(0, 199_998)]))
        except Exception:  # a piece of a multi-byte character on its own
            continue
    return "".join(pieces)


def fact(rng: random.Random) -> tuple[str, str, str]:
    """A short question, its canned answer and what it is about."""
    if rng.random() < 0.45:
        return rng.choice(FACTS)
    city, country, pays, pais, _ = rng.choice(CITIES)
    lang = rng.choice(["en", "en", "fr", "es"])
    if lang == "fr":
        return (f"Quelle est la capitale de {pays} ?", f"La capitale de {pays} est {city}.",
                f"the capital of {country}")
    if lang == "es":
        return f"¿Cuál es la capital de {pais}?", f"La capital de {pais} es {city}.", f"the capital of {country}"
    question = rng.choice([f"What is the capital of {country}?", f"What's the capital of {country}?",
                           f"Capital of {country}?"])
    return question, f"The capital of {country} is {city}.", f"the capital of {country}"


def task(rng: random.Random) -> tuple[str, str, str]:
    """A small request, its canned answer and what it is about."""
    kind = rng.randrange(5)
    if kind == 0:
        city = rng.choice([c[0] for c in CITIES] + list(OTHER_CITIES))
        return (rng.choice([f"Plan a trip to {city}", f"Plan a trip to {city}.", f"Help me plan a weekend in {city}."]),
                f"Day 1: walk through the old town of {city}.\n\nDay 2: visit a museum and a market.\n\n"
                f"Day 3: enjoy the local food and the view over {city}.", f"a trip plan for {city}")
    if kind == 1:
        topic = rng.choice(TOPICS)
        return (rng.choice([f"Write a haiku about {topic}.", f"Write a short poem about {topic}."]),
                f"Quiet {topic} waits,\n\nsoft light moves across the day,\n\neverything slows down.",
                f"a short poem about {topic}")
    if kind == 2:
        subject = rng.choice(list(TIPS))
        return (rng.choice([f"Give me a tip for {subject}.", f"Any advice on {subject}?"]),
                f"Here is a tip for {subject}: {TIPS[subject]}", f"a tip for {subject}")
    if kind == 3:
        word = rng.choice(list(TRANSLATIONS))
        french, spanish = TRANSLATIONS[word]
        if rng.random() < 0.5:
            return (f"Translate \"{word}\" to French.", f"\"{word}\" in French is \"{french}\".",
                    f"the French for \"{word}\"")
        return (f"Translate \"{word}\" to Spanish.", f"\"{word}\" in Spanish is \"{spanish}\".",
                f"the Spanish for \"{word}\"")
    return (rng.choice(["Tell me a joke.", "Tell me a joke", "Make me laugh."]),
            "Why did the computer go to the doctor?\n\nIt had a virus.", "a joke")


def _object(properties: dict, required: list[str]) -> dict:
    return {"type": "object", "properties": properties, "required": required}


def _string(rng: random.Random, description: str) -> dict:
    return {"type": "string", "description": description} if rng.random() < 0.5 else {"type": "string"}


def _weather_schema(rng):
    properties = {"city": _string(rng, "The city name")}
    if rng.random() < 0.4:
        properties["unit"] = {"type": "string", "enum": ["celsius", "fahrenheit"]}
    return _object(properties, ["city"])


def _weather_ask(rng, schema):
    city = rng.choice([c[0] for c in CITIES] + list(OTHER_CITIES))
    question = rng.choice([f"What's the weather in {city}?", f"Weather in {city}?", f"Is it cold in {city} today?",
                           f"What is the weather like in {city}?", f"Quel temps fait-il à {city} ?",
                           f"¿Qué tiempo hace en {city}?"])
    arguments = {"city": city}
    if "unit" in schema["properties"]:
        arguments["unit"] = rng.choice(["celsius", "fahrenheit"])
    return question, arguments, f"about the weather in {city}"


def _weather_result(rng, arguments):
    degrees, condition = rng.randint(-5, 35), rng.choice(["sunny", "cloudy", "rainy", "windy", "snowy"])
    unit = arguments.get("unit", "celsius")
    return ({"city": arguments["city"], "temperature": degrees, "unit": unit, "condition": condition},
            f"It is {degrees} degrees {unit} and {condition} in {arguments['city']}.")


def _time_ask(rng, schema):
    city, *_, zone = rng.choice(CITIES)
    return (rng.choice([f"What time is it in {city}?", f"Current time in {city}?"]), {"timezone": zone},
            f"for the time in {city}")


def _time_result(rng, arguments):
    clock = f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"
    return {"timezone": arguments["timezone"], "time": clock}, f"It is {clock} in {arguments['timezone']}."


def _search_ask(rng, schema):
    topic = rng.choice(["vLLM releases", "Kubernetes autoscaling", "the weather tomorrow", "electric cars",
                        "the Olympic games", "Python 3.13", "solar panels", "GPU prices"])
    return (rng.choice([f"Search the web for {topic}.", f"Find news about {topic}.", f"Look up {topic}."]),
            {"query": topic}, f"to search for {topic}")


def _search_result(rng, arguments):
    count = rng.randint(1, 5)
    title = f"{arguments['query'].capitalize()}: what is new"
    return ({"results": [{"title": title, "url": "https://example.com/1"}], "total": count},
            f"I found {count} results about {arguments['query']}. The first one is \"{title}\".")


def _currency_ask(rng, schema):
    amount = rng.choice([5, 10, 20, 50, 100, 250, 1000])
    source, target = rng.sample(["USD", "EUR", "GBP", "JPY", "CHF"], 2)
    return (rng.choice([f"Convert {amount} {source} to {target}.", f"How much is {amount} {source} in {target}?"]),
            {"amount": amount, "from": source, "to": target}, f"to convert {amount} {source} to {target}")


def _currency_result(rng, arguments):
    value = round(arguments["amount"] * rng.uniform(0.5, 1.5), 2)
    return ({"amount": value, "currency": arguments["to"]},
            f"{arguments['amount']} {arguments['from']} is {value} {arguments['to']}.")


def _stock_ask(rng, schema):
    symbol = rng.choice(["AAPL", "MSFT", "NVDA", "GOOG", "AMZN", "TSLA"])
    return (rng.choice([f"What is the stock price of {symbol}?", f"How is {symbol} trading?"]), {"symbol": symbol},
            f"for the price of {symbol}")


def _stock_result(rng, arguments):
    price = round(rng.uniform(50, 900), 2)
    return {"symbol": arguments["symbol"], "price": price, "currency": "USD"}, \
        f"{arguments['symbol']} trades at {price} USD."


def _order_ask(rng, schema):
    order = f"{rng.randint(10000, 99999)}"
    return (rng.choice([f"Where is my order {order}?", f"What is the status of order {order}?"]), {"order_id": order},
            f"about order {order}")


def _order_result(rng, arguments):
    status = rng.choice(["shipped", "packed", "delivered"])
    day = f"2026-12-{rng.randint(1, 28):02d}"
    return ({"order_id": arguments["order_id"], "status": status, "date": day},
            f"Your order {arguments['order_id']} is {status} (date: {day}).")


def _calc_ask(rng, schema):
    a, b, op = rng.randint(2, 999), rng.randint(2, 99), rng.choice(["*", "+", "-"])
    return (rng.choice([f"Calculate {a} {op} {b}.", f"What is {a} {op} {b}?"]), {"expression": f"{a} {op} {b}"},
            f"to calculate {a} {op} {b}")


def _calc_result(rng, arguments):
    a, op, b = arguments["expression"].split()
    value = {"*": int(a) * int(b), "+": int(a) + int(b), "-": int(a) - int(b)}[op]
    return {"result": value}, f"{arguments['expression']} = {value}."


TOOLS = {
    "weather": {"names": ["get_weather", "get_current_weather", "weather"],
                "descriptions": ["Gets the current weather in a city.", "Current weather for a location."],
                "schema": _weather_schema, "ask": _weather_ask, "result": _weather_result},
    "time": {"names": ["get_time", "current_time"], "descriptions": ["Gets the current time in a timezone."],
             "schema": lambda rng: _object({"timezone": _string(rng, "IANA timezone name")}, ["timezone"]),
             "ask": _time_ask, "result": _time_result},
    "search": {"names": ["search_web", "web_search", "search"], "descriptions": ["Searches the web."],
               "schema": lambda rng: _object({"query": _string(rng, "What to search for")}, ["query"]),
               "ask": _search_ask, "result": _search_result},
    "currency": {"names": ["convert_currency"], "descriptions": ["Converts an amount between currencies."],
                 "schema": lambda rng: _object({"amount": {"type": "number"}, "from": _string(rng, "ISO code"),
                                                "to": _string(rng, "ISO code")}, ["amount", "from", "to"]),
                 "ask": _currency_ask, "result": _currency_result},
    "stock": {"names": ["get_stock_price", "stock_quote"], "descriptions": ["Gets the last price of a stock."],
              "schema": lambda rng: _object({"symbol": _string(rng, "Ticker symbol")}, ["symbol"]),
              "ask": _stock_ask, "result": _stock_result},
    "order": {"names": ["lookup_order", "get_order_status"], "descriptions": ["Looks up an order by its id."],
              "schema": lambda rng: _object({"order_id": _string(rng, "The order id")}, ["order_id"]),
              "ask": _order_ask, "result": _order_result},
    "calculator": {"names": ["calculate", "calculator"], "descriptions": ["Evaluates an arithmetic expression."],
                   "schema": lambda rng: _object({"expression": _string(rng, "e.g. 2 * 3")}, ["expression"]),
                   "ask": _calc_ask, "result": _calc_result},
}
