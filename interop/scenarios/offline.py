#!/usr/bin/python3
"""Offline: messages to an account with no session wait for its next login.

Accounts: alice, bob.

bob is not connected. alice sends two chat messages and a normal one to
bob's bare JID, then a round trip to the server makes sure they were
handled. bob logs in; before his initial presence nothing arrives. After it
he receives the three messages once each, in order, from alice's full JID,
each with <delay xmlns='urn:xmpp:delay'/> from the server's domain stamped
between the sending and now. Logging in again delivers nothing: the store
was emptied.
"""

import datetime

import common
from common import check, check_eq, log

BODIES = ('offline one', 'offline two', 'offline three (normal)')


def stamp_of(m):
    d = m.xml.find('{%s}delay' % common.NS_DELAY)
    check(d is not None, 'message %r has no <delay xmlns=%r/>: %s' % (m['body'], common.NS_DELAY, m))
    return d


async def scenario(sc):
    A, B = sc.bare('alice'), sc.bare('bob')
    alice = await sc.login('alice', 'desk')
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)

    log.info('alice -> bob while bob is offline')
    for i, body in enumerate(BODIES):
        m = alice.make_message(mto=B, mbody=body, mtype='normal' if 'normal' in body else 'chat')
        m['id'] = 'off-%d' % (i + 1)
        m.send()
    await alice.barrier()
    await alice.quiet('message', lambda m: m['type'] == 'error', 'error reply to an offline message')

    log.info('bob logs in without presence: nothing yet')
    bob = await sc.login('bob', 'tablet', presence=False, plugins=('xep_0203',))
    await bob.quiet('message', lambda m: m['body'] in BODIES,
                    'offline message before initial presence')

    log.info('bob sends initial presence')
    bob.send_presence()
    got = []
    for _ in BODIES:
        # expect() takes the earliest match, so got is in arrival order.
        got.append(await bob.expect('message', lambda m: m['body'] in BODIES, 'an offline message'))
    after = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=1)
    check_eq([m['body'] for m in got], list(BODIES), 'offline messages in arrival order')
    for i, m in enumerate(got):
        check_eq(m['from'].full, A + '/desk', 'offline message from')
        check_eq(m['to'].bare, B, 'offline message to')
        check_eq(m['id'], 'off-%d' % (i + 1), 'offline message id')
        check_eq(m['type'], 'normal' if 'normal' in m['body'] else 'chat', 'offline message type')
        d = stamp_of(m)
        check_eq(d.get('from'), sc.domain, 'delay from')
        stamp = m['delay']['stamp']
        check(stamp is not None, 'delay without a parsable stamp: %s' % d.get('stamp'))
        check(before <= stamp <= after, 'delay stamp %s not between %s and %s' % (stamp, before, after))
    await bob.quiet('message', lambda m: m['body'] in BODIES, 'second copy of an offline message')
    await bob.close()

    log.info('bob logs in again: the store is empty')
    bob2 = await sc.login('bob', 'tablet2')
    await bob2.quiet('message', lambda m: m['body'] in BODIES, 'offline message delivered twice')


if __name__ == '__main__':
    common.run(__doc__.splitlines()[0], scenario)
