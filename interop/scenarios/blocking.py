#!/usr/bin/python3
"""Blocking: XEP-0191 through slixmpp's xep_0191 plugin.

Accounts: alice, bob.

alice is online twice ("phone" and "laptop"), bob once; alice and bob are
subscribed to each other's presence.

- The server's disco#info lists urn:xmpp:blocking and
  urn:xmpp:blocking:errors.
- Both of alice's sessions fetch the (empty) blocklist. phone blocks bob:
  both sessions receive the block push with bob's JID; bob receives alice's
  unavailable presence from both sessions.
- bob's chat message comes back as service-unavailable from alice and
  reaches neither of her sessions; bob's version query gets
  service-unavailable too.
- alice's message to bob comes back as not-acceptable with
  <blocked xmlns='urn:xmpp:blocking:errors'/>, from bob.
- phone unblocks bob: both sessions receive the unblock push; bob receives both
  sessions' current presence again; his message reaches alice.
- laptop blocks two JIDs (one given in upper case, listed in canonical
  form) and unblocks all with an empty <unblock/>: phone gets both pushes
  and the list ends empty.
"""

from xml.etree import ElementTree as ET

import common
from common import check, check_eq, log
from slixmpp.exceptions import IqError

NS = 'urn:xmpp:blocking'
NS_ERRORS = 'urn:xmpp:blocking:errors'
PLUGINS = ('xep_0030', 'xep_0191')


def push(st, name):
    """The <block/> or <unblock/> of a block push, or None."""
    if common.local_name(st) != 'iq' or st['type'] != 'set':
        return None
    return st.xml.find('{%s}%s' % (NS, name))


def push_jids(el):
    return sorted(i.get('jid') for i in el.findall('{%s}item' % NS))


async def befriend(a, b, a_jid, b_jid):
    """a and b subscribe to each other, answering the requests themselves."""
    for x, y, x_jid, y_jid in ((a, b, a_jid, b_jid), (b, a, b_jid, a_jid)):
        x.send_presence_subscription(pto=y_jid, ptype='subscribe')
        await y.expect_presence('subscribe', x_jid)
        y.send_presence_subscription(pto=x_jid, ptype='subscribed')
        await x.expect_presence('subscribed', y_jid)


async def scenario(sc):
    A, B = sc.bare('alice'), sc.bare('bob')
    phone = await sc.login('alice', 'phone', plugins=PLUGINS, record_stanzas=True)
    laptop = await sc.login('alice', 'laptop', plugins=PLUGINS, record_stanzas=True)
    bob = await sc.login('bob', 'pc', plugins=PLUGINS, record_stanzas=True)
    await befriend(phone, bob, A, B)
    for c in (phone, laptop, bob):
        await c.barrier()
        c.take('presence')
        c.take('stanza')
        c.take('message')

    log.info('disco#info of the server')
    info = await phone['xep_0030'].get_info(jid=sc.domain, timeout=common.WAIT)
    features = info['disco_info']['features']
    for f in (NS, NS_ERRORS):
        check(f in features, 'server does not advertise %s: %s' % (f, features))

    log.info('both sessions fetch the blocklist')
    for c in (phone, laptop):
        iq = await c['xep_0191'].get_blocked(timeout=common.WAIT)
        check_eq(sorted(str(j) for j in iq['blocklist']['items']), [], '%s: blocklist' % c.label)

    log.info('phone blocks bob')
    await phone['xep_0191'].block(B, timeout=common.WAIT)
    for c in (phone, laptop):
        st = await c.expect('stanza', lambda s: push(s, 'block') is not None, 'block push')
        check_eq(push_jids(push(st, 'block')), [B], '%s: block push items' % c.label)
    got = set()
    for _ in range(2):
        p = await bob.expect_presence('unavailable', A, "alice's unavailable presence")
        got.add(p['from'].full)
    check_eq(got, {A + '/phone', A + '/laptop'}, "unavailable presence from alice's sessions")

    log.info("bob's stanzas do not reach alice")
    m = bob.make_message(mto=A, mbody='can you hear me?', mtype='chat')
    m['id'] = 'b1'
    m.send()
    err = await bob.expect('message', lambda m: m['type'] == 'error' and m['id'] == 'b1',
                           'error for the message to alice')
    check_eq(err['error']['condition'], 'service-unavailable', 'error condition')
    check_eq(err['from'].full, A, 'error from')
    try:
        await bob['xep_0030'].get_info(jid=A + '/phone', timeout=common.WAIT)
        common.fail("bob's disco#info query to alice's phone was answered")
    except IqError as e:
        check_eq(e.iq['error']['condition'], 'service-unavailable', 'iq error condition')
    for c in (phone, laptop):
        await c.quiet('message', lambda m: m['from'].bare == B, "bob's message")

    log.info('alice writes to bob')
    m = laptop.make_message(mto=B, mbody='psst', mtype='chat')
    m['id'] = 'a1'
    m.send()
    err = await laptop.expect('message', lambda m: m['type'] == 'error' and m['id'] == 'a1',
                              'error for the message to bob')
    check_eq(err['error']['condition'], 'not-acceptable', 'error condition')
    check(err.xml.find('{jabber:client}error/{%s}blocked' % NS_ERRORS) is not None,
          'no <blocked/> in %s' % err)
    check_eq(err['from'].bare, B, 'error from')
    await bob.quiet('message', lambda m: m['from'].bare == A, "alice's message")

    log.info('phone unblocks bob')
    await phone['xep_0191'].unblock(B, timeout=common.WAIT)
    for c in (phone, laptop):
        st = await c.expect('stanza', lambda s: push(s, 'unblock') is not None, 'unblock push')
        check_eq(push_jids(push(st, 'unblock')), [B], '%s: unblock push items' % c.label)
    got = set()
    for _ in range(2):
        p = await bob.expect_presence('available', A, "alice's presence after the unblock")
        got.add(p['from'].full)
    check_eq(got, {A + '/phone', A + '/laptop'}, 'presence from alice\'s sessions')
    bob.send_message(mto=A + '/laptop', mbody='hello again', mtype='chat')
    await laptop.expect_message('hello again')

    log.info('laptop blocks two JIDs and unblocks all')
    await laptop['xep_0191'].block(['Spammer@Example.ORG', 'spam.example'], timeout=common.WAIT)
    st = await phone.expect('stanza', lambda s: push(s, 'block') is not None, 'block push')
    check_eq(push_jids(push(st, 'block')), ['spam.example', 'spammer@example.org'], 'phone: block push items')
    iq = await phone['xep_0191'].get_blocked(timeout=common.WAIT)
    check_eq(sorted(str(j) for j in iq['blocklist']['items']), ['spam.example', 'spammer@example.org'],
             'blocklist')
    iq = laptop.make_iq_set()
    ET.SubElement(iq.xml, '{%s}unblock' % NS)
    await iq.send(timeout=common.WAIT)
    st = await phone.expect('stanza', lambda s: push(s, 'unblock') is not None, 'unblock-all push')
    check_eq(push_jids(push(st, 'unblock')), [], 'phone: unblock-all push items')
    iq = await laptop['xep_0191'].get_blocked(timeout=common.WAIT)
    check_eq(sorted(str(j) for j in iq['blocklist']['items']), [], 'blocklist after unblock all')


if __name__ == '__main__':
    common.run(__doc__.splitlines()[0], scenario)
