#!/usr/bin/env python3
"""End to end: kube-proxy --kubeconfig against fake_apiserver.py, both in a fresh network
namespace; the Service's rules must appear in iptables-save, a pass-through ELB address must get
no rule, a change must be followed across a token rotation, and the rules go when the Service is
deleted. Exits 77 (skipped) until the daemon binary exists and accepts --kubeconfig,
or when not root / no `ip netns`."""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

SKIP = 77


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
    helptext = subprocess.run([args.binary, '--help'], capture_output=True, text=True)
    if '--kubeconfig' not in helptext.stdout + helptext.stderr:
        print('SKIP: %s does not accept --kubeconfig yet' % args.binary)
        return SKIP
    if os.geteuid() != 0 or shutil.which('ip') is None or shutil.which('iptables-save') is None:
        print('SKIP: needs root, ip and iptables-save')
        return SKIP

    ns = 'kpt-%d-api' % os.getpid()
    tmp = tempfile.mkdtemp(prefix='kproxy-e2e-')
    procs = []
    try:
        sh('ip', 'netns', 'add', ns)
        sh('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up')
        fake = subprocess.Popen(['ip', 'netns', 'exec', ns, sys.executable, args.fake, '--tls-dir', tmp,
                                 '--token', 'e2e-token', '--bookmark-interval', '1'],
                                stdout=subprocess.PIPE, text=True)
        procs.append(fake)
        line = fake.stdout.readline()
        if not line.startswith('PORT '):
            print('FAIL: fake apiserver did not start: %r' % line)
            return 1
        port = int(line.split()[1])
        url = 'https://127.0.0.1:%d' % port

        def control(path, body):
            r = sh('ip', 'netns', 'exec', ns, 'curl', '-sf', '--cacert', os.path.join(tmp, 'ca.crt'),
                   '-X', 'POST', '-d', json.dumps(body), url + path)
            return r.stdout

        def service(port_number):
            return {'kind': 'Service', 'apiVersion': 'v1',
                    'metadata': {'namespace': 'default', 'name': 'web'},
                    'spec': {'type': 'ClusterIP', 'clusterIP': '10.96.0.10', 'clusterIPs': ['10.96.0.10'],
                             'ports': [{'name': 'http', 'port': port_number, 'protocol': 'TCP', 'targetPort': 8080}]}}

        control('/_control/apply', service(80))
        control('/_control/apply', {
            'kind': 'EndpointSlice', 'apiVersion': 'discovery.k8s.io/v1',
            'metadata': {'namespace': 'default', 'name': 'web-1', 'labels': {'kubernetes.io/service-name': 'web'}},
            'addressType': 'IPv4',
            'endpoints': [{'addresses': ['10.0.0.5'], 'conditions': {'ready': True}, 'nodeName': 'node-a'}],
            'ports': [{'name': 'http', 'port': 8080, 'protocol': 'TCP'}]})
        control('/_control/apply', {'kind': 'Node', 'apiVersion': 'v1', 'metadata': {'name': 'node-a'},
                                    'status': {'addresses': [{'type': 'InternalIP', 'address': '192.0.2.1'}]}})
        token_file = os.path.join(tmp, 'token')
        with open(token_file, 'w') as f:
            f.write('e2e-token\n')
        kubeconfig = os.path.join(tmp, 'kubeconfig')
        with open(kubeconfig, 'w') as f:
            f.write('apiVersion: v1\nkind: Config\ncurrent-context: c\n'
                    'clusters:\n- name: k\n  cluster:\n    server: %s\n    certificate-authority: %s\n'
                    'contexts:\n- name: c\n  context: {cluster: k, user: u}\n'
                    'users:\n- name: u\n  user:\n    tokenFile: %s\n' % (url, os.path.join(tmp, 'ca.crt'), token_file))
        log = open(os.path.join(tmp, 'kube-proxy.log'), 'w')
        kp = subprocess.Popen(['ip', 'netns', 'exec', ns, args.binary, '--kubeconfig', kubeconfig,
                               '--hostname-override', 'node-a', '--proxy-mode', 'iptables', '-v', '2'],
                              stdout=log, stderr=subprocess.STDOUT)
        procs.append(kp)

        class NotBuilt(Exception):
            pass

        def wait_rules(pred, what, timeout=30):
            deadline = time.time() + timeout
            out = ''
            while time.time() < deadline:
                out = sh('ip', 'netns', 'exec', ns, 'iptables-save', '-t', 'nat', check=False).stdout
                if pred(out):
                    return True
                if kp.poll() is not None:
                    with open(os.path.join(tmp, 'kube-proxy.log')) as f:
                        if 'not built' in f.read():
                            raise NotBuilt()
                    break
                time.sleep(0.3)
            print('FAIL: %s; iptables-save:\n%s' % (what, out))
            with open(os.path.join(tmp, 'kube-proxy.log')) as f:
                print('kube-proxy log:\n' + f.read()[-4000:])
            return False

        try:
            if not wait_rules(lambda o: '-d 10.96.0.10/32' in o and '--dport 80 ' in o and 'KUBE-SVC-' in o,
                              'ClusterIP rule for 10.96.0.10:80 did not appear'):
                return 1
        except NotBuilt:
            print('SKIP: %s was built without the API client' % args.binary)
            return SKIP
        # Through the API too: a pass-through ELB address gets no local rule, a plain one does.
        for name, ip, node_port, annotations in (('elb-pt', '203.0.113.10', 30080, {'kubernetes.io/elb.pass-through': 'true'}),
                                                 ('elb-plain', '203.0.113.11', 30081, {})):
            control('/_control/apply', {
                'kind': 'Service', 'apiVersion': 'v1',
                'metadata': {'namespace': 'default', 'name': name, 'annotations': annotations},
                'spec': {'type': 'LoadBalancer', 'clusterIP': '10.96.0.%d' % (node_port - 30000),
                         'ports': [{'name': 'http', 'port': 80, 'protocol': 'TCP', 'targetPort': 8080, 'nodePort': node_port}]},
                'status': {'loadBalancer': {'ingress': [{'ip': ip}]}}})
            control('/_control/apply', {
                'kind': 'EndpointSlice', 'apiVersion': 'discovery.k8s.io/v1',
                'metadata': {'namespace': 'default', 'name': name + '-1', 'labels': {'kubernetes.io/service-name': name}},
                'addressType': 'IPv4',
                'endpoints': [{'addresses': ['10.0.0.6'], 'conditions': {'ready': True}, 'nodeName': 'node-a'}],
                'ports': [{'name': 'http', 'port': 8080, 'protocol': 'TCP'}]})
        if not wait_rules(lambda o: '203.0.113.11/32' in o and '--dport 30080' in o and '203.0.113.10/32' not in o,
                          'pass-through LB 203.0.113.10 must have no rule while 203.0.113.11 has one'):
            return 1
        # Token rotation: the file gets a new token, the server refuses the old one, and every
        # watch is cut; the daemon must come back with the new token without a restart.
        with open(token_file + '.new', 'w') as f:
            f.write('e2e-token-2\n')
        os.rename(token_file + '.new', token_file)
        control('/_control/tokens', {'tokens': ['e2e-token-2']})
        for resource in ('Service', 'EndpointSlice', 'Node'):
            control('/_control/fault', {'type': 'close_midstream', 'resource': resource})
        control('/_control/apply', service(81))
        def web_ports(o):
            return {l.split('--dport ')[1].split()[0] for l in o.splitlines() if '-d 10.96.0.10/32' in l and '--dport ' in l}

        if not wait_rules(lambda o: web_ports(o) == {'81'}, 'port change 80->81 not applied'):
            return 1
        requests = json.loads(sh('ip', 'netns', 'exec', ns, 'curl', '-sf', '--cacert', os.path.join(tmp, 'ca.crt'),
                                 url + '/_control/requests').stdout)
        refused = [i for i, r in enumerate(requests) if r['status'] == 401]
        if not refused or not any(r['status'] == 200 for r in requests[refused[0]:]):
            print('FAIL: the rotation was not exercised (no 401 followed by a success): %s' % requests[-10:])
            return 1
        control('/_control/delete', {'kind': 'Service', 'namespace': 'default', 'name': 'web'})
        if not wait_rules(lambda o: '10.96.0.10/32' not in o, 'rules of the deleted Service remain'):
            return 1
        print('PASS')
        return 0
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        subprocess.run(['ip', 'netns', 'del', ns], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
