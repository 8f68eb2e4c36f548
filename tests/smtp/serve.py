"""A real SMTP server for the alerting tests (aiosmtpd): serve.py PORT DIRECTORY.

Accepts every message on 127.0.0.1:PORT and writes each to DIRECTORY as NNNN.eml, its
recipients in NNNN.rcpt (each file written whole, then renamed). Prints "ready" once it
listens, and stops when standard input closes.
"""

import itertools
import os
import pathlib
import sys

from aiosmtpd.controller import Controller


class Save:
    def __init__(self, directory):
        self.directory = pathlib.Path(directory)
        self.numbers = itertools.count()

    def write(self, name, data):
        temporary = self.directory / (name + ".tmp")
        temporary.write_bytes(data)
        os.replace(temporary, self.directory / name)

    async def handle_DATA(self, server, session, envelope):
        number = next(self.numbers)
        self.write(f"{number:04}.rcpt", "\n".join(envelope.rcpt_tos).encode())
        self.write(f"{number:04}.eml", envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


port, directory = int(sys.argv[1]), sys.argv[2]
controller = Controller(Save(directory), hostname="127.0.0.1", port=port)
controller.start()
print("ready", flush=True)
try:
    sys.stdin.read()
finally:
    controller.stop()
