#!/usr/bin/python3
"""Load actord's MongoDB data (docs/MONGODB.md).

    storage/mongo/load.py [--uri URI] [--database NAME] [--timeout-ms MS]

URI: --uri, else $MONGO_URI, else mongodb://127.0.0.1:27017. NAME: the
database actord reads (mongo.database), hello_world by default. MS: how
long to wait for a usable server (5000 by default).

Idempotent: drops and recreates the two collections the /mongo routes
read, then indexes them on `id` (every query filters on it):
  world    10,000 documents {_id: i, id: i, randomNumber: 1..10000 at random}
  fortune  TechEmpower's 12 rows {_id: i, id: i, message}, taken from
           storage/sql/schema.sql so MariaDB and MongoDB serve the same text

Needs Debian's python3-pymongo; run it with /usr/bin/python3.
"""
import argparse
import os
import random
import re
import sys

from pymongo import ASCENDING, MongoClient
from pymongo.errors import PyMongoError

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA = os.path.join(HERE, "..", "sql", "schema.sql")
WORLD_ROWS = 10000


def read_fortunes(path=SCHEMA):
    """The messages of schema.sql's `INSERT INTO Fortune (message) VALUES`."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"INSERT INTO Fortune \(message\) VALUES(.*?);[ \t]*$", text, re.S | re.M)
    if m is None:
        raise ValueError(f"{path}: no INSERT INTO Fortune statement")
    return [s.replace("''", "'") for s in re.findall(r"\('((?:[^']|'')*)'\)", m.group(1))]


def load(uri, database, timeout_ms=5000):
    """Drop and recreate world and fortune in `database`; returns the counts."""
    rnd = random.Random()
    fortunes = read_fortunes()
    client = MongoClient(uri, serverSelectionTimeoutMS=timeout_ms)
    try:
        db = client[database]
        db.world.drop()
        db.fortune.drop()
        db.world.insert_many([{"_id": i, "id": i, "randomNumber": rnd.randint(1, 10000)}
                              for i in range(1, WORLD_ROWS + 1)])
        db.world.create_index([("id", ASCENDING)], unique=True, name="id")
        db.fortune.insert_many([{"_id": i, "id": i, "message": msg}
                                for i, msg in enumerate(fortunes, 1)])
        db.fortune.create_index([("id", ASCENDING)], unique=True, name="id")
    finally:
        client.close()
    return WORLD_ROWS, len(fortunes)


def main(argv=None):
    p = argparse.ArgumentParser(description="Load actord's MongoDB collections "
                                "(world, fortune); drops them first.")
    p.add_argument("--uri", default=os.environ.get("MONGO_URI", "mongodb://127.0.0.1:27017"))
    p.add_argument("--database", default="hello_world")
    p.add_argument("--timeout-ms", type=int, default=5000)
    args = p.parse_args(argv)
    try:
        world, fortune = load(args.uri, args.database, args.timeout_ms)
    except (PyMongoError, OSError, ValueError) as e:
        print(f"load.py: {e}", file=sys.stderr)
        return 1
    print(f"load.py: {args.database}: world {world} documents, fortune {fortune} documents")
    return 0


if __name__ == "__main__":
    sys.exit(main())
