"""`simplequeue status --watch` / `topics --watch`: ask again every few seconds until Ctrl-C.

A table on a terminal is redrawn in place under a line saying when it was taken; JSON is
printed as one compact line per answer, so a script can follow it line by line. While the
broker cannot be reached the error is printed and the next round tries again, as a watch
in a terminal should outlive a broker restart.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from common.client import Client
from common.errors import BrokerUnavailable
from console.cli.commands import COMMANDS
from console.cli.output import emit

CLEAR = "\x1b[H\x1b[2J"


async def watch(client: Client, args: argparse.Namespace) -> int:
    command = COMMANDS[args.cmd]
    table = args.format == "table"
    redraw = table and sys.stdout.isatty()
    while True:
        try:
            output = await command(client, args)
        except BrokerUnavailable as exc:
            print(f"simplequeue: error: {exc.message} (trying again)", file=sys.stderr, flush=True)
        else:
            if redraw:
                taken = time.strftime("%H:%M:%S")
                sys.stdout.write(f"{CLEAR}every {args.watch:g}s, at {taken} (Ctrl-C stops)\n\n")
            emit(output, args.format if table else "jsonl")
        await asyncio.sleep(args.watch)
