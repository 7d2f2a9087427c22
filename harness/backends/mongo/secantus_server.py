"""Runs one SecantusDB server (a MongoDB wire-protocol server) for the test suite, standalone.

It must never be imported by, linked into or copied into the project's crates: SecantusDB is
GPL-2.0-only (checked in the installed package: METADATA says `License-Expression: GPL-2.0-only
AND CC-BY-4.0`, licenses/LICENSE is the GNU GPL version 2 text, LICENSE-DOCS is CC BY 4.0 for its
docs), so the project only talks to it over the network, in a separate process, for tests.
Started by secantus.sh; see ../README.md.
"""

import argparse
import logging
import os
import signal
import sys

from secantus import SecantusDBServer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 lets the OS pick a free port")
    parser.add_argument("--data", required=True, help="storage directory (one server per directory)")
    parser.add_argument("--port-file", required=True, help="written with the bound port once listening")
    parser.add_argument("--ttl-sweep-seconds", type=float, default=1.0)
    args = parser.parse_args()

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    # Standalone (no replica set): the replica-set mode slowed down over repeated runs here, and
    # the session stores need neither transactions nor change streams.
    server = SecantusDBServer(
        host=args.host,
        port=args.port,
        storage_path=args.data,
        ttl_sweep_seconds=args.ttl_sweep_seconds,
        replica_set_name=None,
        enable_test_commands=False,
    )

    stopping = False

    def on_signal(signum, _frame):
        nonlocal stopping
        if stopping:
            return
        stopping = True
        print(f"secantus_server: signal {signum}, stopping", file=sys.stderr, flush=True)
        server.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    server.start()
    host, port = server.address[:2]
    # Written atomically, after the socket listens, so a reader never sees a partial number.
    tmp = f"{args.port_file}.tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{port}\n")
    os.replace(tmp, args.port_file)
    print(f"secantus_server: pid {os.getpid()} listening on {host}:{port}, data {args.data}",
          file=sys.stderr, flush=True)

    server.wait()
    print("secantus_server: stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
