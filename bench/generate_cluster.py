#!/usr/bin/env python3
"""Generates a synthetic cluster of N Services x M endpoints as Kubernetes API JSON.

The mix is meant to look like a real cluster, so that benchmarks exercise every planner path:
  - 60% ClusterIP, 15% NodePort, 25% LoadBalancer (a third of those pass-through, some with
    ipMode: Proxy, some with loadBalancerSourceRanges)
  - 10% of NodePort/LoadBalancer Services with externalTrafficPolicy: Local
  - 20% multi-port (http + metrics), 10% UDP (dns-like), 5% with sessionAffinity: ClientIP
  - endpoints spread over 100 nodes; this node ("node-a") hosts 1 in 100
Output: one ServiceList and one EndpointSliceList file (what the API returns for a list) plus the
Node, in OUTDIR, usable as `kube-proxy --objects=OUTDIR`. Deterministic for a given N and M.
"""
import argparse
import ipaddress
import json
import os
import random

NODE = "node-a"


def service_ip(i):
    return str(ipaddress.IPv4Address(int(ipaddress.IPv4Address("10.96.0.0")) + 16 + i))


def lb_ip(i):
    return str(ipaddress.IPv4Address(int(ipaddress.IPv4Address("100.64.0.0")) + 1 + i))


def pod_ip(i):
    return str(ipaddress.IPv4Address(int(ipaddress.IPv4Address("10.128.0.0")) + 2 + i))


def make(n, m, seed=1):
    rng = random.Random(seed)
    services, slices = [], []
    next_pod = 0
    next_node_port = 30000
    for i in range(n):
        name = f"svc-{i:05d}"
        ns = f"ns-{i % 50:02d}"
        r = rng.random()
        kind = "ClusterIP" if r < 0.60 else ("NodePort" if r < 0.75 else "LoadBalancer")
        udp = rng.random() < 0.10
        multi = (not udp) and rng.random() < 0.20
        proto = "UDP" if udp else "TCP"
        ports = [{"name": "dns" if udp else "http", "protocol": proto, "port": 53 if udp else 80,
                  "targetPort": 53 if udp else 8080}]
        if multi:
            ports.append({"name": "metrics", "protocol": "TCP", "port": 9090, "targetPort": 9090})
        spec = {"type": kind, "clusterIP": service_ip(i), "clusterIPs": [service_ip(i)],
                "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "ports": ports,
                "selector": {"app": name}, "sessionAffinity": "None"}
        meta = {"name": name, "namespace": ns, "uid": f"uid-svc-{i}", "resourceVersion": str(1000 + i),
                "creationTimestamp": "2026-01-01T00:00:00Z", "annotations": {}}
        status = {}
        if rng.random() < 0.05:
            spec["sessionAffinity"] = "ClientIP"
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}
        if kind in ("NodePort", "LoadBalancer"):
            for p in ports:
                p["nodePort"] = next_node_port
                next_node_port += 1
            if rng.random() < 0.10:
                spec["externalTrafficPolicy"] = "Local"
                if kind == "LoadBalancer":
                    spec["healthCheckNodePort"] = next_node_port
                    next_node_port += 1
            else:
                spec["externalTrafficPolicy"] = "Cluster"
        if kind == "LoadBalancer":
            ingress = {"ip": lb_ip(i)}
            pt = rng.random()
            if pt < 0.25:
                meta["annotations"]["kubernetes.io/elb.pass-through"] = "true"
            elif pt < 0.33:
                ingress["ipMode"] = "Proxy"
            if rng.random() < 0.10:
                spec["loadBalancerSourceRanges"] = ["192.0.2.0/24", "198.51.100.0/24"]
            status = {"loadBalancer": {"ingress": [ingress]}}
        services.append({"metadata": meta, "spec": spec, "status": status})

        endpoints = []
        for j in range(m):
            node = NODE if rng.random() < 0.01 else f"node-{rng.randrange(1, 100):03d}"
            endpoints.append({"addresses": [pod_ip(next_pod)],
                              "conditions": {"ready": True, "serving": True, "terminating": False},
                              "nodeName": node, "zone": f"zone-{int(node[-3:]) % 3 if node != NODE else 1}"})
            next_pod += 1
        slice_ports = [{"name": p["name"], "protocol": p["protocol"], "port": p["targetPort"]} for p in ports]
        slices.append({"metadata": {"name": f"{name}-abcde", "namespace": ns, "uid": f"uid-eps-{i}",
                                    "resourceVersion": str(500000 + i),
                                    "labels": {"kubernetes.io/service-name": name,
                                               "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
                       "addressType": "IPv4", "endpoints": endpoints, "ports": slice_ports})
    return services, slices


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--services", "-n", type=int, default=1000)
    ap.add_argument("--endpoints", "-m", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("outdir")
    a = ap.parse_args()
    services, slices = make(a.services, a.endpoints, a.seed)
    os.makedirs(a.outdir, exist_ok=True)
    with open(os.path.join(a.outdir, "services.json"), "w") as f:
        json.dump({"kind": "ServiceList", "apiVersion": "v1", "metadata": {"resourceVersion": "900000"},
                   "items": services}, f, separators=(",", ":"))
    with open(os.path.join(a.outdir, "endpointslices.json"), "w") as f:
        json.dump({"kind": "EndpointSliceList", "apiVersion": "discovery.k8s.io/v1",
                   "metadata": {"resourceVersion": "900000"}, "items": slices}, f, separators=(",", ":"))
    with open(os.path.join(a.outdir, "node.json"), "w") as f:
        json.dump({"kind": "Node", "apiVersion": "v1",
                   "metadata": {"name": NODE, "labels": {"topology.kubernetes.io/zone": "zone-1",
                                                         "kubernetes.io/hostname": NODE}},
                   "spec": {"podCIDR": "10.128.0.0/14", "podCIDRs": ["10.128.0.0/14"]},
                   "status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.129"}]}}, f)


if __name__ == "__main__":
    main()
