#!/usr/bin/env python3
"""End to end: kube-proxy --kubeconfig against fake_apiserver.py, both in a fresh network
namespace; the Service's rules must appear in iptables-save, a pass-through ELB address must get
no rule, a change must be followed across a token rotation, an EndpointSlice change and delete
must be followed (KUBE-SEP DNAT target; the no-endpoints REJECT), every fault the fake server can
inject must be survived with the rules converging to the server's state while the rules of the
unaffected Services are never missing from any sample, and the rules go when the Service is
deleted. Exits 1 when the binary is missing or lacks --kubeconfig or the API client; exits 77
(skipped) when not root or without `ip`/`iptables-save`, except under CI=true, where that is a
failure too."""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

SKIP = 77
CONVERGE_TIMEOUT = 45  # seconds, per fault
SAMPLE_INTERVAL = 0.2
STALL_SECONDS = 3      # shorter than any backoff cap; the stream resumes by itself
RETRY_AFTER = 2        # the 429's Retry-After, which the client must honour


def sh(*args, check=True, **kw):
    return subprocess.run(list(args), check=check, capture_output=True, text=True, **kw)


class Fail(Exception):
    pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--binary', required=True)
    ap.add_argument('--fake', required=True)
    args = ap.parse_args()
    if not os.access(args.binary, os.X_OK):
        print('FAIL: %s is not an executable' % args.binary)
        return 1
    if os.geteuid() != 0 or shutil.which('ip') is None or shutil.which('iptables-save') is None:
        if os.environ.get('CI', '').lower() in ('true', '1', 'yes'):
            print('FAIL: CI=true but this test cannot run: needs root, ip and iptables-save')
            return 1
        print('SKIP: needs root, ip and iptables-save')
        return SKIP

    ns = 'kpt-%d-api' % os.getpid()
    tmp = tempfile.mkdtemp(prefix='kproxy-e2e-')
    procs = []
    started = time.time()
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

        def curl(*extra):
            return sh('ip', 'netns', 'exec', ns, 'curl', '-sf', '--cacert', os.path.join(tmp, 'ca.crt'), *extra).stdout

        def control(path, body):
            return curl('-X', 'POST', '-d', json.dumps(body), url + path)

        def server_state():
            return json.loads(curl(url + '/_control/state'))

        def requests_seen():
            return json.loads(curl(url + '/_control/requests'))

        def service(port_number):
            return {'kind': 'Service', 'apiVersion': 'v1',
                    'metadata': {'namespace': 'default', 'name': 'web'},
                    'spec': {'type': 'ClusterIP', 'clusterIP': '10.96.0.10', 'clusterIPs': ['10.96.0.10'],
                             'ports': [{'name': 'http', 'port': port_number, 'protocol': 'TCP', 'targetPort': 8080}]}}

        def web_slice(address):
            return {'kind': 'EndpointSlice', 'apiVersion': 'discovery.k8s.io/v1',
                    'metadata': {'namespace': 'default', 'name': 'web-1', 'labels': {'kubernetes.io/service-name': 'web'}},
                    'addressType': 'IPv4',
                    'endpoints': [{'addresses': [address], 'conditions': {'ready': True}, 'nodeName': 'node-a'}],
                    'ports': [{'name': 'http', 'port': 8080, 'protocol': 'TCP'}]}

        def node(zone):
            return {'kind': 'Node', 'apiVersion': 'v1',
                    'metadata': {'name': 'node-a', 'labels': {'topology.kubernetes.io/zone': zone}},
                    'status': {'addresses': [{'type': 'InternalIP', 'address': '192.0.2.1'}]}}

        control('/_control/apply', service(80))
        control('/_control/apply', web_slice('10.0.0.5'))
        control('/_control/apply', node('zone-a'))
        token_file = os.path.join(tmp, 'token')
        with open(token_file, 'w') as f:
            f.write('e2e-token\n')
        kubeconfig = os.path.join(tmp, 'kubeconfig')
        with open(kubeconfig, 'w') as f:
            f.write('apiVersion: v1\nkind: Config\ncurrent-context: c\n'
                    'clusters:\n- name: k\n  cluster:\n    server: %s\n    certificate-authority: %s\n'
                    'contexts:\n- name: c\n  context: {cluster: k, user: u}\n'
                    'users:\n- name: u\n  user:\n    tokenFile: %s\n' % (url, os.path.join(tmp, 'ca.crt'), token_file))
        log_path = os.path.join(tmp, 'kube-proxy.log')
        log = open(log_path, 'w')
        kp = subprocess.Popen(['ip', 'netns', 'exec', ns, args.binary, '--kubeconfig', kubeconfig,
                               '--hostname-override', 'node-a', '--proxy-mode', 'iptables', '-v', '2'],
                              stdout=log, stderr=subprocess.STDOUT)
        procs.append(kp)

        def save(table='nat'):
            return sh('ip', 'netns', 'exec', ns, 'iptables-save', '-t', table, check=False).stdout

        def log_tail(n=6000):
            with open(log_path) as f:
                return f.read()[-n:]

        def wait_rules(pred, what, timeout=30, table='nat'):
            deadline = time.time() + timeout
            out = ''
            while time.time() < deadline:
                out = save(table)
                if pred(out):
                    return True
                if kp.poll() is not None:
                    break
                time.sleep(0.3)
            print('FAIL: %s; iptables-save -t %s:\n%s' % (what, table, out))
            print('kube-proxy log:\n' + log_tail())
            return False

        if not wait_rules(lambda o: '-d 10.96.0.10/32' in o and '--dport 80 ' in o and 'KUBE-SVC-' in o,
                          'ClusterIP rule for 10.96.0.10:80 did not appear'):
            return 1
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
        # A Service whose endpoints carry zone hints: which one this node uses follows the
        # Node's zone label, so a change of the Node through the API shows in the rules.
        control('/_control/apply', {
            'kind': 'Service', 'apiVersion': 'v1', 'metadata': {'namespace': 'default', 'name': 'zoned'},
            'spec': {'type': 'ClusterIP', 'clusterIP': '10.96.0.40', 'clusterIPs': ['10.96.0.40'],
                     'ports': [{'name': 'http', 'port': 80, 'protocol': 'TCP', 'targetPort': 8080}]}})
        control('/_control/apply', {
            'kind': 'EndpointSlice', 'apiVersion': 'discovery.k8s.io/v1',
            'metadata': {'namespace': 'default', 'name': 'zoned-1', 'labels': {'kubernetes.io/service-name': 'zoned'}},
            'addressType': 'IPv4',
            'endpoints': [{'addresses': ['10.0.0.20'], 'conditions': {'ready': True}, 'nodeName': 'node-b',
                           'zone': 'zone-a', 'hints': {'forZones': [{'name': 'zone-a'}]}},
                          {'addresses': ['10.0.0.21'], 'conditions': {'ready': True}, 'nodeName': 'node-c',
                           'zone': 'zone-b', 'hints': {'forZones': [{'name': 'zone-b'}]}}],
            'ports': [{'name': 'http', 'port': 8080, 'protocol': 'TCP'}]})
        if not wait_rules(lambda o: '203.0.113.11/32' in o and '--dport 30080' in o and '203.0.113.10/32' not in o,
                          'pass-through LB 203.0.113.10 must have no rule while 203.0.113.11 has one'):
            return 1

        # ---- rule parsing ----
        def web_ports(o):
            return {l.split('--dport ')[1].split()[0] for l in o.splitlines() if '-d 10.96.0.10/32' in l and '--dport ' in l}

        def dnat_targets(o, svc):
            """The DNAT destinations of the KUBE-SEP chains of Service port default/<svc>:http."""
            comment = 'default/%s:http' % svc
            out = set()
            for l in o.splitlines():
                if l.startswith('-A KUBE-SEP-') and ' -j DNAT' in l and re.search(r'--comment "?%s"? ' % re.escape(comment), l):
                    out.add(l.split('--to-destination ')[1].split()[0])
            return out

        def svc_chain(o, svc):
            """The KUBE-SVC chain the cluster-IP rule of default/<svc>:http jumps to, or None."""
            for l in o.splitlines():
                if l.startswith('-A KUBE-SERVICES') and 'default/%s:http cluster IP' % svc in l:
                    m = re.search(r'-j (KUBE-SVC-\w+)', l)
                    if m:
                        return m.group(1)
            return None

        def chains(o):
            return {l.split()[0][1:] for l in o.splitlines() if l.startswith(':')}

        # ---- 1. token rotation (and the Service port change it carries) ----
        # The file gets a new token, the server refuses the old one, and every watch is cut; the
        # daemon must come back with the new token without a restart.
        with open(token_file + '.new', 'w') as f:
            f.write('e2e-token-2\n')
        os.rename(token_file + '.new', token_file)
        control('/_control/tokens', {'tokens': ['e2e-token-2']})
        for resource in ('Service', 'EndpointSlice', 'Node'):
            control('/_control/fault', {'type': 'close_midstream', 'resource': resource})
        control('/_control/apply', service(81))

        if not wait_rules(lambda o: web_ports(o) == {'81'}, 'port change 80->81 not applied'):
            return 1
        requests = requests_seen()
        refused = [i for i, r in enumerate(requests) if r['status'] == 401]
        if not refused or not any(r['status'] == 200 for r in requests[refused[0]:]):
            print('FAIL: the rotation was not exercised (no 401 followed by a success): %s' % requests[-10:])
            return 1
        # The API client's requests (here: the refused and the renewed watches), as client-go's
        # rest_client_requests_total on the daemon's /metrics.
        scraped = sh('ip', 'netns', 'exec', ns, 'curl', '-sf', 'http://127.0.0.1:10249/metrics', check=False).stdout
        host = '127.0.0.1:%d' % port
        for code in ('200', '401'):
            sample = 'rest_client_requests_total{code="%s",host="%s",method="GET"} ' % (code, host)
            if sample not in scraped:
                print('FAIL: /metrics has no %r:\n%s' % (sample, '\n'.join(
                    l for l in scraped.splitlines() if l.startswith('rest_client'))))
                return 1

        # ---- 2. EndpointSlice change and delete through the API ----
        web_svc_chain = svc_chain(save(), 'web')
        if web_svc_chain is None or dnat_targets(save(), 'web') != {'10.0.0.5:8080'}:
            print('FAIL: web has no KUBE-SVC chain / DNAT to 10.0.0.5:8080:\n%s' % save())
            return 1
        control('/_control/apply', web_slice('10.0.0.7'))
        if not wait_rules(lambda o: dnat_targets(o, 'web') == {'10.0.0.7:8080'},
                          "web's KUBE-SEP DNAT did not follow the slice to 10.0.0.7:8080"):
            return 1
        control('/_control/delete', {'kind': 'EndpointSlice', 'namespace': 'default', 'name': 'web-1'})

        # Our planner (iptables_planner.cc), as upstream: no endpoints -> the cluster IP gets a
        # REJECT rule in filter KUBE-SERVICES commented "<svc> has no endpoints", and nat keeps no
        # rule, no KUBE-SVC chain and no KUBE-SEP chain for it.
        def rejects_web(f):
            return any(l.startswith('-A KUBE-SERVICES') and '-d 10.96.0.10/32' in l and '--dport 81 ' in l
                       and 'default/web:http has no endpoints' in l and l.rstrip().split(' -j ')[1].startswith('REJECT')
                       for l in f.splitlines())
        if not wait_rules(rejects_web, 'no REJECT "default/web:http has no endpoints" in filter after the slice delete',
                          table='filter'):
            return 1
        if not wait_rules(lambda o: web_svc_chain not in chains(o) and '10.96.0.10/32' not in o and not dnat_targets(o, 'web'),
                          '%s (or a rule/SEP of web) still in nat after its slice was deleted' % web_svc_chain):
            return 1
        control('/_control/apply', web_slice('10.0.0.7'))
        if not wait_rules(lambda o: dnat_targets(o, 'web') == {'10.0.0.7:8080'} and web_ports(o) == {'81'},
                          'web did not come back when its slice was created again'):
            return 1
        if not wait_rules(lambda f: not rejects_web(f), 'the REJECT of web stayed after its slice came back', table='filter'):
            return 1
        if not wait_rules(lambda o: dnat_targets(o, 'zoned') == {'10.0.0.20:8080'},
                          'zoned (hints zone-a/zone-b) must use only 10.0.0.20 on a zone-a node'):
            return 1

        # ---- 3. every fault, one after another ----
        # The rules of the unaffected Services: every nat line of elb-plain (its KUBE-SVC, KUBE-SEP,
        # KUBE-EXT chains and rules, its NodePort rule) and of elb-pt (its NodePort rule), and
        # their chain declarations. None may be missing from any sample taken during a fault.
        baseline = save()
        guarded = set()
        guarded_chains = set()
        for l in baseline.splitlines():
            if l.startswith('-A ') and ('default/elb-plain:http' in l or 'default/elb-pt:http' in l):
                guarded.add(l)
                guarded_chains.add(l.split()[1])
                m = re.search(r'-j (KUBE-\w+-\w+)', l)
                if m and not m.group(1).startswith('KUBE-MARK'):
                    guarded_chains.add(m.group(1))
        guarded_chains -= {'KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ'}
        need = [('elb-plain KUBE-SVC chain', lambda: any(c.startswith('KUBE-SVC-') for c in guarded_chains)
                 and any('-j KUBE-SVC-' in l and 'elb-plain' in l for l in guarded)),
                ('elb-plain KUBE-SEP DNAT', lambda: any(l.startswith('-A KUBE-SEP-') and 'DNAT' in l and 'elb-plain' in l for l in guarded)),
                ('elb-plain NodePort 30081', lambda: any(l.startswith('-A KUBE-NODEPORTS') and '--dport 30081' in l for l in guarded)),
                ('elb-pt NodePort 30080', lambda: any(l.startswith('-A KUBE-NODEPORTS') and '--dport 30080' in l for l in guarded))]
        for what, ok in need:
            if not ok():
                print('FAIL: baseline lacks %s:\n%s' % (what, baseline))
                return 1
        print('guarding %d nat rules and %d chains of elb-plain and elb-pt (%s)'
              % (len(guarded), len(guarded_chains), ', '.join(sorted(guarded_chains))), flush=True)

        def missing_guarded(o):
            lines = set(o.splitlines())
            return sorted(guarded - lines) + sorted('chain ' + c for c in guarded_chains - chains(o))

        state = {'port': 81, 'addr': 7, 'zone': 'zone-a'}

        def expected(o):
            return (web_ports(o) == {str(state['port'])}
                    and dnat_targets(o, 'web') == {'10.0.0.%d:8080' % state['addr']}
                    and dnat_targets(o, 'zoned') == {'10.0.0.%d:8080' % (20 if state['zone'] == 'zone-a' else 21)})

        def change(resource):
            """One change through the API to the subject of a fault on `resource`."""
            if resource == 'Service':
                state['port'] = 82 if state['port'] == 81 else 81
                control('/_control/apply', service(state['port']))
            elif resource == 'EndpointSlice':
                state['addr'] = 8 if state['addr'] == 7 else 7
                control('/_control/apply', web_slice('10.0.0.%d' % state['addr']))
            else:
                state['zone'] = 'zone-b' if state['zone'] == 'zone-a' else 'zone-a'
                control('/_control/apply', node(state['zone']))

        touches = [0]

        def touch():
            """One event on each watch, for objects that make no rule (an ExternalName Service,
            its slice, the unchanged Node). A stream that delivered an event counts as healthy
            and resets the client's backoff at its next failure, as on a busy cluster; without
            it the backoff grows from one fault to the next (a watch that saw only bookmarks for
            less than 30 s is not healthy, and a successful relist does not reset it) and the
            later faults wait up to its 30 s cap."""
            touches[0] += 1
            control('/_control/apply', {
                'kind': 'Service', 'apiVersion': 'v1',
                'metadata': {'namespace': 'default', 'name': 'touch', 'annotations': {'touch': str(touches[0])}},
                'spec': {'type': 'ExternalName', 'externalName': 'touch.example.com'}})
            control('/_control/apply', {
                'kind': 'EndpointSlice', 'apiVersion': 'discovery.k8s.io/v1',
                'metadata': {'namespace': 'default', 'name': 'touch-1', 'labels': {'kubernetes.io/service-name': 'touch'},
                             'annotations': {'touch': str(touches[0])}},
                'addressType': 'IPv4',
                'endpoints': [{'addresses': ['10.0.0.99'], 'conditions': {'ready': True}}],
                'ports': [{'name': 'http', 'port': 8080, 'protocol': 'TCP'}]})
            control('/_control/apply', node(state['zone']))

        def wait_quiet():
            # No fault left over from the previous step, and every watch running again.
            deadline = time.time() + CONVERGE_TIMEOUT
            while time.time() < deadline:
                st = server_state()
                if st['faults'] == 0 and st['watches'] >= 3:
                    touch()
                    time.sleep(0.5)
                    return
                time.sleep(0.1)
            raise Fail('server not quiet before the next fault: %s' % server_state())

        summaries = []

        def log_count(pattern):
            with open(log_path) as f:
                return len(re.findall(pattern, f.read()))

        def logged(pattern, what):
            """After the fault, the daemon's log has one more line matching `pattern`."""
            before = log_count(pattern)

            def after(_):
                if log_count(pattern) <= before:
                    raise Fail('%s: the daemon did not log it (/%s/)' % (what, pattern))
            return after

        def run_fault(name, resource, inject, changes, during=None, after=None, min_seconds=0):
            """Samples nat every SAMPLE_INTERVAL from just before the fault until the rules show
            the server's state (and the fault was consumed); fails at once if a guarded rule is
            missing from a sample, or if the subject's rules vanish (old or new, never none)."""
            wait_quiet()
            samples = 0
            t_fault = time.time()
            inject()
            for r in changes:
                change(r)
            t_change = time.time()
            if during is not None:
                samples += during()
            deadline = t_change + CONVERGE_TIMEOUT
            while True:
                o = save()
                samples += 1
                missing = missing_guarded(o)
                if missing:
                    raise Fail('%s on %s: rules of an unaffected Service missing %.1fs after the fault: %s\n'
                               'iptables-save -t nat:\n%s' % (name, resource, time.time() - t_fault, missing, o))
                if not web_ports(o) or not dnat_targets(o, 'web') or not dnat_targets(o, 'zoned'):
                    raise Fail('%s on %s: the subject Service lost its rules (neither old nor new state) %.1fs after '
                               'the fault:\n%s' % (name, resource, time.time() - t_fault, o))
                if expected(o) and server_state()['faults'] == 0:
                    break
                if kp.poll() is not None:
                    raise Fail('%s on %s: kube-proxy exited (%s)' % (name, resource, kp.returncode))
                if time.time() > deadline:
                    raise Fail('%s on %s: no convergence within %ds (want port %d, web -> 10.0.0.%d, zone %s; '
                               'server %s)\niptables-save -t nat:\n%s' % (name, resource, CONVERGE_TIMEOUT, state['port'],
                                                                          state['addr'], state['zone'], server_state(), o))
                time.sleep(SAMPLE_INTERVAL)
            took = time.time() - t_change
            if took < min_seconds:
                raise Fail('%s on %s: converged in %.2fs, so the fault did not delay the change' % (name, resource, took))
            if after is not None:
                after(t_fault)
            summaries.append((name, resource, took, samples))
            print('fault %-22s resource %-13s converged in %5.2fs, %3d samples, guarded rules always present'
                  % (name, resource, took, samples), flush=True)

        def fault(body):
            return lambda: control('/_control/fault', body)

        def faults(*bodies):
            def inject():
                for b in bodies:
                    control('/_control/fault', b)
            return inject

        def check_request(kind, status, verb, pred, what):
            def after(t_fault):
                reqs = [r for r in requests_seen() if r['time'] >= t_fault - 0.5 and r['kind'] == kind]
                hits = [i for i, r in enumerate(reqs) if r['status'] == status and r['verb'] == verb]
                if not hits or not pred(reqs, hits[0]):
                    raise Fail('%s: %s (requests of %s since the fault: %s)'
                               % (kind, what, kind, [(r['verb'], r['status'], round(r['time'] - t_fault, 2)) for r in reqs]))
            return after

        def retry_after_honoured(reqs, i):
            later = reqs[i + 1:]
            return bool(later) and later[0]['time'] - reqs[i]['time'] >= RETRY_AFTER - 0.1

        def followed_by_success(reqs, i):
            return any(r['status'] == 200 for r in reqs[i + 1:])

        for resource in ('Service', 'EndpointSlice', 'Node'):
            run_fault('close_midstream', resource, fault({'type': 'close_midstream', 'resource': resource}), [resource],
                      after=logged(r'%s watch ended: ' % resource, 'close_midstream on ' + resource))
            # The client detects a dead stream only after watch_idle_timeout (11 min, not
            # configurable in the daemon); a stall shorter than that must just delay the change.
            run_fault('stall(%ds)' % STALL_SECONDS, resource,
                      fault({'type': 'stall', 'resource': resource, 'seconds': STALL_SECONDS}), [resource],
                      min_seconds=STALL_SECONDS - 0.5)
            run_fault('garbage_line', resource, fault({'type': 'garbage_line', 'resource': resource}), [resource],
                      after=logged(r'%s watch: event does not parse' % resource, 'garbage_line on ' + resource))
            # Status faults hit the next request of the resource: cut the running watch so that
            # its reconnect meets them.
            run_fault('status_500(watch)', resource,
                      faults({'type': 'status_500', 'resource': resource, 'on': 'watch'},
                             {'type': 'close_midstream', 'resource': resource}), [resource],
                      after=check_request(resource, 500, 'watch', followed_by_success, 'no 500 followed by a good watch'))
            run_fault('status_429(watch,ra=%d)' % RETRY_AFTER, resource,
                      faults({'type': 'status_429', 'resource': resource, 'on': 'watch', 'retry_after': RETRY_AFTER},
                             {'type': 'close_midstream', 'resource': resource}), [resource],
                      after=check_request(resource, 429, 'watch', retry_after_honoured,
                                          'the request after the 429 came before its Retry-After of %ds' % RETRY_AFTER))
            run_fault('status_410(watch)', resource,
                      faults({'type': 'status_410', 'resource': resource, 'on': 'watch'},
                             {'type': 'close_midstream', 'resource': resource}), [resource],
                      after=check_request(resource, 410, 'watch',
                                          lambda reqs, i: any(r['verb'] == 'list' and r['status'] == 200 for r in reqs[i + 1:]),
                                          'a 410 on the watch was not followed by a relist'))
            # A relist that fails: the compaction sends every watch back to list, and this
            # resource's list answers 500 (then 429) first; the cache must be kept meanwhile.
            run_fault('expire_rv+list_500,429', resource,
                      faults({'type': 'status_500', 'resource': resource, 'on': 'list'},
                             {'type': 'status_429', 'resource': resource, 'on': 'list', 'retry_after': 1},
                             {'type': 'expire_rv'}), [resource],
                      after=check_request(resource, 500, 'list', followed_by_success, 'no 500 on the list followed by a success'))
        # A compaction hits every resource at once; change all three subjects.
        def relisted_all(t_fault):
            kinds = {r['kind'] for r in requests_seen() if r['time'] >= t_fault and r['verb'] == 'list' and r['status'] == 200}
            if kinds != {'Service', 'EndpointSlice', 'Node'}:
                raise Fail('expire_rv: only %s were listed again' % sorted(kinds))

        run_fault('expire_rv', 'all', fault({'type': 'expire_rv'}), ['Service', 'EndpointSlice', 'Node'],
                  after=relisted_all)

        # The server stops accepting the token (the token file is unchanged) and every watch is
        # cut: the client gets 401s and must keep its rules; once the token is accepted again it
        # catches up with the changes made meanwhile.
        def refused_for_a_while():
            n = 0
            end = time.time() + 3
            while time.time() < end:
                o = save()
                n += 1
                if missing_guarded(o) or expected(o):
                    raise Fail('reject_token: %s while the token is refused:\n%s'
                               % ('guarded rules missing' if missing_guarded(o) else 'the change arrived', o))
                time.sleep(SAMPLE_INTERVAL)
            if not any(r['status'] == 401 for r in requests_seen()[-20:]):
                raise Fail('reject_token: no request was refused')
            control('/_control/tokens', {'tokens': ['e2e-token-2']})
            return n

        # (An empty token set means "no authentication" to the fake server: keep another token.)
        control('/_control/tokens', {'tokens': ['e2e-token-2', 'e2e-token-other']})
        run_fault('reject_token', 'all',
                  faults({'type': 'reject_token', 'token': 'e2e-token-2'},
                         *[{'type': 'close_midstream', 'resource': r} for r in ('Service', 'EndpointSlice', 'Node')]),
                  ['Service', 'EndpointSlice'], during=refused_for_a_while)
        print('faults: %d runs, %d samples, slowest %s on %s (%.2fs)'
              % (len(summaries), sum(s[3] for s in summaries), *max(summaries, key=lambda s: s[2])[:3]))

        # ---- 4. the Service is deleted ----
        control('/_control/delete', {'kind': 'Service', 'namespace': 'default', 'name': 'web'})
        if not wait_rules(lambda o: '10.96.0.10/32' not in o, 'rules of the deleted Service remain'):
            return 1
        if kp.poll() is not None:
            print('FAIL: kube-proxy exited (%s)' % kp.returncode)
            return 1
        print('PASS (%.1fs)' % (time.time() - started))
        return 0
    except Fail as e:
        print('FAIL: %s' % e)
        print('kube-proxy log:\n' + log_tail())
        return 1
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
