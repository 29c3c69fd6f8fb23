"""asyncio TCP echo server / client; run UNDER the shim.

usage: py_asyncio.py server HOST PORT
       py_asyncio.py client HOST PORT INFILE OUTFILE
The server prints `sockname=HOST:PORT` of its listening socket and then `ready=1`, and for each
connection `peer=HOST:PORT` (from the transport). The client prints `peername=` and `sockname=`
of its connection, sends INFILE, half-closes, stores the reply in OUTFILE and prints `done=1`.
"""
import asyncio
import sys


def out(k, v):
    print("%s=%s" % (k, v), flush=True)


async def handle(reader, writer):
    p = writer.get_extra_info("peername")
    out("peer", "%s:%d" % (p[0], p[1]))
    while True:
        data = await reader.read(65536)
        if not data:
            break
        writer.write(data)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def server(host, port):
    srv = await asyncio.start_server(handle, host, port)
    a = srv.sockets[0].getsockname()
    out("sockname", "%s:%d" % (a[0], a[1]))
    out("ready", 1)
    async with srv:
        await srv.serve_forever()


async def client(host, port, infile, outfile):
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 20)
    p = writer.get_extra_info("peername")
    s = writer.get_extra_info("sockname")
    out("peername", "%s:%d" % (p[0], p[1]))
    out("sockname", "%s:%d" % (s[0], s[1]))
    data = open(infile, "rb").read()

    async def send():
        writer.write(data)
        await writer.drain()
        writer.write_eof()

    sender = asyncio.ensure_future(send())
    got = bytearray()
    while True:
        chunk = await asyncio.wait_for(reader.read(65536), 20)
        if not chunk:
            break
        got += chunk
    await sender
    writer.close()
    open(outfile, "wb").write(got)
    out("done", 1)


if sys.argv[1] == "server":
    asyncio.run(server(sys.argv[2], int(sys.argv[3])))
else:
    asyncio.run(client(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]))
