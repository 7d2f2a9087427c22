"""Readiness probe and self-test for a MongoDB-compatible server, run with the secantus venv's pymongo.

`hello URL --timeout S` waits (bounded) until the server answers `hello`. `selftest URL` checks
the operations the Mongo session store relies on, in a database of its own that it drops after;
it must never touch any other database. Both exit non-zero on failure. Used by secantus.sh.
"""

import argparse
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

from pymongo import ASCENDING, MongoClient
from pymongo.errors import PyMongoError


class CheckFailed(Exception):
    pass


def expect(condition: bool, what: str, found=None) -> None:
    if not condition:
        raise CheckFailed(f"{what}: found {found!r}" if found is not None else what)
    print(f"  ok  {what}", file=sys.stderr)


def client_for(url: str, timeout_ms: int = 5000) -> MongoClient:
    return MongoClient(url, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms,
                       socketTimeoutMS=timeout_ms * 2, tz_aware=True)


def wait_hello(url: str, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            with client_for(url, 1000) as client:
                reply = client.admin.command("hello")
                if reply.get("ok") == 1:
                    return 0
                last = reply
        except PyMongoError as err:
            last = err
        time.sleep(0.1)
    # No URL here: the caller names the server (by its address alone, harness/backends/address.sh).
    print(f"check: no successful hello within {timeout}s (last: {last})", file=sys.stderr)
    return 1


def selftest(url: str, ttl_bound: float) -> int:
    db_name = f"sessionspec_selftest_{uuid.uuid4().hex[:12]}"
    client = client_for(url)
    try:
        reply = client.admin.command("hello")
        expect(reply.get("ok") == 1, "hello answers")
        build = client.admin.command("buildInfo")
        print(f"  --  server reports version {build.get('version')}", file=sys.stderr)

        sessions = client[db_name]["sessions"]
        now = datetime.now(timezone.utc).replace(microsecond=0)

        # Upsert with $setOnInsert: the insert sets createdAt, a later update keeps it.
        created = now - timedelta(minutes=5)
        first = sessions.update_one(
            {"_id": "live"},
            {"$set": {"session": '{"n":1}', "expires": now + timedelta(hours=1)},
             "$setOnInsert": {"createdAt": created}},
            upsert=True,
        )
        expect(first.upserted_id == "live", "upsert inserts with $setOnInsert", first.raw_result)
        second = sessions.update_one(
            {"_id": "live"},
            {"$set": {"session": '{"n":2}'}, "$setOnInsert": {"createdAt": now}},
            upsert=True,
        )
        expect(second.matched_count == 1 and second.upserted_id is None,
               "second upsert updates in place", second.raw_result)
        doc = sessions.find_one({"_id": "live"})
        expect(doc is not None and doc["createdAt"] == created and doc["session"] == '{"n":2}',
               "$setOnInsert field kept on update", doc)

        # TTL index on expires with expireAfterSeconds 0, visible in listIndexes.
        name = sessions.create_index([("expires", ASCENDING)], expireAfterSeconds=0)
        indexes = {ix["name"]: ix for ix in sessions.list_indexes()}
        ttl = indexes.get(name)
        expect(ttl is not None and dict(ttl["key"]) == {"expires": 1}
               and ttl.get("expireAfterSeconds") == 0,
               f"createIndex({{expires:1}},{{expireAfterSeconds:0}}) listed as {name!r}", indexes)

        # $or over a missing and a future expires; an expired document must not match.
        sessions.insert_one({"_id": "no-expiry", "session": "{}"})
        sessions.insert_one({"_id": "expired", "session": "{}", "expires": now - timedelta(seconds=1)})
        query = {"_id": {"$in": ["live", "no-expiry", "expired"]},
                 "$or": [{"expires": {"$exists": False}}, {"expires": {"$gt": datetime.now(timezone.utc)}}]}
        found = sorted(d["_id"] for d in sessions.find(query))
        expect(found == ["live", "no-expiry"], "find with $or [$exists:false, $gt:now]", found)

        count = sessions.count_documents({"_id": {"$in": ["live", "no-expiry"]}})
        expect(count == 2, "countDocuments", count)

        # The TTL monitor removes a document by itself once its expires passes: one that is
        # still present when inserted (so the check can fail), expiring two seconds later.
        sessions.insert_one({"_id": "soon", "session": "{}",
                             "expires": datetime.now(timezone.utc) + timedelta(seconds=2)})
        expect(sessions.count_documents({"_id": "soon"}) == 1, "document expiring in 2s is present")
        started = time.monotonic()
        while sessions.count_documents({"_id": "soon"}) and time.monotonic() - started < ttl_bound:
            time.sleep(0.1)
        waited = time.monotonic() - started
        expect(sessions.count_documents({"_id": {"$in": ["soon", "expired"]}}) == 0,
               f"TTL sweep deleted the expired documents ({waited:.1f}s after insert; bound {ttl_bound}s)")
        expect(sessions.count_documents({}) == 2, "TTL sweep left the live documents",
               sessions.count_documents({}))
        print("selftest: passed", file=sys.stderr)
        return 0
    except (CheckFailed, PyMongoError) as err:
        print(f"selftest: FAILED: {err}", file=sys.stderr)
        return 1
    finally:
        try:
            client.drop_database(db_name)
        except PyMongoError as err:
            print(f"selftest: could not drop {db_name}: {err}", file=sys.stderr)
        client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    hello = sub.add_parser("hello")
    hello.add_argument("url")
    hello.add_argument("--timeout", type=float, default=30.0)
    test = sub.add_parser("selftest")
    test.add_argument("url")
    test.add_argument("--ttl-bound", type=float, default=10.0, help="seconds to wait for the TTL sweep")
    args = parser.parse_args()
    if args.cmd == "hello":
        return wait_hello(args.url, args.timeout)
    return selftest(args.url, args.ttl_bound)


if __name__ == "__main__":
    sys.exit(main())
