#!/usr/bin/python3
"""External service discovery: XEP-0215 asked the way a calling client asks.

Accounts: alice.

The server runs with a STUN and a TURN server configured (the scenario
table's options in interop_test.go): turn.localhost:3478 over UDP for
both, the TURN one with credentials from the shared secret "interop-secret"
valid for an hour. slixmpp 1.8.3 has no xep_0215 plugin, so the requests
are built by hand.

- The server's disco#info lists urn:xmpp:extdisco:2.
- <services/> lists both; the TURN service carries a username
  "EXPIRY:alice@localhost", the password base64(HMAC-SHA1(secret,
  username)) computed here with Python's hmac, and an expires stamp in UTC
  equal to EXPIRY, about an hour ahead.
- <services type='stun'/> lists only the STUN server.
- <credentials/> for the TURN host and type returns such credentials; for a
  host the server does not know, item-not-found.
"""

import base64
import hashlib
import hmac
import time
from datetime import datetime, timezone
from xml.etree import ElementTree as ET

import common
from common import check, check_eq, log
from slixmpp.exceptions import IqError

NS = 'urn:xmpp:extdisco:2'
SECRET = b'interop-secret'
TTL = 3600


def check_rest(svc, user, before):
    name, password = svc.get('username'), svc.get('password')
    check(name is not None and password is not None, 'TURN service without credentials: %s' % ET.tostring(svc))
    expiry, _, who = name.partition(':')
    check_eq(who, user, 'user part of the username %r' % name)
    want = base64.b64encode(hmac.new(SECRET, name.encode(), hashlib.sha1).digest()).decode()
    check_eq(password, want, 'password of %r' % name)
    stamp = svc.get('expires') or ''
    check(stamp.endswith('Z'), 'expires %r is not in UTC' % stamp)
    exp = datetime.strptime(stamp, '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=timezone.utc).timestamp()
    check_eq(int(exp), int(expiry), 'expires and the username\'s expiry')
    check(before + TTL - 1 <= exp <= time.time() + TTL,
          'expiry %s is not an hour after the request' % stamp)


async def ask(c, payload):
    iq = c.make_iq_get(ito=c.boundjid.domain)
    iq.append(payload)
    return await iq.send(timeout=common.WAIT)


async def scenario(sc):
    alice = await sc.login('alice', 'phone', plugins=('xep_0030',))
    user = sc.bare('alice')

    info = await alice['xep_0030'].get_info(jid=sc.domain, timeout=common.WAIT)
    check(NS in info['disco_info']['features'], 'server does not advertise %s' % NS)

    log.info('all services')
    before = time.time()
    res = await ask(alice, ET.Element('{%s}services' % NS))
    svcs = res.xml.findall('{%s}services/{%s}service' % (NS, NS))
    check_eq([(s.get('type'), s.get('host'), s.get('port'), s.get('transport')) for s in svcs],
             [('stun', 'turn.localhost', '3478', 'udp'), ('turn', 'turn.localhost', '3478', 'udp')],
             'services')
    check(svcs[0].get('username') is None, 'STUN service with credentials')
    check_rest(svcs[1], user, before)

    log.info('services of one type')
    res = await ask(alice, ET.Element('{%s}services' % NS, type='stun'))
    check_eq([s.get('type') for s in res.xml.findall('{%s}services/{%s}service' % (NS, NS))], ['stun'],
             'services of type stun')

    log.info('credentials')
    cred = ET.Element('{%s}credentials' % NS)
    ET.SubElement(cred, '{%s}service' % NS, host='turn.localhost', type='turn')
    before = time.time()
    res = await ask(alice, cred)
    svcs = res.xml.findall('{%s}credentials/{%s}service' % (NS, NS))
    check_eq(len(svcs), 1, 'services in the credentials answer')
    check_rest(svcs[0], user, before)

    cred = ET.Element('{%s}credentials' % NS)
    ET.SubElement(cred, '{%s}service' % NS, host='elsewhere.example', type='turn')
    try:
        await ask(alice, cred)
        common.fail('credentials for an unknown host were given')
    except IqError as e:
        check_eq(e.iq['error']['condition'], 'item-not-found', 'error for an unknown host')


if __name__ == '__main__':
    common.run(__doc__.splitlines()[0], scenario)
