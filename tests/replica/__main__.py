"""``python -m tests.replica``: run the replica as a process; prints its URL, stops on SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from tests.replica.handle import build_server

EPILOG = """\
The control API lives under /_replica/ (see tests/replica/control.py): publish reports, set faults and
order switches, read the request log and the oracle. Partitions are REPORTTYPECODE:YEAR, e.g. FB030020:2025.
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.replica", description="A local replica of the CSRC EID fund XBRL site.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    parser.add_argument("--corpus", help="serve the real pages of this directory (with MANIFEST.csv)")
    parser.add_argument("--generate", type=int, default=0, metavar="N", help="add N synthetic reports")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic reports and faults")
    parser.add_argument("--partition", action="append", metavar="CODE:YEAR",
                        help="partition(s) the N synthetic reports are spread over (default FB030010:2025)")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of URLs with a transient fault")
    parser.add_argument("--order", choices=("stable", "shuffle", "drift"), default="stable",
                        help="search result order (default stable: send date descending)")
    parser.add_argument("--stall-seconds", type=float, default=5.0, help="how long a stall fault sleeps")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr)
    server = build_server(args.host, args.port, corpus=args.corpus, generate=args.generate, seed=args.seed,
                          partitions=args.partition)
    state = server.state
    state.config.update({"order": args.order, "stall_seconds": args.stall_seconds})
    state.faults.mix.rate, state.faults.mix.seed = args.fault_rate, args.seed
    done = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    thread = threading.Thread(target=server.serve_forever, name="replica", daemon=True)
    thread.start()
    print(state.base_url, flush=True)
    done.wait()
    state.stop.set()
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
