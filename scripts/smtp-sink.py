#!/usr/bin/env python3
"""A loopback SMTP server that keeps every message as files, for the portal's browser tests and
the demo (scripts/run-server.sh): DIR/NNNN.eml (as received) and DIR/NNNN.json ({"to", "subject",
"body"} with the body decoded). Each file appears whole (written aside, then renamed).

    smtp-sink.py --port 2525 --dir mail/      # until killed; prints "listening on 127.0.0.1:PORT"
"""
import argparse
import asyncio
import email
import email.policy
import itertools
import json
import os
import signal

from aiosmtpd.controller import Controller


class Keep:
    def __init__(self, directory):
        self.directory = directory
        self.count = itertools.count(1)

    def _write(self, name, data):
        path = os.path.join(self.directory, name)
        with open(path + ".part", "wb") as f:
            f.write(data)
        os.replace(path + ".part", path)

    async def handle_DATA(self, server, session, envelope):
        n = next(self.count)
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        part = message.get_body(preferencelist=("plain",))
        body = part.get_content() if part is not None else ""
        record = {"to": envelope.rcpt_tos, "subject": str(message.get("Subject", "")), "body": body}
        self._write(f"{n:04d}.eml", raw)
        self._write(f"{n:04d}.json", json.dumps(record, ensure_ascii=False).encode())
        return "250 Message accepted"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    controller = Controller(Keep(args.dir), hostname="127.0.0.1", port=args.port)
    controller.start()
    print(f"listening on 127.0.0.1:{args.port}, messages in {args.dir}", flush=True)
    loop = asyncio.new_event_loop()
    stop = loop.create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    loop.run_until_complete(stop)
    controller.stop()


if __name__ == "__main__":
    main()
