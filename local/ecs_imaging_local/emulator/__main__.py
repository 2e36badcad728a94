"""Run the emulator in the foreground: ``python -m ecs_imaging_local.emulator``.

It prints one JSON line with the endpoints and the credentials (password and AK/SK
included, so a client can log in) and where SMN's signing certificate and CA are,
then serves until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import time
from collections.abc import Sequence
from types import FrameType

from .. import options
from .app import Emulator
from .listener import PortUnavailable

DEFAULT_SEED = 7
SERVICES = ("iam", "ecs", "ims", "smn")


def main(argv: Sequence[str] | None = None) -> int:
    """Start the emulator, print how to reach it, and serve until interrupted."""
    args = _parse_args(argv)
    try:
        emulator = Emulator(
            time_scale=args.time_scale,
            seed=args.seed,
            servers=[] if args.no_sample_servers else None,
            seed_file=args.seed_file,
            iam_port=args.iam_port,
            ecs_port=args.ecs_port,
            ims_port=args.ims_port,
            smn_port=args.smn_port,
        )
        emulator.start()
    except PortUnavailable as exc:
        sys.stderr.write(f"emulator: --{exc.service}-port {exc.port}: {exc.reason}\n")
        return 2
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"emulator: {exc}\n")
        return 2

    signal.signal(signal.SIGTERM, _interrupt)
    try:
        summary = {
            "endpoints": emulator.endpoints,
            "credentials": dataclasses.asdict(emulator.credentials),
            "region": emulator.region,
            "smn": {
                "topic_urn": emulator.smn.topic_urn,
                "signing_cert_url": emulator.smn.certificate_url,
                "ca_bundle": emulator.smn.ca_bundle,
            },
            "time_scale": args.time_scale,
            "seed": args.seed,
        }
        sys.stdout.write(json.dumps(summary) + "\n")
        sys.stdout.flush()
        _serve_until_interrupted()
    finally:
        emulator.stop()

    return 0


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ecs_imaging_local.emulator",
        description="Emulate the IAM, ECS and IMS APIs and SMN on 127.0.0.1.",
    )
    scale_help = (
        "real seconds per emulated second; 0.01 runs 100 times faster "
        "(default: %(default)s, real time)"
    )
    parser.add_argument("--time-scale", type=options.time_scale, default=1.0, help=scale_help)
    # A fixed default, so that two starts give the same job durations; only
    # Emulator(seed=None) from Python is random.
    seed_help = "seed of the job durations and seeded faults (default: %(default)s)"
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=seed_help)
    file_help = "JSON of servers, fleets, agencies and image_quota to add (see README)"
    parser.add_argument("--seed-file", type=options.regular_file, help=file_help)
    samples_help = "start without the six sample servers"
    parser.add_argument("--no-sample-servers", action="store_true", help=samples_help)
    for service in SERVICES:
        parser.add_argument(f"--{service}-port", type=options.port, default=0, help="0: any")

    args = parser.parse_args(argv)
    _check_ports(parser, args)

    return args


def _check_ports(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Two services cannot share a port; 0 lets each take a free one of its own."""
    taken: dict[int, str] = {}
    for service in SERVICES:
        port = getattr(args, f"{service}_port")
        if port and port in taken:
            parser.error(f"--{taken[port]}-port and --{service}-port both ask for port {port}")
        taken[port] = service


def _serve_until_interrupted() -> None:
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    raise SystemExit(main())
