"""`python -m agent.drain STATE_DIR`: send what is already spooled, then exit.

The real sender and spool without the observers: used by IT to flush a laptop's spool before
reimaging it, and by the offline benchmark and kill -9 tests (which need the exact code path of
`lantern-agent run` without a desktop)."""

import asyncio
import sys
from pathlib import Path

from agent.identity import Identity, os_user
from agent.runner import transport_for
from agent.sender import Sender, SenderConfig
from agent.spool import Spool
from lantern import __version__


async def drain(state_dir: Path, idle_exit_s: float = 2.0) -> int:
    identity = Identity.load(state_dir)
    if identity is None:
        raise SystemExit(f"not enrolled: {state_dir}")
    spool = Spool(state_dir, os_user())
    sender = Sender(
        spool,
        transport_for(state_dir, identity),
        SenderConfig(identity.device_id, identity.device_secret, __version__),
    )
    spool.on_append = sender.wake
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    empty_since: float | None = None
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(0.1)
        if spool.stats().depth == 0:
            empty_since = empty_since or loop.time()
            if loop.time() - empty_since >= idle_exit_s:
                break
        else:
            empty_since = None
    stop.set()
    await task
    acked = sender.state.events_acked
    spool.close()
    return acked


def main() -> None:
    print(asyncio.run(drain(Path(sys.argv[1]))))


if __name__ == "__main__":
    main()
