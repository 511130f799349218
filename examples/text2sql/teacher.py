"""An offline, rule-based Text2SQL teacher for the bundled music-store example.

This is NOT a language model. It stands in for an LLM teacher so that `distill demo` runs end to
end without network access or an API key: questions are recognised by regular-expression
templates and answered by filling the matching SQL template, and new pairs are proposed by filling
the same templates with values read from the example database. Its accuracy on the seeds is a
property of these hand-written rules and says nothing about any real LLM; every report produced
with it says it used this rule system. Use e.g. `--teacher anthropic:claude-sonnet-4-5` for a real
teacher.

    from slm_distill.examples.text2sql.teacher import TEACHER
    TEACHER.answer("How many customers are from Japan?", {"db_path": "store.duckdb"})
    TEACHER.propose(20, seeds, {"db_path": "store.duckdb", "sample": 3, "augmentation": None})

Like a real teacher it is imperfect: some phrasings it does not understand (it answers ""), a few
it answers slightly wrong, and about 3% of its proposals (MISTAKE_RATE) carry a typical
mistake (a misspelt column, a table that does not exist, or a syntax slip).
"""

from __future__ import annotations

import atexit
import functools
import random
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
NUMERIC: dict[str, list[str]] = {
    "n": [str(i) for i in range(3, 11)],
    "k": [str(i) for i in range(2, 7)],
    "tk": [str(i) for i in range(4, 8)],
    "secs": [str(i) for i in range(150, 425, 5)],
    "lo": [str(i) for i in range(120, 300, 10)],
    "hi": [str(i) for i in range(300, 480, 10)],
    "minutes": [str(i) for i in range(3, 8)],
    "amount": [str(i) for i in range(1, 10)],
    "fyear": [str(i) for i in range(1975, 2019)],
    "price": ["0.99", "1.29", "1.49"],
}
VALUE_QUERIES = {
    "country": "SELECT DISTINCT country FROM customers",
    "acountry": "SELECT DISTINCT country FROM artists WHERE country IS NOT NULL",
    "city": "SELECT DISTINCT city FROM customers",
    "genre": "SELECT DISTINCT genre FROM albums WHERE genre IS NOT NULL",
    "artist": "SELECT name FROM artists",
    "album": "SELECT title FROM albums",
    "buyer": "SELECT first_name || ' ' || last_name FROM customers "
             "WHERE customer_id IN (SELECT customer_id FROM invoices)",
    "iyear": "SELECT DISTINCT year(invoice_date) FROM invoices",
    "ryear": "SELECT DISTINCT year(release_date) FROM albums",
    "syear": "SELECT DISTINCT year(signup_date) FROM customers",
    "letter": "SELECT DISTINCT upper(substr(title, 1, 1)) FROM tracks",
    "word": "SELECT DISTINCT title FROM tracks",  # split into words below, in any engine
}
MISTAKE_RATE = 0.03
_NUMBER = r"\d+(?:\.\d+)?"
_SLOT = re.compile(r"\{(\w+)\}")


@dataclass
class Template:
    key: str
    difficulty: str
    phrasings: list[str]  # used by propose, and recognised by answer
    sql: str
    extra: list[str] = field(default_factory=list)  # recognised by answer only

    @property
    def slots(self) -> list[str]:
        return sorted(set(_SLOT.findall(self.sql)) | set(_SLOT.findall(self.phrasings[0])))


def T(key: str, difficulty: str, phrasings: list[str], sql: str, *extra: str) -> Template:
    return Template(key, difficulty, phrasings, sql, list(extra))


J_TRACK_ALBUM = "FROM tracks t JOIN albums al ON t.album_id = al.album_id"
J_ARTIST = f"{J_TRACK_ALBUM} JOIN artists ar ON al.artist_id = ar.artist_id"
J_SALES = "FROM invoice_items ii JOIN tracks t ON ii.track_id = t.track_id"
J_SALES_ALBUM = f"{J_SALES} JOIN albums al ON t.album_id = al.album_id"
J_SALES_ARTIST = f"{J_SALES_ALBUM} JOIN artists ar ON al.artist_id = ar.artist_id"
J_SALES_INVOICE = "JOIN invoices i ON ii.invoice_id = i.invoice_id"
J_CUST = "FROM customers c JOIN invoices i ON c.customer_id = i.customer_id"
BY_CUST = "GROUP BY c.customer_id, c.first_name, c.last_name"
NAME = "c.first_name || ' ' || c.last_name"

TEMPLATES: list[Template] = [
    # -- easy -------------------------------------------------------------------------------
    T("cust_count", "easy",
      ["How many customers are from {country}?", "Count the customers based in {country}.",
       "What is the number of customers in {country}?"],
      "SELECT COUNT(*) FROM customers WHERE country = '{country}'",
      "How many of our customers live in {country}?"),
    T("cust_list", "easy", ["List the first and last names of customers from {country}.",
       "Which customers are based in {country}? Give first and last names.",
       "Show the names of all customers in {country}."],
      "SELECT first_name, last_name FROM customers WHERE country = '{country}'"),
    T("cust_city", "easy",
      ["Which customers live in {city}?", "List the customers located in {city}.",
       "Show first and last names of customers from the city of {city}."],
      "SELECT first_name, last_name FROM customers WHERE city = '{city}'"),
    T("cust_signup", "easy",
      ["Which customers signed up in {syear}?", "List the customers who joined in {syear}.",
       "Show the customers whose signup year is {syear}."],
      "SELECT first_name, last_name FROM customers WHERE year(signup_date) = {syear}"),
    T("cust_no_email", "easy",
      ["Which customers have no email address?", "List the customers whose email is missing.",
       "Show customers without an email on file."],
      "SELECT first_name, last_name FROM customers WHERE email IS NULL",
      "Which customers have no email address on file?"),
    T("cust_no_email_c", "easy", ["Which customers from {country} have no email address?",
       "List customers in {country} whose email is missing."],
      "SELECT first_name, last_name FROM customers WHERE country = '{country}' AND email IS NULL"),
    T("cities", "easy", ["What are the distinct cities of customers in {country}?",
       "List the different cities where customers from {country} live.",
       "Which cities in {country} do our customers come from?"],
      "SELECT DISTINCT city FROM customers WHERE country = '{country}'"),
    T("long_tracks", "easy", ["Which tracks are longer than {secs} seconds?",
       "List the titles of tracks that last more than {secs} seconds.",
       "Show track titles with a duration over {secs} seconds."],
      "SELECT title FROM tracks WHERE duration_seconds > {secs}"),
    T("tracks_minutes", "easy", ["How many tracks are longer than {minutes} minutes?",
       "Count the tracks that run for more than {minutes} minutes."],
      "SELECT COUNT(*) FROM tracks WHERE duration_seconds > {minutes} * 60"),
    T("tracks_between", "easy", ["How many tracks last between {lo} and {hi} seconds?",
       "Count the tracks whose duration is between {lo} and {hi} seconds."],
      "SELECT COUNT(*) FROM tracks WHERE duration_seconds BETWEEN {lo} AND {hi}"),
    T("price_count", "easy",
      ["How many tracks cost ${price}?", "Count the tracks priced at ${price}.",
       "What number of tracks have a price of ${price}?"],
      "SELECT COUNT(*) FROM tracks WHERE price = {price}"),
    T("explicit_long", "easy", ["List the explicit tracks longer than {secs} seconds.",
       "Which explicit tracks run for more than {secs} seconds?"],
      "SELECT title FROM tracks WHERE explicit AND duration_seconds > {secs}"),
    T("genre_albums", "easy",
      ["List the titles of {genre} albums.", "Which albums are in the {genre} genre?",
       "Show all album titles with genre {genre}."],
      "SELECT title FROM albums WHERE genre = '{genre}'"),
    T("year_albums", "easy",
      ["Which albums were released in {ryear}?", "Show albums that came out in {ryear}.",
       "List the titles of albums released during {ryear}."],
      "SELECT title FROM albums WHERE year(release_date) = {ryear}"),
    T("country_artists", "easy",
      ["Which artists are from {acountry}?", "List the names of artists based in {acountry}.",
       "Show artists whose country is {acountry}."],
      "SELECT name FROM artists WHERE country = '{acountry}'"),
    T("artists_before", "easy",
      ["Which artists were formed before {fyear}?", "List the artists formed earlier than {fyear}.",
       "Name the bands founded before {fyear}."],
      "SELECT name FROM artists WHERE formed_year < {fyear}"),
    T("artists_no_country", "easy",
      ["Which artists have no country recorded?", "List artists whose country is unknown."],
      "SELECT name FROM artists WHERE country IS NULL"),
    T("invoices_year", "easy",
      ["How many invoices were issued in {iyear}?", "Count the invoices dated in {iyear}.",
       "What is the number of invoices from {iyear}?"],
      "SELECT COUNT(*) FROM invoices WHERE year(invoice_date) = {iyear}"),
    T("invoices_month", "easy",
      ["How many invoices were issued in {month} {iyear}?",
       "Count the invoices dated {month} {iyear}."],
      "SELECT COUNT(*) FROM invoices WHERE year(invoice_date) = {iyear} "
      "AND month(invoice_date) = {month}"),
    T("big_invoices", "easy", ["Which invoices have a total greater than ${amount}?",
       "List the IDs of invoices with a total above ${amount}.",
       "Show the invoices whose total exceeds ${amount}."],
      "SELECT invoice_id FROM invoices WHERE total > {amount}"),
    T("letter_tracks", "easy", ["Which tracks have titles starting with the letter {letter}?",
       "List track titles that begin with {letter}."],
      "SELECT title FROM tracks WHERE title LIKE '{letter}%'"),
    T("word_tracks", "easy",
      ["Which tracks have the word {word} in their title?", "Find track titles containing {word}.",
       "List tracks whose title contains {word}."],
      "SELECT title FROM tracks WHERE title LIKE '%{word}%'"),
    T("longest", "easy",
      ["What are the {n} longest tracks?", "List the top {n} tracks by duration.",
       "Show the {n} longest tracks, longest first."],
      "SELECT title, duration_seconds FROM tracks ORDER BY duration_seconds DESC, track_id "
      "LIMIT {n}"),
    T("largest_invoices", "easy", ["What are the {n} largest invoices by total?",
       "List the {n} invoices with the highest totals."],
      "SELECT invoice_id, total FROM invoices ORDER BY total DESC, invoice_id LIMIT {n}"),
    T("price_long", "easy",
      ["List the tracks priced at ${price} that last more than {secs} seconds.",
       "Which ${price} tracks are longer than {secs} seconds?"],
      "SELECT title FROM tracks WHERE price = {price} AND duration_seconds > {secs}"),
    T("signed_before", "easy", ["Which customers signed up before {month} {syear}?",
       "List the customers who joined before {month} {syear}."],
      "SELECT first_name, last_name FROM customers "
      "WHERE signup_date < make_date({syear}, {month}, 1)"),
    # -- medium -----------------------------------------------------------------------------
    T("artist_tracks", "medium",
      ["How many tracks does {artist} have?", "Count the tracks by {artist}.",
       "What is the total number of tracks released by {artist}?"],
      f"SELECT COUNT(*) {J_ARTIST} WHERE ar.name = '{{artist}}'"),
    T("artist_albums", "medium",
      ["List the albums by {artist}.", "Which albums has {artist} released?",
       "Show the album titles by {artist}."],
      "SELECT al.title FROM albums al JOIN artists ar ON al.artist_id = ar.artist_id "
      "WHERE ar.name = '{artist}'"),
    T("album_tracks", "medium",
      ["List the tracks on the album {album}.", "Which tracks are on {album}?",
       "Show the track titles of the album {album}."],
      f"SELECT t.title {J_TRACK_ALBUM} WHERE al.title = '{{album}}'"),
    T("album_length", "medium", ["What is the total running time in seconds of {album}?",
       "How long is the album {album} in seconds?"],
      f"SELECT SUM(t.duration_seconds) {J_TRACK_ALBUM} WHERE al.title = '{{album}}'"),
    T("per_country", "medium",
      ["How many customers are there in each country?", "Count customers per country."],
      "SELECT country, COUNT(*) AS customers FROM customers GROUP BY country"),
    T("per_city", "medium", ["How many customers are there in each city of {country}?",
       "Count the customers per city in {country}."],
      "SELECT city, COUNT(*) AS customers FROM customers WHERE country = '{country}' "
      "GROUP BY city"),
    T("per_genre", "medium",
      ["How many albums are there in each genre?", "Count albums per genre."],
      "SELECT genre, COUNT(*) AS albums FROM albums WHERE genre IS NOT NULL GROUP BY genre"),
    T("revenue_year", "medium",
      ["What is the total invoice amount for each year?", "Show total sales per year."],
      "SELECT year(invoice_date) AS year, SUM(total) AS revenue FROM invoices "
      "GROUP BY year(invoice_date) ORDER BY year"),
    T("genre_price", "medium", ["What is the average track price for {genre} albums?",
       "What is the average price of tracks in the {genre} genre?"],
      f"SELECT AVG(t.price) {J_TRACK_ALBUM} WHERE al.genre = '{{genre}}'"),
    T("spend", "medium",
      ["How much has {buyer} spent in total?", "What is the total amount spent by {buyer}?"],
      f"SELECT SUM(i.total) {J_CUST} WHERE {NAME} = '{{buyer}}'"),
    T("invoice_count", "medium",
      ["How many invoices does {buyer} have?", "Count the invoices for customer {buyer}."],
      f"SELECT COUNT(*) {J_CUST} WHERE {NAME} = '{{buyer}}'"),
    T("country_revenue", "medium",
      ["What was the total revenue from customers in {country} in {iyear}?",
       "How much did customers from {country} spend in {iyear}?"],
      f"SELECT SUM(i.total) {J_CUST} WHERE c.country = '{{country}}' "
      "AND year(i.invoice_date) = {iyear}"),
    T("genre_long", "medium", ["How many {genre} tracks are longer than {secs} seconds?",
       "Count the {genre} tracks that last more than {secs} seconds."],
      f"SELECT COUNT(*) {J_TRACK_ALBUM} WHERE al.genre = '{{genre}}' "
      "AND t.duration_seconds > {secs}"),
    T("monthly", "medium", ["How many invoices were issued in each month of {iyear}?",
       "Give the monthly invoice count for {iyear}."],
      "SELECT month(invoice_date) AS month, COUNT(*) AS invoices FROM invoices "
      "WHERE year(invoice_date) = {iyear} GROUP BY month(invoice_date) ORDER BY month"),
    T("country_albums", "medium", ["How many albums were released by artists from {acountry}?",
       "Count the albums of artists based in {acountry}."],
      "SELECT COUNT(*) FROM albums al JOIN artists ar ON al.artist_id = ar.artist_id "
      "WHERE ar.country = '{acountry}'"),
    T("long_short", "medium",
      ["For each track on {album}, label it long if it is over {secs} seconds and short otherwise.",
       "Classify the tracks of {album} as long (over {secs} seconds) or short."],
      "SELECT t.title, CASE WHEN t.duration_seconds > {secs} THEN 'long' ELSE 'short' END "
      f"AS length {J_TRACK_ALBUM} WHERE al.title = '{{album}}'"),
    T("country_avg", "medium", ["What is the average invoice total for customers in {country}?",
       "Average invoice amount for customers from {country}?"],
      f"SELECT AVG(i.total) {J_CUST} WHERE c.country = '{{country}}'"),
    T("month_list", "medium", ["List the invoices issued in {month} {iyear}.",
       "Show the ID, date and total of invoices from {month} {iyear}."],
      "SELECT invoice_id, invoice_date, total FROM invoices WHERE year(invoice_date) = {iyear} "
      "AND month(invoice_date) = {month}"),
    T("genre_album_sizes", "medium",
      ["How many tracks does each {genre} album have?", "Count the tracks on every {genre} album."],
      f"SELECT al.title, COUNT(*) AS tracks {J_TRACK_ALBUM} WHERE al.genre = '{{genre}}' "
      "GROUP BY al.album_id, al.title"),
    T("genre_tracks", "medium",
      ["How many tracks are there in each genre?", "Count the tracks per album genre."],
      f"SELECT al.genre, COUNT(*) AS tracks {J_TRACK_ALBUM} GROUP BY al.genre"),
    T("signups_country", "medium", ["How many customers from {country} signed up each year?",
       "Count signups per year for customers in {country}."],
      "SELECT year(signup_date) AS year, COUNT(*) AS customers FROM customers "
      "WHERE country = '{country}' GROUP BY year(signup_date) ORDER BY year"),
    T("album_long", "medium", ["How many tracks on {album} are longer than {secs} seconds?",
       "Count the tracks of {album} that run over {secs} seconds."],
      f"SELECT COUNT(*) {J_TRACK_ALBUM} WHERE al.title = '{{album}}' "
      "AND t.duration_seconds > {secs}"),
    T("artist_explicit", "medium",
      ["Which explicit tracks are by {artist}?", "List the explicit tracks by {artist}."],
      f"SELECT t.title {J_ARTIST} WHERE ar.name = '{{artist}}' AND t.explicit"),
    # -- hard -------------------------------------------------------------------------------
    T("top_spenders", "hard", ["Who are the top {n} customers by total spending?",
       "List the {n} customers who spent the most.",
       "Which {n} customers have the highest total spend?"],
      f"SELECT c.first_name, c.last_name, SUM(i.total) AS spent {J_CUST} {BY_CUST} "
      "ORDER BY spent DESC, c.customer_id LIMIT {n}"),
    T("best_sellers", "hard", ["What are the {n} best-selling tracks by quantity?",
       "List the top {n} tracks by number of units sold."],
      f"SELECT t.title, SUM(ii.quantity) AS sold {J_SALES} GROUP BY t.track_id, t.title "
      "ORDER BY sold DESC, t.track_id LIMIT {n}"),
    T("country_genres", "hard", ["Which genres have customers from {country} bought?",
       "List the distinct album genres purchased by customers in {country}."],
      f"SELECT DISTINCT al.genre {J_SALES_ALBUM} {J_SALES_INVOICE} JOIN customers c "
      "ON i.customer_id = c.customer_id WHERE c.country = '{country}' AND al.genre IS NOT NULL"),
    T("frequent", "hard", ["Which customers have placed more than {k} invoices?",
       "List customers with more than {k} invoices."],
      f"SELECT c.first_name, c.last_name, COUNT(*) AS invoices {J_CUST} {BY_CUST} "
      "HAVING COUNT(*) > {k}"),
    T("genre_avg_len", "hard", ["Which genres have an average track duration above {secs} seconds?",
       "List genres whose tracks average more than {secs} seconds."],
      f"SELECT al.genre, AVG(t.duration_seconds) AS avg_seconds {J_TRACK_ALBUM} "
      "WHERE al.genre IS NOT NULL GROUP BY al.genre HAVING AVG(t.duration_seconds) > {secs}"),
    T("above_avg_genre", "hard", ["Which {genre} tracks are longer than the average {genre} track?",
       "List {genre} tracks whose duration exceeds the {genre} average."],
      f"SELECT t.title {J_TRACK_ALBUM} WHERE al.genre = '{{genre}}' AND t.duration_seconds > "
      "(SELECT AVG(t2.duration_seconds) FROM tracks t2 JOIN albums a2 "
      "ON t2.album_id = a2.album_id WHERE a2.genre = '{genre}')"),
    T("never_ordered", "hard", ["Which customers from {country} have never placed an order?",
       "List customers in {country} with no invoices."],
      "SELECT first_name, last_name FROM customers WHERE country = '{country}' "
      "AND customer_id NOT IN (SELECT customer_id FROM invoices)"),
    T("unsold", "hard", ["Which tracks by {artist} have never been sold?",
       "List the tracks by {artist} that nobody has bought."],
      f"SELECT t.title {J_ARTIST} WHERE ar.name = '{{artist}}' "
      "AND t.track_id NOT IN (SELECT track_id FROM invoice_items)"),
    T("artist_fans", "hard", ["Which customers have bought tracks by {artist}?",
       "List the customers who purchased at least one track by {artist}."],
      f"SELECT DISTINCT c.first_name, c.last_name {J_SALES_ARTIST} {J_SALES_INVOICE} "
      "JOIN customers c ON i.customer_id = c.customer_id WHERE ar.name = '{artist}'"),
    T("genre_revenue", "hard", ["What was the revenue per genre in {iyear}?",
       "Show sales revenue by genre for {iyear}, highest first."],
      f"SELECT al.genre, SUM(ii.unit_price * ii.quantity) AS revenue {J_SALES_ALBUM} "
      f"{J_SALES_INVOICE} WHERE year(i.invoice_date) = {{iyear}} GROUP BY al.genre "
      "ORDER BY revenue DESC, al.genre"),
    T("top_artists", "hard",
      ["Which {n} artists earned the most revenue?", "List the top {n} artists by sales revenue."],
      f"SELECT ar.name, SUM(ii.unit_price * ii.quantity) AS revenue {J_SALES_ARTIST} "
      "GROUP BY ar.artist_id, ar.name ORDER BY revenue DESC, ar.artist_id LIMIT {n}"),
    T("above_year_avg", "hard",
      ["Which invoices from {iyear} have a total above that year's average?",
       "List {iyear} invoices whose total is higher than the average invoice of {iyear}."],
      "SELECT invoice_id, total FROM invoices WHERE year(invoice_date) = {iyear} AND total > "
      "(SELECT AVG(total) FROM invoices WHERE year(invoice_date) = {iyear})"),
    T("first_order", "hard", ["When did each customer from {country} place their first order?",
       "Show the first invoice date of every customer in {country}."],
      f"SELECT c.first_name, c.last_name, MIN(i.invoice_date) AS first_order {J_CUST} "
      f"WHERE c.country = '{{country}}' {BY_CUST}"),
    T("explicit_share", "hard", ["What percentage of tracks on {album} are explicit?",
       "What share of the tracks on {album} is explicit, in percent?"],
      "SELECT ROUND(100.0 * SUM(CASE WHEN t.explicit THEN 1 ELSE 0 END) / COUNT(*), 1) "
      f"{J_TRACK_ALBUM} WHERE al.title = '{{album}}'"),
    T("best_month", "hard", ["Which month of {iyear} had the highest invoice revenue?",
       "In {iyear}, which month brought in the most sales?"],
      "SELECT month(invoice_date) AS month, SUM(total) AS revenue FROM invoices "
      "WHERE year(invoice_date) = {iyear} GROUP BY month(invoice_date) "
      "ORDER BY revenue DESC, month LIMIT 1"),
    T("big_albums", "hard",
      ["Which albums have more than {tk} tracks?", "List albums containing more than {tk} tracks."],
      f"SELECT al.title, COUNT(*) AS tracks {J_TRACK_ALBUM} GROUP BY al.album_id, al.title "
      "HAVING COUNT(*) > {tk}"),
    T("country_spenders", "hard",
      ["Which customers from {country} spent more than ${amount} in total?",
       "List customers in {country} whose total spending exceeds ${amount}."],
      f"SELECT c.first_name, c.last_name, SUM(i.total) AS spent {J_CUST} "
      f"WHERE c.country = '{{country}}' {BY_CUST} HAVING SUM(i.total) > {{amount}}"),
    T("top_buyer_year", "hard", ["Which customer bought the most tracks in {iyear}?",
       "Who purchased the largest number of tracks in {iyear}?"],
      f"SELECT c.first_name, c.last_name, SUM(ii.quantity) AS tracks {J_CUST} "
      "JOIN invoice_items ii ON i.invoice_id = ii.invoice_id WHERE year(i.invoice_date) = {iyear} "
      f"{BY_CUST} ORDER BY tracks DESC, c.customer_id LIMIT 1"),
    T("artist_units_year", "hard", ["How many units of tracks by {artist} were sold in {iyear}?",
       "What quantity of {artist} tracks was sold in {iyear}?"],
      f"SELECT SUM(ii.quantity) {J_SALES_ARTIST} {J_SALES_INVOICE} "
      "WHERE ar.name = '{artist}' AND year(i.invoice_date) = {iyear}"),
    T("genre_best", "hard", ["What are the {n} best-selling {genre} tracks?",
       "List the top {n} {genre} tracks by units sold."],
      f"SELECT t.title, SUM(ii.quantity) AS sold {J_SALES_ALBUM} WHERE al.genre = '{{genre}}' "
      "GROUP BY t.track_id, t.title ORDER BY sold DESC, t.track_id LIMIT {n}"),
]

TYPOS = {"duration_seconds": "duration_secs", "invoice_date": "invoice_dt",
         "first_name": "firstname", "release_date": "released_on", "genre": "genres",
         "country": "country_name", "unit_price": "price_each", "signup_date": "signed_up",
         "formed_year": "year_formed"}
FAKE_TABLES = {"invoice_items": "invoice_lines", "tracks": "songs", "customers": "clients",
               "albums": "records", "artists": "bands"}
REWORDINGS = [(r"^List\b", "Show"), (r"^Show\b", "Display"), (r"^Which\b", "What"),
              (r"^How many\b", "Tell me how many"), (r"^What is\b", "Give me"),
              (r"^Count\b", "Count up")]


def _norm(text: str) -> str:
    return " ".join(text.strip().rstrip("?.!").split())


def _literal(value: str) -> str:
    return value.replace("'", "''")


def _meta(seed: dict) -> dict:
    """A seed's metadata; the pipeline may pass `difficulty` at the top level instead."""
    meta = dict(seed.get("metadata") or {})
    if seed.get("difficulty"):
        meta.setdefault("difficulty", seed["difficulty"])
    return meta


def _open_copy(path: str) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a private copy of the database.

    The pipeline's sandbox holds the original open with its own settings, and DuckDB refuses a
    second connection to the same file with different settings in one process (in either order).
    """
    folder = tempfile.mkdtemp(prefix="slm-distill-rule-teacher-")
    atexit.register(shutil.rmtree, folder, True)
    copy = Path(folder) / Path(path).name
    shutil.copyfile(path, copy)
    if Path(f"{path}.wal").exists():
        shutil.copyfile(f"{path}.wal", f"{copy}.wal")
    return duckdb.connect(str(copy), read_only=True)


class _QueryConnection:
    """Adapts the pipeline's `context["query"](sql) -> rows` to the little of DuckDB's API used here."""

    def __init__(self, query: Any) -> None:
        self._query = query
        self._rows: list[tuple] = []

    def execute(self, sql: str) -> _QueryConnection:
        try:
            self._rows = list(self._query(sql))
        except Exception as exc:  # noqa: BLE001 - the sandbox's own error type is not imported here
            raise duckdb.Error(str(exc)) from exc
        return self

    def fetchall(self) -> list[tuple]:
        return self._rows

    def fetchone(self) -> tuple | None:
        return self._rows[0] if self._rows else None

    def fetchmany(self, n: int) -> list[tuple]:
        return self._rows[:n]

    def close(self) -> None:
        self._rows = []


@functools.lru_cache(maxsize=8192)
def in_dialect(sql: str, dialect: str) -> str:
    """The templates' DuckDB SQL written for the project's engine (sqlite, postgres) by sqlglot;
    for SQLite, which has no year()/month()/EXTRACT, as integers read from strftime()."""
    if dialect == "duckdb":
        return sql
    tree = sqlglot.parse_one(sql, read="duckdb")
    if dialect == "sqlite":
        tree = tree.transform(_sqlite_date_parts)
    if dialect == "postgres":  # sqlglot writes make_date() as DATE_FROM_PARTS()
        tree = tree.transform(lambda n: exp.Anonymous(this="make_date", expressions=[
            n.args[k].copy() for k in ("year", "month", "day")])
            if isinstance(n, exp.DateFromParts) else n)
    return tree.sql(dialect=dialect)


_PARTS = {"YEAR": "%Y", "MONTH": "%m", "DAY": "%d"}


def _sqlite_date_parts(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.DateFromParts):  # make_date(y, m, d)
        y, m, d = (node.args.get(k) for k in ("year", "month", "day"))
        text = sqlglot.parse_one("date(printf('%04d-%02d-%02d', y, m, d))", read="sqlite")
        parts = {"y": y, "m": m, "d": d}
        return text.transform(lambda n: parts[n.name].copy()
                              if isinstance(n, exp.Column) and n.name in parts else n)
    part, value = None, None
    if isinstance(node, exp.Year | exp.Month | exp.Day):
        part, value = type(node).__name__.upper(), node.this
    elif isinstance(node, exp.Extract) and node.this.name.upper() in _PARTS:
        part, value = node.this.name.upper(), node.expression
    if part is None:
        return node
    text = sqlglot.parse_one(f"CAST(strftime('{_PARTS[part]}', x) AS INTEGER)", read="sqlite")
    return text.transform(lambda n: value.copy() if isinstance(n, exp.Column) and n.name == "x"
                          else n)


class RuleTeacher:
    """Offline rule-based Text2SQL teacher (regex templates, not an LLM) for the music store."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._db: str | None = None
        self._dialect = "duckdb"
        self._conn: Any = None
        self._values: dict[str, list[str]] = {}
        self._patterns: list[tuple[re.Pattern[str], Template]] = []
        self._weights: list[float] = []

    # -- database and patterns ---------------------------------------------------------
    def _load(self, context: dict) -> None:
        self._dialect = context.get("dialect") or "duckdb"
        path = context.get("db_path")
        key = path or (f"{self._dialect}:{hash(context.get('schema'))}"
                       if context.get("query") is not None else None)  # PostgreSQL: no file
        if key is not None and str(key) == self._db:
            if isinstance(self._conn, _QueryConnection) and context.get("query") is not None:
                self._conn = _QueryConnection(context["query"])  # the caller's live sandbox
            return
        self._values = {**NUMERIC, "month": MONTHS}
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if context.get("query") is not None:  # the pipeline's sandboxed, read-only query function
            self._conn = _QueryConnection(context["query"])
        elif path is not None:
            self._conn = _open_copy(str(path))
        if self._conn is not None:
            for kind, query in VALUE_QUERIES.items():
                rows = self._conn.execute(in_dialect(query, self._dialect)).fetchall()
                found = {str(r[0]) for r in rows if r[0] is not None}
                if kind == "word":
                    found = {w for title in found for w in title.split(" ") if w}
                self._values[kind] = sorted(found)
            self._values["word"] = [w for w in self._values["word"] if w != "The"]
        self._db = None if key is None else str(key)
        self._patterns = [(self._compile(p), t) for t in TEMPLATES for p in t.phrasings + t.extra]
        self._weights = [self._space(t) ** 0.5 for t in TEMPLATES]

    def _space(self, template: Template) -> int:
        """How many distinct questions a template can produce."""
        size = len(template.phrasings)
        for kind in template.slots:
            size *= len(self._values.get(kind, [])) or 1
        return size

    def _kind_regex(self, kind: str) -> str:
        if kind == "letter":
            return r"[A-Za-z]"
        if kind in NUMERIC or kind.endswith("year"):
            return _NUMBER
        values = sorted(self._values.get(kind, []), key=len, reverse=True)
        return "|".join(re.escape(v) for v in values) if values else r".+?"

    def _compile(self, phrasing: str) -> re.Pattern[str]:
        parts, seen = re.split(r"\{(\w+)\}", _norm(phrasing)), set()
        out = []
        for i, part in enumerate(parts):
            if i % 2 == 0:
                out.append(re.escape(part).replace(r"\ ", r"\s+"))
            elif part in seen:
                out.append(f"(?P={part})")
            else:
                seen.add(part)
                the = r"(?:the\s+)?" if part in ("country", "acountry") else ""
                out.append(f"{the}(?P<{part}>{self._kind_regex(part)})")
        return re.compile("".join(out), re.IGNORECASE)

    def _canonical(self, kind: str, raw: str) -> str:
        return next((v for v in self._values.get(kind, []) if v.lower() == raw.lower()), raw)

    # -- filling templates -------------------------------------------------------------
    @staticmethod
    def _sql_value(kind: str, value: str) -> str:
        if kind == "month":
            return str(MONTHS.index(value) + 1)
        if kind == "letter":
            return value.upper()
        return _literal(value)

    @staticmethod
    def _say(template: Template, phrasing: int, values: dict[str, str]) -> str:
        """The question text: "the UK", "the USA" read better than "UK", "USA"."""
        shown = {k: f"the {v}" if k.endswith("country") and v in ("UK", "USA") else v
                 for k, v in values.items()}
        return template.phrasings[phrasing].format(**shown)

    def _render(self, template: Template, values: dict[str, str], phrasing: int) -> dict:
        question = self._say(template, phrasing, values)
        sql = template.sql.format(**{k: self._sql_value(k, v) for k, v in values.items()})
        return {"input": question, "output": in_dialect(sql, self._dialect),
                "metadata": {"difficulty": template.difficulty, "template": template.key}}

    def _sample(self, template: Template, rng: random.Random, fixed: dict[str, str]) -> dict:
        values = {k: fixed.get(k) or rng.choice(self._values[k]) for k in template.slots}
        return self._render(template, values, rng.randrange(len(template.phrasings)))

    def _good(self, pair: dict) -> bool:
        """Does the pair's SQL run and return a row that is not all NULL?"""
        try:
            row = self._conn.execute(pair["output"]).fetchone() if self._conn else None
        except duckdb.Error:
            return False
        return row is not None and any(v is not None for v in row)

    def match(self, question: str) -> tuple[Template, dict[str, str]] | None:
        """The template a question fits and its slot values, or None."""
        text = _norm(question)
        for pattern, template in self._patterns:
            found = pattern.fullmatch(text)
            if found:
                values = {k: self._canonical(k, v) for k, v in found.groupdict().items()}
                return template, values
        return None

    # -- the teacher interface -----------------------------------------------------------
    def answer(self, input: str, context: dict) -> str:
        with self._lock:
            self._load(context)
            found = self.match(input)
        if found is None:
            return ""
        template, values = found
        sql = template.sql.format(**{k: self._sql_value(k, v) for k, v in values.items()})
        return in_dialect(sql, self._dialect)

    def propose(self, n: int, seeds: list[dict], context: dict) -> list[dict]:
        rng = random.Random(context.get("sample", 0))
        with self._lock:
            self._load(context)
            mode = context.get("augmentation")
            if mode in ("paraphrase", "entities", "complexity"):
                return self._augment(mode, n, seeds, rng)
            if mode == "targeted":
                return self._targeted(n, seeds, rng, context)
            return self._new(n, seeds, rng)

    def _targeted(self, n: int, seeds: list[dict], rng: random.Random, context: dict) -> list[dict]:
        """New pairs from the templates whose SQL uses every feature the focus needs."""
        needs = set((context.get("focus") or {}).get("needs", []))
        describe = context.get("describe")
        if describe is None:
            return self._new(n, seeds, rng)
        fitting = [(t, w) for t, w in zip(TEMPLATES, self._weights, strict=True)
                   if needs <= set(describe(self._sample(t, random.Random(0), {})["output"])["features"])]
        if not fitting:
            return []
        templates, weights = zip(*fitting, strict=True)
        return self._new(n, seeds, rng, list(templates), list(weights))

    def _new(self, n: int, seeds: list[dict], rng: random.Random,
             templates: list[Template] | None = None, weights: list[float] | None = None) -> list[dict]:
        seen_q = {_norm(s.get("input", "")).lower() for s in seeds}
        seen_sql = {" ".join(s.get("output", "").lower().split()) for s in seeds}
        out: list[dict] = []
        for _ in range(n * 30):
            if len(out) >= n:
                break
            pair = self._sample(rng.choices(templates or TEMPLATES, weights or self._weights)[0], rng, {})
            q, sql = _norm(pair["input"]).lower(), " ".join(pair["output"].lower().split())
            if q in seen_q or sql in seen_sql or not self._good(pair):
                continue
            seen_q.add(q)
            seen_sql.add(sql)
            out.append(self._maybe_mistake(pair, rng))
        return out

    # -- augmentation ----------------------------------------------------------------------
    def _augment(self, mode: str, n: int, seeds: list[dict], rng: random.Random) -> list[dict]:
        out: list[dict] = []
        seen = {_norm(s.get("input", "")).lower() for s in seeds}
        order = list(seeds)
        rng.shuffle(order)
        for _ in range(3):
            for seed in order:
                for pair in getattr(self, f"_{mode}")(seed, rng):
                    key = _norm(pair["input"]).lower()
                    if key not in seen and len(out) < n:
                        seen.add(key)
                        out.append(pair)
        return out

    def _paraphrase(self, seed: dict, rng: random.Random) -> list[dict]:
        found = self.match(seed["input"])
        meta = _meta(seed)
        if found is not None:
            template, values = found
            return [{"input": self._say(template, i, values), "output": seed["output"],
                     "metadata": meta} for i in range(len(template.phrasings))]
        for pattern, replacement in REWORDINGS:
            text = re.sub(pattern, replacement, seed["input"])
            if text != seed["input"]:
                return [{"input": text, "output": seed["output"], "metadata": meta}]
        return [{"input": f"Could you tell me: {seed['input']}", "output": seed["output"],
                 "metadata": meta}]

    def _entities(self, seed: dict, rng: random.Random) -> list[dict]:
        found = self.match(seed["input"])
        if found is None:
            return self._swap_literal(seed, rng)
        template, values = found
        if not values:
            return []
        kind = rng.choice(sorted(values))
        others = [v for v in self._values.get(kind, []) if v != values[kind]]
        if not others:
            return []
        pair = self._render(template, {**values, kind: rng.choice(others)},
                            rng.randrange(len(template.phrasings)))
        return [pair] if self._good(pair) else []

    def _swap_literal(self, seed: dict, rng: random.Random) -> list[dict]:
        for kind in ("artist", "album", "genre", "country", "acountry", "city"):
            for value in self._values.get(kind, []):
                if value in seed["input"] and f"'{_literal(value)}'" in seed["output"]:
                    new = rng.choice([v for v in self._values[kind] if v != value])
                    pair = {"input": seed["input"].replace(value, new),
                            "output": seed["output"].replace(f"'{_literal(value)}'",
                                                             f"'{_literal(new)}'"),
                            "metadata": _meta(seed)}
                    return [pair] if self._good(pair) else []
        return []

    def _complexity(self, seed: dict, rng: random.Random) -> list[dict]:
        found = self.match(seed["input"])
        if found is None:
            return []
        template, values = found
        related = [t for t in TEMPLATES if t.difficulty != template.difficulty
                   and set(t.slots) & set(values)]
        if not related:
            return []
        pair = self._sample(rng.choice(related), rng, values)
        return [pair] if self._good(pair) else []

    # -- realistic mistakes ---------------------------------------------------------------
    def _maybe_mistake(self, pair: dict, rng: random.Random) -> dict:
        if rng.random() >= MISTAKE_RATE:
            return pair
        sql = pair["output"]
        options = [(a, b) for a, b in TYPOS.items() if re.search(rf"\b{a}\b", sql)]
        options += [(f"(FROM|JOIN) {a}", rf"\1 {b}") for a, b in FAKE_TABLES.items()
                    if re.search(rf"\b(FROM|JOIN) {a}\b", sql)]
        kind = rng.choice(["name", "name", "syntax"]) if options else "syntax"
        if kind == "name":
            old, new = rng.choice(options)
            sql = re.sub(rf"\b{old}\b", new, sql, count=1)
        elif ")" in sql:
            sql = sql[::-1].replace(")", "", 1)[::-1]
        else:
            sql = sql.replace(" FROM ", " FORM ", 1)
        return {**pair, "output": sql}


TEACHER = RuleTeacher()
