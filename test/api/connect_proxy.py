#!/usr/bin/env python3
"""A minimal HTTP CONNECT proxy on 127.0.0.1 for the API client's proxy-url test: prints
"PORT <n>", then tunnels each CONNECT host:port and appends "CONNECT host:port" to --log."""
import argparse
import select
import socket
import threading


def pipe(a, b):
    try:
        while True:
            ready, _, _ = select.select([a, b], [], [], 30)
            if not ready:
                return
            for s in ready:
                data = s.recv(65536)
                if not data:
                    return
                (b if s is a else a).sendall(data)
    except OSError:
        pass
    finally:
        a.close()
        b.close()


def handle(client, log):
    request = b''
    while b'\r\n\r\n' not in request:
        chunk = client.recv(4096)
        if not chunk:
            client.close()
            return
        request += chunk
    line = request.split(b'\r\n', 1)[0].decode()
    method, target = line.split()[:2]
    if method != 'CONNECT':
        client.sendall(b'HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n')
        client.close()
        return
    with open(log, 'a') as f:
        f.write('CONNECT %s\n' % target)
    host, port = target.rsplit(':', 1)
    upstream = socket.create_connection((host, int(port)))
    client.sendall(b'HTTP/1.1 200 Connection established\r\n\r\n')
    pipe(client, upstream)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--log', required=True)
    args = ap.parse_args()
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    server.listen(16)
    print('PORT %d' % server.getsockname()[1], flush=True)
    while True:
        client, _ = server.accept()
        threading.Thread(target=handle, args=(client, args.log), daemon=True).start()


if __name__ == '__main__':
    main()
