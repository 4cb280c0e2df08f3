#!/usr/bin/env python3
"""Startup as upstream: kube-proxy serves /livez, /healthz and /metrics while the API server
(fake_apiserver.py, both in a fresh network namespace) still holds back its first List of
Services, so a slow API server does not get the Pod killed by its liveness probe; once the List
is answered the rules follow. Exits 77 (skipped) when not root / no `ip netns` / no binary."""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import json

SKIP = 77
HOLD_SECONDS = 25     # how long the fake server holds the Service List back
PROBE_DEADLINE = 10   # the liveness probe must answer well within that


def sh(*args, check=True, **kw):
    return subprocess.run(list(args), check=check, capture_output=True, text=True, **kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--binary', required=True)
    ap.add_argument('--fake', required=True)
    args = ap.parse_args()
    if not os.access(args.binary, os.X_OK):
        print('SKIP: %s not built yet' % args.binary)
        return SKIP
    if os.geteuid() != 0 or shutil.which('ip') is None or shutil.which('iptables-save') is None:
        print('SKIP: needs root, ip and iptables-save')
        return SKIP

    ns = 'kpt-%d-start' % os.getpid()
    tmp = tempfile.mkdtemp(prefix='kproxy-start-')
    procs = []
    log_path = os.path.join(tmp, 'kube-proxy.log')

    def log_tail(n=4000):
        try:
            with open(log_path) as f:
                return f.read()[-n:]
        except OSError:
            return ''

    try:
        sh('ip', 'netns', 'add', ns)
        sh('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up')
        fake = subprocess.Popen(['ip', 'netns', 'exec', ns, sys.executable, args.fake, '--tls-dir', tmp,
                                 '--token', 'e2e-token'], stdout=subprocess.PIPE, text=True)
        procs.append(fake)
        line = fake.stdout.readline()
        if not line.startswith('PORT '):
            print('FAIL: fake apiserver did not start: %r' % line)
            return 1
        url = 'https://127.0.0.1:%d' % int(line.split()[1])

        def control(path, body):
            return sh('ip', 'netns', 'exec', ns, 'curl', '-sf', '--cacert', os.path.join(tmp, 'ca.crt'),
                      '-X', 'POST', '-d', json.dumps(body), url + path).stdout

        control('/_control/apply', {
            'kind': 'Service', 'apiVersion': 'v1', 'metadata': {'namespace': 'default', 'name': 'web'},
            'spec': {'type': 'ClusterIP', 'clusterIP': '10.96.0.10', 'clusterIPs': ['10.96.0.10'],
                     'ports': [{'name': 'http', 'port': 80, 'protocol': 'TCP', 'targetPort': 8080}]}})
        control('/_control/apply', {
            'kind': 'EndpointSlice', 'apiVersion': 'discovery.k8s.io/v1',
            'metadata': {'namespace': 'default', 'name': 'web-1', 'labels': {'kubernetes.io/service-name': 'web'}},
            'addressType': 'IPv4',
            'endpoints': [{'addresses': ['10.0.0.5'], 'conditions': {'ready': True}, 'nodeName': 'node-a'}],
            'ports': [{'name': 'http', 'port': 8080, 'protocol': 'TCP'}]})
        control('/_control/apply', {
            'kind': 'Node', 'apiVersion': 'v1', 'metadata': {'name': 'node-a'},
            'status': {'addresses': [{'type': 'InternalIP', 'address': '192.0.2.1'}]}})
        control('/_control/fault', {'type': 'stall_list', 'resource': 'Service', 'seconds': HOLD_SECONDS})

        kubeconfig = os.path.join(tmp, 'kubeconfig')
        with open(kubeconfig, 'w') as f:
            f.write('apiVersion: v1\nkind: Config\ncurrent-context: c\n'
                    'clusters:\n- name: k\n  cluster:\n    server: %s\n    certificate-authority: %s\n'
                    'contexts:\n- name: c\n  context: {cluster: k, user: u}\n'
                    'users:\n- name: u\n  user:\n    token: e2e-token\n' % (url, os.path.join(tmp, 'ca.crt')))
        started = time.time()
        with open(log_path, 'w') as log:
            kp = subprocess.Popen(['ip', 'netns', 'exec', ns, args.binary, '--kubeconfig', kubeconfig,
                                   '--hostname-override', 'node-a', '--proxy-mode', 'iptables', '-v', '2'],
                                  stdout=log, stderr=subprocess.STDOUT)
        procs.append(kp)

        def get(port, path):
            r = sh('ip', 'netns', 'exec', ns, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}',
                   '--max-time', '2', 'http://127.0.0.1:%d%s' % (port, path), check=False)
            return r.stdout.strip()

        codes = {}
        while time.time() - started < PROBE_DEADLINE:
            codes = {p: get(port, p) for port, p in ((10256, '/livez'), (10256, '/healthz'), (10249, '/metrics'))}
            if all(c == '200' for c in codes.values()):
                break
            if kp.poll() is not None:
                break
            time.sleep(0.2)
        answered_after = time.time() - started
        if not all(c == '200' for c in codes.values()):
            print('FAIL: while the List is held back, /livez /healthz /metrics answered %s within %ds' %
                  (codes, PROBE_DEADLINE))
            print('kube-proxy log:\n' + log_tail())
            return 1
        rules = sh('ip', 'netns', 'exec', ns, 'iptables-save', '-t', 'nat', check=False).stdout
        if '10.96.0.10/32' in rules:
            print('FAIL: the rules were already written, so the List was not held back (test is void)')
            return 1
        print('ok: /livez, /healthz and /metrics answered 200 after %.1fs with the Service List still held' %
              answered_after)

        deadline = time.time() + HOLD_SECONDS + 30
        while time.time() < deadline:
            rules = sh('ip', 'netns', 'exec', ns, 'iptables-save', '-t', 'nat', check=False).stdout
            if '-d 10.96.0.10/32' in rules and 'KUBE-SVC-' in rules:
                print('ok: the rules followed once the List was answered')
                return 0
            if kp.poll() is not None:
                break
            time.sleep(0.5)
        print('FAIL: no rule for 10.96.0.10 after the List was released')
        print('kube-proxy log:\n' + log_tail())
        return 1
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        sh('ip', 'netns', 'del', ns, check=False)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
