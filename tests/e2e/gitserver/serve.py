"""A git server over HTTPS for tests: `git http-backend` behind Basic authentication with
one token, TLS with the certificate in /srv/tls. Repositories live in /srv/git.
Runs with the container's python3: python3 serve.py USERNAME TOKEN"""

from __future__ import annotations

import base64
import http.server
import os
import ssl
import subprocess
import sys


class GitHandler(http.server.BaseHTTPRequestHandler):
    expected = ""

    def _handle(self) -> None:
        auth = self.headers.get("Authorization", "")
        if auth != "Basic " + self.expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {
            **os.environ,
            "GIT_PROJECT_ROOT": "/srv/git",
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(length),
            "REMOTE_USER": "git",
        }
        done = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True)
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode().split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _handle
    do_POST = _handle


def main() -> None:
    user, token = sys.argv[1], sys.argv[2]
    GitHandler.expected = base64.b64encode(f"{user}:{token}".encode()).decode()
    server = http.server.ThreadingHTTPServer(("0.0.0.0", 443), GitHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain("/srv/tls/cert.pem", "/srv/tls/key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
