"""Runs SecantusDB (a MongoDB wire-protocol test server, GPL-2.0-only) in the foreground.

Started as its own process inside the sessionspec/secantus image and never imported by project
code. Standalone mode (no replica set) and a 1 s TTL sweep, so TTL expiry is observable in tests.
"""

import os
import signal
import sys

from secantus import SecantusDBServer


def main() -> None:
    host = os.environ.get("SECANTUS_HOST", "0.0.0.0")
    port = int(os.environ.get("SECANTUS_PORT", "27017"))
    server = SecantusDBServer(
        host=host,
        port=port,
        storage_path=os.environ.get("SECANTUS_STORAGE", "/data/db"),
        replica_set_name=None,
        enable_test_commands=False,
        ttl_sweep_seconds=1.0,
    )

    def shut_down(signum, _frame):
        server.stop()
        sys.exit(0)

    # `docker stop` sends SIGTERM; Ctrl-C in `docker run -it` sends SIGINT.
    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    server.start()
    print(f"secantus: serving on {host}:{port}", flush=True)
    server.wait()


if __name__ == "__main__":
    main()
