#!/usr/bin/python3
"""Subscription: the RFC 6121 subscription handshake both ways, then undone.

Accounts: alice, bob.

alice subscribes to bob, bob approves and subscribes back, alice approves:
both rosters then hold the other with subscription "both", each has the
other's available presence, and a later presence change reaches the other.
Then alice unsubscribes from bob (alice: from, bob: to; alice gets bob's
unavailable presence) and revokes bob's subscription (both: none; bob gets
alice's unavailable presence). Subscription requests are answered by the
scenario, not by slixmpp's automatic roster handling.
"""

import common
from common import check, check_eq, log


async def roster_item(c, jid):
    """Fetches the whole roster and returns jid's item. slixmpp's own
    get_roster sends its roster version, to which the answer may rightly be
    empty (RFC 6121 2.6), so this asks without one."""
    iq = c.make_iq_get(queryxmlns='jabber:iq:roster')
    iq = await iq.send(timeout=common.WAIT)
    items = iq['roster']['items']
    for k, v in items.items():
        if str(k) == jid:
            return v
    return None


async def check_roster(c, jid, subscription, ask=''):
    item = await roster_item(c, jid)
    check(item is not None, '%s: %s missing from the roster' % (c.label, jid))
    check_eq(item['subscription'], subscription, '%s: roster subscription of %s' % (c.label, jid))
    check_eq(item['ask'] or '', ask, '%s: roster ask of %s' % (c.label, jid))


async def expect_push(c, jid, subscription, ask=''):
    """Waits for a roster push setting jid's subscription."""
    def match(iq):
        it = iq['roster']['items'].get(jid)
        return it is not None and it['subscription'] == subscription and (it['ask'] or '') == ask
    await c.expect('roster_update', match,
                   'roster push %s subscription=%s ask=%r' % (jid, subscription, ask))


async def scenario(sc):
    A, B = sc.bare('alice'), sc.bare('bob')
    alice = await sc.login('alice', 'home')
    bob = await sc.login('bob', 'work')
    for c in (alice, bob):
        await c.get_roster(timeout=common.WAIT)

    log.info('alice subscribes to bob')
    alice.send_presence_subscription(pto=B, ptype='subscribe')
    await expect_push(alice, B, 'none', 'subscribe')
    sub = await bob.expect_presence('subscribe', A)
    check_eq(sub['from'].full, A, 'subscribe request from (must be the bare JID)')
    check_eq(sub['to'].bare, B, 'subscribe request to')

    log.info('bob approves and subscribes back')
    bob.send_presence_subscription(pto=A, ptype='subscribed')
    bob.send_presence_subscription(pto=A, ptype='subscribe')
    await alice.expect_presence('subscribed', B)
    await expect_push(alice, B, 'to')
    av = await alice.expect_presence('available', B, "bob's presence after approval")
    check_eq(av['from'].full, B + '/work', "bob's available presence from")
    await alice.expect_presence('subscribe', B)

    log.info('alice approves')
    alice.send_presence_subscription(pto=B, ptype='subscribed')
    await bob.expect_presence('subscribed', A)
    av = await bob.expect_presence('available', A, "alice's presence after approval")
    check_eq(av['from'].full, A + '/home', "alice's available presence from")
    await check_roster(alice, B, 'both')
    await check_roster(bob, A, 'both')

    log.info('presence changes reach the other side')
    alice.send_presence(pstatus='alice is here', pshow='chat')
    p = await bob.expect_presence('chat', A, pred=lambda p: p['status'] == 'alice is here')
    check_eq(p['from'].full, A + '/home', "alice's presence from")
    bob.send_presence(pstatus='bob is busy', pshow='dnd')
    p = await alice.expect_presence('dnd', B, pred=lambda p: p['status'] == 'bob is busy')
    check_eq(p['from'].full, B + '/work', "bob's presence from")

    log.info('alice unsubscribes from bob')
    alice.send_presence_subscription(pto=B, ptype='unsubscribe')
    await bob.expect_presence('unsubscribe', A)
    # RFC 6121 3.3.3: bob's server sends alice unavailable presence from
    # each of bob's available resources.
    p = await sc.soft(alice.expect_presence('unavailable', B, "bob's unavailable presence after unsubscribe (RFC 6121 3.3.3)", timeout=3))
    if p is not None:
        check_eq(p['from'].full, B + '/work', "bob's unavailable presence from")
    await check_roster(alice, B, 'from')
    await check_roster(bob, A, 'to')

    log.info('alice revokes bob\'s subscription')
    alice.send_presence_subscription(pto=B, ptype='unsubscribed')
    await bob.expect_presence('unsubscribed', A)
    # RFC 6121 3.2.2: alice's server sends bob unavailable presence from
    # each of alice's available resources.
    p = await sc.soft(bob.expect_presence('unavailable', A, "alice's unavailable presence after unsubscribed (RFC 6121 3.2.2)", timeout=3))
    if p is not None:
        check_eq(p['from'].full, A + '/home', "alice's unavailable presence from")
    await check_roster(alice, B, 'none')
    await check_roster(bob, A, 'none')

    log.info('no presence crosses any more')
    alice.send_presence(pstatus='after the end')
    await bob.quiet('presence', lambda p: p['from'].bare == A and p['type'] != 'unavailable',
                    'presence from alice after both subscriptions ended')


if __name__ == '__main__':
    common.run(__doc__.splitlines()[0], scenario)
