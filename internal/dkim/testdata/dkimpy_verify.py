#!/usr/bin/python3
"""Verify every DKIM-Signature of the message on stdin with python3-dkim
(dkimpy), looking keys up through the resolver at 127.0.0.1:PORT with
dnspython, as a receiving mail server would. Exit 0 only if all verify."""
import sys

import dkim
import dns.resolver

resolver = dns.resolver.Resolver(configure=False)
resolver.nameservers = ["127.0.0.1"]
resolver.port = int(sys.argv[1])


def txt(name, timeout=5):
    try:
        answer = resolver.resolve(name.decode().rstrip("."), "TXT", lifetime=timeout)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return None
    for rrset in answer.response.answer:
        if rrset.rdtype == dns.rdatatype.TXT:
            return b"".join(list(rrset.items)[0].strings)
    return None


message = sys.stdin.buffer.read()
d = dkim.DKIM(message)
count = sum(1 for k, _ in d.headers if k.lower() == b"dkim-signature")
if count == 0:
    print("no DKIM-Signature")
    sys.exit(1)
ok = True
for i in range(count):
    result = d.verify(idx=i, dnsfunc=txt)
    print("signature %d: %s" % (i, "pass" if result else "fail"))
    ok = ok and result
sys.exit(0 if ok else 1)
