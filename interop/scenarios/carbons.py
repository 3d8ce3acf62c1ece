#!/usr/bin/python3
"""Carbons: XEP-0280 copies between two resources of one account.

Accounts: alice, bob.

bob is online twice, desk with priority 10 and phone with priority 1, and
both enable carbons with slixmpp's xep_0280 plugin. minimix gives a message
to a bare JID to the available resources of highest priority, so:
- alice -> bob (bare): desk gets the message, phone a <received/> carbon of
  it (from bob's bare JID, the forwarded message from alice to bob) and
  desk no carbon.
- alice -> bob/phone (full): phone gets it, desk a <received/> carbon.
- bob/desk -> alice: alice gets it, phone a <sent/> carbon (forwarded
  message from bob/desk to alice), desk nothing.
- bob/desk -> alice with <private xmlns='urn:xmpp:carbons:2'/> and
  <no-copy xmlns='urn:xmpp:hints'/>: alice gets it, phone no carbon.
- after phone disables carbons, alice -> bob (bare) gives phone nothing.
"""

import common
from common import check_eq, log

NS_HINTS = 'urn:xmpp:hints'


def _inner(m, ev):
    """Returns the forwarded message inside a carbon (the carbon elements
    are slixmpp extensions: m['carbon_received'] is the inner message)."""
    return m[ev]


async def expect_carbon(c, ev, body, owner):
    """Waits for a carbon (ev is carbon_received or carbon_sent) of a
    message with body, checks its envelope and returns the forwarded
    message."""
    carbon = await c.expect(ev, lambda m: _inner(m, ev)['body'] == body,
                            '%s of %r' % (ev, body))
    check_eq(carbon['from'].full, owner, '%s from' % ev)
    check_eq(carbon['to'].full, c.boundjid.full, '%s to' % ev)
    check_eq(carbon['body'], '', '%s: body outside <forwarded/>' % ev)
    return _inner(carbon, ev)


def is_carbon(m):
    x = m.xml
    return (x.find('{%s}received' % common.NS_CARBONS) is not None
            or x.find('{%s}sent' % common.NS_CARBONS) is not None)


async def scenario(sc):
    A, B = sc.bare('alice'), sc.bare('bob')
    alice = await sc.login('alice', 'pc')
    desk = await sc.login('bob', 'desk', priority=10, plugins=('xep_0280',))
    phone = await sc.login('bob', 'phone', priority=1, plugins=('xep_0280',))
    for c in (desk, phone):
        await c['xep_0280'].enable(timeout=common.WAIT)
        log.info('%s: carbons enabled', c.label)

    def plain(body):
        return lambda m: m['body'] == body and not is_carbon(m)

    log.info('alice -> bob (bare): desk gets it, phone a received carbon')
    body = 'to bare bob'
    alice.send_message(mto=B, mbody=body, mtype='chat')
    m = await desk.expect('message', plain(body), 'the message on desk')
    check_eq(m['from'].full, A + '/pc', 'message from')
    inner = await expect_carbon(phone, 'carbon_received', body, B)
    check_eq(inner['from'].full, A + '/pc', 'received carbon: forwarded from')
    check_eq(inner['to'].bare, B, 'received carbon: forwarded to')
    check_eq(inner['type'], 'chat', 'received carbon: forwarded type')
    await phone.quiet('message', plain(body), 'the original on phone (lower priority)')
    await desk.quiet('carbon_received', None, 'a carbon on the resource that got the original')

    log.info('alice -> bob/phone (full): desk gets a received carbon')
    body = 'to bob phone'
    alice.send_message(mto=B + '/phone', mbody=body, mtype='chat')
    m = await phone.expect('message', plain(body), 'the message on phone')
    check_eq(m['to'].full, B + '/phone', 'message to')
    inner = await expect_carbon(desk, 'carbon_received', body, B)
    check_eq(inner['to'].full, B + '/phone', 'received carbon: forwarded to')
    await desk.quiet('message', plain(body), 'the original on desk')

    log.info('bob/desk -> alice: phone gets a sent carbon')
    body = 'from desk'
    desk.send_message(mto=A, mbody=body, mtype='chat')
    m = await alice.expect_message(body)
    check_eq(m['from'].full, B + '/desk', 'message from')
    inner = await expect_carbon(phone, 'carbon_sent', body, B)
    check_eq(inner['from'].full, B + '/desk', 'sent carbon: forwarded from')
    check_eq(inner['to'].full, A, 'sent carbon: forwarded to')
    await desk.quiet('carbon_sent', None, 'a sent carbon on the sending resource')

    log.info('bob/desk -> alice, private: no carbon')
    body = 'private from desk'
    msg = desk.make_message(mto=A, mbody=body, mtype='chat')
    msg.enable('carbon_private')
    msg.xml.append(msg.xml.makeelement('{%s}no-copy' % NS_HINTS, {}))
    msg.send()
    await alice.expect_message(body)
    await phone.quiet('carbon_sent', None, 'a carbon of a private message')

    log.info('phone disables carbons')
    await phone['xep_0280'].disable(timeout=common.WAIT)
    body = 'after phone disabled carbons'
    alice.send_message(mto=B, mbody=body, mtype='chat')
    await desk.expect('message', plain(body), 'the message on desk')
    await phone.quiet('carbon_received', None, 'a carbon after disabling carbons')
    await phone.quiet('message', plain(body), 'the original on phone')


if __name__ == '__main__':
    common.run(__doc__.splitlines()[0], scenario)
