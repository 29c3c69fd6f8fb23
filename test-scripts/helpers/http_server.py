"""Native HTTP/1.0 server on an AF_UNIX socket (never run under the shim).

usage: http_server.py PATH BODYFILE
GET /body  -> 200 with the bytes of BODYFILE
GET /req   -> 200 with the request line and headers as received (text)
anything else -> 404
"""
import http.server
import os
import signal
import socketserver
import sys

path, bodyfile = sys.argv[1], sys.argv[2]
with open(bodyfile, "rb") as f:
    BODY = f.read()


class Handler(http.server.BaseHTTPRequestHandler):
    def address_string(self):
        return "unix"

    def log_message(self, fmt, *args):
        sys.stderr.write("%s\n" % (fmt % args))

    def do_GET(self):
        if self.path == "/body":
            data, ctype = BODY, "application/octet-stream"
        elif self.path == "/req":
            data = (self.requestline + "\n" + str(self.headers)).encode()
            ctype = "text/plain"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


srv = Server(path, Handler)
signal.signal(signal.SIGTERM, lambda *a: (os.unlink(path), os._exit(0)))
srv.serve_forever()
