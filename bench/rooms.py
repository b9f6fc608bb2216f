"""Bench: server CPU per forwarded stream, passthrough vs aiortc's MediaRelay, on loopback.

    .venv/bin/python bench/rooms.py --publishers 2 --seconds 10

The server side runs in a subprocess (``--serve``) so that only its CPU time is counted (read from
/proc/self/stat); the publishing and subscribing clients, with their encoders and decoders, run
here. Every client publishes audio and video and receives every other client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import aiohttp
from aiohttp import web
from aiortc.mediastreams import AudioStreamTrack

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from signaling import (
    Admission,
    ForwardingMode,
    MediaConfig,
    ParticipantIdentity,
    Role,
    RoomRegistry,
    Sfu,
    WsTimeouts,
    make_room_ws_handler,
)
from signaling import protocol as p
from signaling.client import RoomClient
from signaling.protocol import ByeReason
from tests.signaling.media_sources import EncodedVideo, SmallVideo

ROOM = "bench"


# --- server side (subprocess) --------------------------------------------------------------------


class OpenDoor:
    async def authenticate(self, token: str) -> ParticipantIdentity | None:
        return ParticipantIdentity(token, token)

    async def admission(self, room_id: str, identity: ParticipantIdentity) -> Admission | None:
        return Admission(
            role=Role.HOST if identity.user_id == "p0" else Role.MEMBER, ice_servers=()
        )


class Quiet:
    async def room_started(self, room_id: str) -> None: ...
    async def participant_joined(self, room_id: str, i: ParticipantIdentity, r: Role) -> None: ...
    async def participant_left(
        self, room_id: str, i: ParticipantIdentity, r: ByeReason
    ) -> None: ...
    async def room_ended(self, room_id: str, reason: str) -> None: ...
    async def recording_finished(self, room_id: str, path: Path) -> None: ...


def cpu_seconds() -> float:
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def serve(mode: str, slots: int) -> None:
    config = MediaConfig(mode=ForwardingMode(mode), max_slots=slots)
    registry = RoomRegistry(
        observer=Quiet(), media_factory=lambda rid: Sfu(rid, config), max_participants=slots + 1
    )
    door = OpenDoor()
    handler = make_room_ws_handler(
        authenticator=door, access=door, registry=registry, timeouts=WsTimeouts(), slots=slots
    )

    async def stats(request: web.Request) -> web.Response:
        room = registry.get(ROOM)
        counts = room.media.stats() if room and isinstance(room.media, Sfu) else {}
        return web.json_response({"cpu": cpu_seconds(), **counts})

    app = web.Application()
    app.router.add_get("/api/v1/rooms/{id}/ws", handler)
    app.router.add_get("/stats", stats)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(port, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until closed
    await registry.close()
    await runner.cleanup()


# --- client side ---------------------------------------------------------------------------------


async def run_mode(
    mode: str, publishers: int, seconds: float, size: tuple[int, int], live: bool
) -> dict:
    slots = max(publishers - 1, 1)
    server = subprocess.Popen(  # noqa: ASYNC220 (started once, before any media)
        [sys.executable, __file__, "--serve", mode, "--slots", str(slots)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    assert server.stdin is not None
    port = int(server.stdout.readline())
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        clients = [
            RoomClient(http, f"{base}/api/v1/rooms/{ROOM}/ws", f"p{i}") for i in range(publishers)
        ]
        setup = []
        for client in clients:
            await client.open()
            await client.join()
            video = SmallVideo(*size) if live else EncodedVideo(*size)
            await client.start_media(slots, [AudioStreamTrack(), video], decode=False)
            await client.expect(p.Connected)
            setup.append(client.connected_after or 0.0)
        await asyncio.sleep(2.0)  # warm up: keyframes, jitter buffers
        before = await (await http.get(f"{base}/stats")).json()
        client_cpu0 = cpu_seconds()
        video0 = [_video(c) for c in clients]
        await asyncio.sleep(seconds)
        after = await (await http.get(f"{base}/stats")).json()
        client_cpu = (cpu_seconds() - client_cpu0) / seconds
        video1 = [_video(c) for c in clients]
        for client in clients:
            await client.close()
    server.stdin.close()
    server.wait(timeout=30)
    streams = publishers * (publishers - 1)  # video streams forwarded (plus as many audio)
    cpu = (after["cpu"] - before["cpu"]) / seconds
    fps = [
        (v1 - v0) / seconds / max(publishers - 1, 1) for v0, v1 in zip(video0, video1, strict=True)
    ]
    return {
        "mode": mode,
        "server_cpu_pct": 100 * cpu,
        "cpu_pct_per_video_stream": 100 * cpu / max(streams, 1),
        "received_video_fps": statistics.mean(fps),
        # a mode that cannot keep up spends less CPU per stream: compare per 30 frames a second
        "cpu_pct_per_video_stream_at_30fps": 100
        * cpu
        / max(streams, 1)
        * 30
        / max(statistics.mean(fps), 0.1),
        "min_video_fps": min(fps),
        "offer_to_connected_ms": [round(1000 * s) for s in setup],
        "client_process_cpu_pct": 100 * client_cpu,
        "server_dropped_frames": after.get("dropped", 0) - before.get("dropped", 0),
    }


def _video(client: RoomClient) -> int:
    return sum(client.frames[m] for m, s in client.media_map.items() if s.kind == "video")


async def bench(publishers: int, seconds: float, size: tuple[int, int], live: bool) -> None:
    modes = ("passthrough", "relay")
    results = [await run_mode(m, publishers, seconds, size, live) for m in modes]
    print(
        f"{publishers} publishers x {publishers - 1} subscriptions each, "
        f"{size[0]}x{size[1]} VP8 ({'encoded live' if live else 'pre-encoded'}) + Opus, "
        f"{seconds:g} s, {os.cpu_count()} CPUs"
    )
    print(
        f"{'mode':<12}{'server CPU':>11}{'CPU/stream':>11}{'@30fps':>8}"
        f"{'fps mean':>9}{'fps min':>8}{'clients':>9}  offer->connected ms"
    )
    for r in results:
        print(
            f"{r['mode']:<12}{r['server_cpu_pct']:>10.1f}%{r['cpu_pct_per_video_stream']:>10.1f}%"
            f"{r['cpu_pct_per_video_stream_at_30fps']:>7.1f}%{r['received_video_fps']:>9.1f}"
            f"{r['min_video_fps']:>8.1f}{r['client_process_cpu_pct']:>8.0f}%"
            f"  {r['offer_to_connected_ms']}"
        )
    passthrough, relay = results
    key = "cpu_pct_per_video_stream_at_30fps"
    ratio = relay[key] / max(passthrough[key], 1e-9)
    print(f"MediaRelay / passthrough server CPU per stream at 30 fps: {ratio:.1f}x")
    print(json.dumps(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--publishers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument(
        "--live-encode",
        action="store_true",
        help="publishers encode live (costs this process CPU) instead of replaying VP8",
    )
    parser.add_argument("--serve", choices=[m.value for m in ForwardingMode])
    parser.add_argument("--slots", type=int, default=1)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve, args.slots))
    else:
        asyncio.run(
            bench(args.publishers, args.seconds, (args.width, args.height), args.live_encode)
        )


if __name__ == "__main__":
    main()
