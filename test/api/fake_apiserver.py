#!/usr/bin/env python3
"""A fake Kubernetes API server for kproxy's API tests (Python 3 standard library only).

Serves list (paging with limit/continue, label and field selectors) and watch (chunked
streaming, resourceVersion semantics, bookmarks, 410 Gone for compacted resourceVersions) of
Services, EndpointSlices and Nodes; accepts events.k8s.io/v1 Event POSTs and records them.
Authentication: bearer tokens (changeable at runtime) or a client certificate signed by its CA.
HTTPS with a CA and server certificate made by the openssl CLI at start (--tls-dir).

Control API (no authentication), JSON bodies:
  POST /_control/apply     {object}                      create or replace; returns its rv
  POST /_control/delete    {kind, namespace, name}
  POST /_control/fault     {type, resource?, ...}        see FAULTS below
  POST /_control/tokens    {tokens: [..]}                accepted bearer tokens
  POST /_control/config    {bookmark_interval: s}
  GET  /_control/requests  every API request seen      GET /_control/events  posted Events
  GET  /_control/state     {rv, compacted_rv, watches: active watch count}
FAULTS: close_midstream, stall {seconds}, garbage_line (on the next/active watch of `resource`),
stall_list {seconds} (the next list of `resource` is answered only after that long),
status_<code> e.g. status_500, status_429 {retry_after} (next request of `resource`, optional
`on`: list|watch), expire_rv (compaction: every older resourceVersion now answers 410),
reject_token {token}.

Prints "PORT <n>" on stdout once listening on 127.0.0.1.
"""

import argparse
import base64
import copy
import http.server
import json
import os
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

RESOURCES = {
    '/api/v1/services': ('Service', 'v1', 'ServiceList'),
    '/apis/discovery.k8s.io/v1/endpointslices': ('EndpointSlice', 'discovery.k8s.io/v1', 'EndpointSliceList'),
    '/api/v1/nodes': ('Node', 'v1', 'NodeList'),
}
API_VERSION = {kind: api for _, (kind, api, _) in RESOURCES.items()}


class State:
    def __init__(self, tokens, bookmark_interval):
        self.cond = threading.Condition()
        self.rv = 1000
        self.objects = {kind: {} for kind in API_VERSION}
        self.history = []  # (rv, kind, type, old_obj, new_obj)
        self.compacted_rv = 0
        self.generation = 0  # bumped by expire_rv: open watches end with 410
        self.tokens = set(tokens)
        self.faults = []
        self.requests = []
        self.events = []
        self.snapshots = {}
        self.bookmark_interval = bookmark_interval
        self.active_watches = 0

    def bump(self):
        self.rv += 1
        return self.rv


def obj_key(obj):
    md = obj.get('metadata', {})
    return '%s/%s' % (md.get('namespace', ''), md.get('name', ''))


def parse_label_selector(text):
    terms = []
    for raw in [t.strip() for t in (text or '').split(',') if t.strip()]:
        if raw.startswith('!'):
            terms.append(('!', raw[1:], None))
        elif '!=' in raw:
            k, v = raw.split('!=', 1)
            terms.append(('!=', k, v))
        elif '==' in raw:
            k, v = raw.split('==', 1)
            terms.append(('=', k, v))
        elif '=' in raw:
            k, v = raw.split('=', 1)
            terms.append(('=', k, v))
        else:
            terms.append(('exists', raw, None))
    return terms


def parse_field_selector(text):
    terms = []
    for raw in [t.strip() for t in (text or '').split(',') if t.strip()]:
        if '!=' in raw:
            k, v = raw.split('!=', 1)
            terms.append(('!=', k, v))
        else:
            k, v = raw.replace('==', '=').split('=', 1)
            terms.append(('=', k, v))
    return terms


def field_value(obj, path):
    cur = obj
    for part in path.split('.'):
        if not isinstance(cur, dict):
            return ''
        cur = cur.get(part, '')
    return cur if isinstance(cur, str) else ''


def matches(obj, labels, fields):
    if obj is None:
        return False
    lbl = (obj.get('metadata') or {}).get('labels') or {}
    for op, k, v in labels:
        if op == '!' and k in lbl:
            return False
        if op == 'exists' and k not in lbl:
            return False
        if op == '=' and lbl.get(k) != v:
            return False
        if op == '!=' and lbl.get(k) == v:
            return False
    for op, k, v in fields:
        fv = field_value(obj, k)
        if op == '=' and fv != v:
            return False
        if op == '!=' and fv == v:
            return False
    return True


def status_body(code, reason, message):
    return {'kind': 'Status', 'apiVersion': 'v1', 'metadata': {}, 'status': 'Failure',
            'message': message, 'reason': reason, 'code': code}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'fake-apiserver'

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write('fake-apiserver: ' + (fmt % args) + '\n')

    @property
    def state(self):
        return self.server.state

    # ---- helpers ----
    def send_json(self, code, body, extra_headers=None):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        for k, v in (extra_headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        n = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(n) if n else b''

    def record(self, kind, verb, status):
        with self.state.cond:
            self.state.requests.append({'method': self.command, 'path': self.path, 'kind': kind,
                                        'verb': verb, 'status': status, 'time': time.time(),
                                        'client_port': self.client_address[1]})

    def authorized(self):
        cert = None
        try:
            cert = self.connection.getpeercert()
        except (AttributeError, ValueError):
            pass
        if cert:
            return True
        auth = self.headers.get('Authorization') or ''
        with self.state.cond:
            if not self.state.tokens:
                return True
            return auth.startswith('Bearer ') and auth[7:] in self.state.tokens

    def take_fault(self, kind, verb, types):
        with self.state.cond:
            for f in self.state.faults:
                if f['type'] not in types and not (f['type'].startswith('status_') and 'status' in types):
                    continue
                if f.get('resource') and f['resource'] != kind:
                    continue
                if f.get('on') and f['on'] != verb:
                    continue
                self.state.faults.remove(f)
                return f
        return None

    # ---- control API ----
    def control(self):
        path = urllib.parse.urlparse(self.path).path
        st = self.state
        if self.command == 'GET':
            with st.cond:
                if path == '/_control/requests':
                    return self.send_json(200, st.requests)
                if path == '/_control/events':
                    return self.send_json(200, st.events)
                if path == '/_control/state':
                    return self.send_json(200, {'rv': st.rv, 'compacted_rv': st.compacted_rv,
                                                'watches': st.active_watches,
                                                'faults': len(st.faults)})
            return self.send_json(404, {})
        body = json.loads(self.read_body() or b'{}')
        with st.cond:
            if path == '/_control/apply':
                objs = body['items'] if body.get('kind') == 'List' else [body]
                for obj in objs:
                    kind = obj['kind']
                    obj = copy.deepcopy(obj)
                    md = obj.setdefault('metadata', {})
                    old = st.objects[kind].get(obj_key(obj))
                    md.setdefault('uid', old['metadata']['uid'] if old else str(uuid.uuid4()))
                    md.setdefault('creationTimestamp', time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
                    md['resourceVersion'] = str(st.bump())
                    st.objects[kind][obj_key(obj)] = obj
                    st.history.append((st.rv, kind, 'MODIFIED' if old else 'ADDED', old, obj))
                st.cond.notify_all()
                return self.send_json(200, {'rv': st.rv})
            if path == '/_control/delete':
                kind = body['kind']
                key = '%s/%s' % (body.get('namespace', ''), body['name'])
                old = st.objects[kind].pop(key, None)
                if old is None:
                    return self.send_json(404, {'error': 'no such object'})
                gone = copy.deepcopy(old)
                gone['metadata']['resourceVersion'] = str(st.bump())
                st.history.append((st.rv, kind, 'DELETED', old, gone))
                st.cond.notify_all()
                return self.send_json(200, {'rv': st.rv})
            if path == '/_control/fault':
                t = body['type']
                if t == 'expire_rv':
                    st.bump()
                    st.compacted_rv = st.rv
                    st.history = []
                    st.snapshots = {}
                    st.generation += 1
                elif t == 'reject_token':
                    st.tokens.discard(body['token'])
                else:
                    st.faults.append(body)
                st.cond.notify_all()
                return self.send_json(200, {'rv': st.rv})
            if path == '/_control/tokens':
                st.tokens = set(body['tokens'])
                return self.send_json(200, {})
            if path == '/_control/config':
                if 'bookmark_interval' in body:
                    st.bookmark_interval = float(body['bookmark_interval'])
                return self.send_json(200, {})
        return self.send_json(404, {})

    # ---- API ----
    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def dispatch(self):
        try:
            if self.path.startswith('/_control/'):
                return self.control()
            url = urllib.parse.urlparse(self.path)
            q = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
            resource = RESOURCES.get(url.path)
            kind = resource[0] if resource else ''
            is_event_post = (self.command == 'POST' and url.path.startswith('/apis/events.k8s.io/v1/namespaces/')
                             and url.path.endswith('/events'))
            verb = 'watch' if q.get('watch') in ('true', '1') else ('create' if is_event_post else 'list')
            if not self.authorized():
                self.record(kind, verb, 401)
                return self.send_json(401, status_body(401, 'Unauthorized', 'Unauthorized'))
            if is_event_post:
                return self.post_event(url.path)
            if resource is None or self.command != 'GET':
                self.record(kind, verb, 404)
                return self.send_json(404, status_body(404, 'NotFound', 'the server could not find the requested resource'))
            fault = self.take_fault(kind, verb, ('status',))
            if fault:
                code = int(fault['type'].split('_', 1)[1])
                headers = {}
                if 'retry_after' in fault:
                    headers['Retry-After'] = str(fault['retry_after'])
                self.record(kind, verb, code)
                return self.send_json(code, status_body(code, 'Injected', 'injected fault %s' % fault['type']), headers)
            self.record(kind, verb, 200)
            if verb == 'watch':
                return self.watch(resource, q)
            held = self.take_fault(kind, 'list', ('stall_list',))
            if held:
                time.sleep(float(held.get('seconds', 5)))
            return self.list(resource, q)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True

    def post_event(self, path):
        ns = path.split('/')[5]
        try:
            ev = json.loads(self.read_body())
        except ValueError:
            self.record('Event', 'create', 400)
            return self.send_json(400, status_body(400, 'BadRequest', 'body is not JSON'))
        missing = [f for f in ('reportingController', 'reportingInstance', 'action', 'reason', 'eventTime', 'regarding', 'type')
                   if not ev.get(f)]
        if missing or ev.get('metadata', {}).get('namespace') != ns:
            self.record('Event', 'create', 422)
            return self.send_json(422, status_body(422, 'Invalid', 'missing %s' % missing))
        with self.state.cond:
            ev['metadata']['resourceVersion'] = str(self.state.bump())
            self.state.events.append(ev)
        self.record('Event', 'create', 201)
        return self.send_json(201, ev)

    def list(self, resource, q):
        kind, api, list_kind = resource
        st = self.state
        limit = int(q.get('limit') or 0)
        cont = q.get('continue') or ''
        with st.cond:
            if cont:
                try:
                    token = json.loads(base64.b64decode(cont))
                    snap = st.snapshots[token['id']]
                    offset = token['offset']
                except (ValueError, KeyError):
                    return self.send_json(410, status_body(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result.'))
                rv, items = snap
            else:
                labels = parse_label_selector(q.get('labelSelector'))
                fields = parse_field_selector(q.get('fieldSelector'))
                items = [copy.deepcopy(o) for _, o in sorted(st.objects[kind].items()) if matches(o, labels, fields)]
                for o in items:  # list items carry no kind/apiVersion, like the real server
                    o.pop('kind', None)
                    o.pop('apiVersion', None)
                rv = st.rv
                offset = 0
            page = items[offset:offset + limit] if limit else items[offset:]
            md = {'resourceVersion': str(rv)}
            if limit and offset + limit < len(items):
                sid = str(uuid.uuid4())
                st.snapshots[sid] = (rv, items)
                md['continue'] = base64.b64encode(json.dumps({'id': sid, 'offset': offset + limit}).encode()).decode()
        return self.send_json(200, {'kind': list_kind, 'apiVersion': api, 'metadata': md, 'items': page})

    def write_chunk(self, data):
        self.wfile.write(b'%x\r\n%s\r\n' % (len(data), data))
        self.wfile.flush()

    def write_event(self, etype, obj):
        self.write_chunk(json.dumps({'type': etype, 'object': obj}).encode() + b'\n')

    def watch(self, resource, q):
        kind, api, _ = resource
        st = self.state
        labels = parse_label_selector(q.get('labelSelector'))
        fields = parse_field_selector(q.get('fieldSelector'))
        bookmarks = q.get('allowWatchBookmarks') in ('true', '1')
        timeout = float(q.get('timeoutSeconds') or 1800)
        rv_text = q.get('resourceVersion') or ''
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Transfer-Encoding', 'chunked')
        self.end_headers()
        with st.cond:
            st.active_watches += 1
            generation = st.generation
            if rv_text in ('', '0'):
                pos = st.rv
                initial = [copy.deepcopy(o) for _, o in sorted(st.objects[kind].items()) if matches(o, labels, fields)]
            else:
                pos = int(rv_text)
                initial = []
            too_old = rv_text not in ('', '0') and pos < st.compacted_rv
        try:
            if too_old:
                self.write_event('ERROR', status_body(410, 'Expired', 'too old resource version: %d (%d)' % (pos, st.compacted_rv)))
                self.write_chunk(b'')
                return
            for o in initial:
                self.write_event('ADDED', o)
            deadline = time.time() + timeout
            last_write = time.time()
            while True:
                out = []
                fault = None
                with st.cond:
                    while True:
                        now = time.time()
                        if st.generation != generation:
                            out.append(('ERROR', status_body(410, 'Expired', 'too old resource version: %d (%d)' % (pos, st.compacted_rv))))
                            break
                        fault = self.take_fault(kind, 'watch', ('close_midstream', 'garbage_line', 'stall'))
                        if fault:
                            break
                        for (erv, ekind, etype, old, new) in st.history:
                            if erv <= pos or ekind != kind:
                                continue
                            was, now_matches = matches(old, labels, fields), matches(new, labels, fields)
                            if etype == 'DELETED':
                                if was:
                                    out.append(('DELETED', new))
                            elif now_matches and not was:
                                out.append(('ADDED', new))
                            elif now_matches and was:
                                out.append((etype, new))
                            elif was and not now_matches:
                                gone = copy.deepcopy(new)
                                out.append(('DELETED', gone))
                            pos = erv
                        if out or now >= deadline:
                            break
                        if bookmarks and now - last_write >= st.bookmark_interval:
                            out.append(('BOOKMARK', {'kind': kind, 'apiVersion': api,
                                                     'metadata': {'resourceVersion': str(st.rv)}}))
                            pos = max(pos, st.rv)
                            break
                        st.cond.wait(0.1)
                if fault is not None:
                    if fault['type'] == 'close_midstream':
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    if fault['type'] == 'garbage_line':
                        self.write_chunk(b'{"type": "MODIFIED", "object": {this is not json\n')
                        last_write = time.time()
                        continue
                    if fault['type'] == 'stall':
                        end = time.time() + float(fault.get('seconds', 5))
                        while time.time() < end:
                            time.sleep(0.05)
                        continue
                for etype, obj in out:
                    self.write_event(etype, obj)
                    last_write = time.time()
                    if etype == 'ERROR':
                        self.write_chunk(b'')
                        return
                if time.time() >= deadline and not out:
                    self.write_chunk(b'')
                    return
        finally:
            with st.cond:
                st.active_watches -= 1


def make_certs(d):
    os.makedirs(d, exist_ok=True)
    def run(*args):
        subprocess.run(['openssl'] + list(args), check=True, cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
    run('req', '-x509', *ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=fake-apiserver-ca')
    with open(os.path.join(d, 'server.ext'), 'w') as f:
        f.write('subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n')
    run('req', *ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=kube-apiserver')
    run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
        '-out', 'server.crt', '-days', '2', '-extfile', 'server.ext')
    with open(os.path.join(d, 'client.ext'), 'w') as f:
        f.write('extendedKeyUsage=clientAuth\n')
    run('req', *ec, '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=system:kube-proxy')
    run('x509', '-req', '-in', 'client.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
        '-out', 'client.crt', '-days', '2', '-extfile', 'client.ext')


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--tls-dir', help='make (if absent) and use a CA + server certificate here; plain HTTP when not given')
    ap.add_argument('--token', action='append', default=[], help='accepted bearer token (repeatable)')
    ap.add_argument('--bookmark-interval', type=float, default=60.0)
    ap.add_argument('--port', type=int, default=0)
    ap.add_argument('-v', '--verbose', action='store_true')
    args = ap.parse_args()
    server = Server(('127.0.0.1', args.port), Handler)
    server.state = State(args.token, args.bookmark_interval)
    server.verbose = args.verbose
    if args.tls_dir:
        if not os.path.exists(os.path.join(args.tls_dir, 'server.crt')):
            make_certs(args.tls_dir)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(args.tls_dir, 'server.crt'), os.path.join(args.tls_dir, 'server.key'))
        ctx.load_verify_locations(os.path.join(args.tls_dir, 'ca.crt'))
        ctx.verify_mode = ssl.CERT_OPTIONAL
        server.socket = ctx.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    print('PORT %d' % server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == '__main__':
    main()
